// The pieces of an atomic save that every file rnnlab writes shares (checkpoints, npz files): a
// uniquely named temporary beside the target, fsync of a file or directory, errno as text. The
// caller writes, syncs, renames; TempFile removes the temporary unless disarmed after the rename.
//
// Every open, read, write, fsync, close and rename of those files goes through the sys_* wrappers
// below, so that a test can make any one of them fail (io::testing) and check that the failure is
// reported as RNNLAB_E_IO naming the step, that the previous file is intact and that no temporary
// is left behind.
#ifndef RNNLAB_IO_ATOMIC_FILE_H
#define RNNLAB_IO_ATOMIC_FILE_H

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace rnnlab {
namespace io {

std::string errno_text(int err);

// Removes the temporary at destruction unless disarmed (armed = false after the rename).
struct TempFile {
  std::string path;
  bool armed = false;
  ~TempFile();
};

// Splits a target path into its directory ("." when none) and file name; a path ending in '/'
// (no file name) is RNNLAB_E_IO.
void split_target(const std::string &target, std::string *dir, std::string *base);

// Creates an empty, uniquely named file ".<base>.tmp.*" in dir (O_EXCL makes the name ours alone;
// mode 0666 lets the umask decide the saved file's permissions) and returns its open descriptor.
int create_temp(const std::string &dir, const std::string &base, const std::string &target, TempFile *tmp);

// fsyncs a file (flags O_RDONLY) or a directory (O_RDONLY | O_DIRECTORY); a file system that cannot
// sync a directory is no reason to fail. Errors are RNNLAB_E_IO naming `target` and `what`.
void fsync_path(const std::string &p, int flags, const char *what, const std::string &target);

// Stages of write_file_atomically at which the caller's hook runs (tests make saves fail or end
// the process there).
enum class SaveStage { TempCreated, DataWritten, TempSynced };
using SaveStageHook = void (*)(SaveStage stage, const std::string &tmp_path, void *ctx);

// Writes n bytes to a temporary beside `path`, fsyncs and closes it, renames it over `path` and
// fsyncs the directory. Throws Error(RNNLAB_E_IO) naming `path` and the step that failed (create,
// write, sync, close, rename); the temporary is then removed and an existing `path` is untouched.
// The one exception is a failed sync of the directory after the rename, whose message says that
// the new file is in place. `hook` (may be null) runs at each SaveStage.
void write_file_atomically(const std::string &path, const void *data, std::size_t n, SaveStageHook hook = nullptr,
                           void *ctx = nullptr);

// Reads a whole regular file. RNNLAB_E_IO when it cannot be opened, is not a regular file or a read
// fails (EIO, ...); RNNLAB_E_CORRUPT when it ends before the size it had when opened (truncated
// while being read). Never returns part of a file. `max_bytes` > 0 refuses larger files with
// RNNLAB_E_NO_MEMORY before anything is allocated.
std::vector<unsigned char> read_whole_file(const std::string &path, std::size_t max_bytes = 0);

// The system calls, as the library makes them (fault-injectable in tests; see io::testing).
int sys_open(const char *path, int flags, int mode = 0);
ssize_t sys_read(int fd, void *buf, std::size_t n);
ssize_t sys_write(int fd, const void *buf, std::size_t n);
int sys_fsync(int fd);
int sys_close(int fd);
int sys_rename(const char *from, const char *to);

namespace testing {
// Which call a fault is aimed at.
enum class Op { Open, Read, Write, Fsync, Close, Rename, kCount };
const char *op_name(Op op);
// What the faulted call does instead: fail with `err` (EIO, ENOSPC, ...); or, with err == 0, do a
// short transfer (read / write moves at most 1 byte) or, for Read with eof = true, report end of
// file. Faults are per thread, so concurrent threads are unaffected.
struct Fault {
  Op op = Op::Write;
  long nth = -1;      // the (0-based) call of `op` since reset_counts() that fails; -1: none
  int err = 0;
  bool eof = false;   // Read only, with err == 0: return 0 (end of file)
  bool every = false; // every call from the nth on, not just the nth
};
void set_fault(const Fault &f);
void clear_fault();
// Calls of each Op made by this thread since the last reset (the calling test enumerates them).
void reset_counts();
long count(Op op);
}  // namespace testing

}  // namespace io
}  // namespace rnnlab

#endif
