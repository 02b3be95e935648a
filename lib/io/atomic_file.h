// The pieces of an atomic save that every file rnnlab writes shares (checkpoints, npz files): a
// uniquely named temporary beside the target, fsync of a file or directory, errno as text. The
// caller writes, syncs, renames; TempFile removes the temporary unless disarmed after the rename.
#ifndef RNNLAB_IO_ATOMIC_FILE_H
#define RNNLAB_IO_ATOMIC_FILE_H

#include <string>

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

}  // namespace io
}  // namespace rnnlab

#endif
