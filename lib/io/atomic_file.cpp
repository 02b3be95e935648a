#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace rnnlab {
namespace io {

namespace {

// Per thread: a fault aimed at one thread's saves must not hit another thread's.
thread_local testing::Fault t_fault;
thread_local long t_counts[static_cast<int>(testing::Op::kCount)] = {};

// Counts the call and says whether the armed fault hits it.
bool faulted(testing::Op op) {
  const long k = t_counts[static_cast<int>(op)]++;
  if (t_fault.nth < 0 || t_fault.op != op) return false;
  return t_fault.every ? k >= t_fault.nth : k == t_fault.nth;
}

}  // namespace

int sys_open(const char *path, int flags, int mode) {
  if (faulted(testing::Op::Open)) {
    errno = t_fault.err ? t_fault.err : EIO;
    return -1;
  }
  return ::open(path, flags, mode);
}

ssize_t sys_read(int fd, void *buf, std::size_t n) {
  if (faulted(testing::Op::Read)) {
    if (t_fault.err) {
      errno = t_fault.err;
      return -1;
    }
    if (t_fault.eof) return 0;
    return ::read(fd, buf, n < 1 ? n : 1);
  }
  return ::read(fd, buf, n);
}

ssize_t sys_write(int fd, const void *buf, std::size_t n) {
  if (faulted(testing::Op::Write)) {
    if (t_fault.err) {
      errno = t_fault.err;
      return -1;
    }
    return ::write(fd, buf, n < 1 ? n : 1);
  }
  return ::write(fd, buf, n);
}

int sys_fsync(int fd) {
  if (faulted(testing::Op::Fsync)) {
    errno = t_fault.err ? t_fault.err : EIO;
    return -1;
  }
  return ::fsync(fd);
}

int sys_close(int fd) {
  if (faulted(testing::Op::Close)) {
    // A failed close(2) still releases the descriptor on Linux; do the same so nothing leaks.
    ::close(fd);
    errno = t_fault.err ? t_fault.err : EIO;
    return -1;
  }
  return ::close(fd);
}

int sys_rename(const char *from, const char *to) {
  if (faulted(testing::Op::Rename)) {
    errno = t_fault.err ? t_fault.err : EIO;
    return -1;
  }
  return ::rename(from, to);
}

namespace testing {
const char *op_name(Op op) {
  switch (op) {
    case Op::Open: return "open";
    case Op::Read: return "read";
    case Op::Write: return "write";
    case Op::Fsync: return "fsync";
    case Op::Close: return "close";
    case Op::Rename: return "rename";
    default: return "?";
  }
}
void set_fault(const Fault &f) { t_fault = f; }
void clear_fault() { t_fault = Fault{}; }
void reset_counts() {
  for (long &c : t_counts) c = 0;
}
long count(Op op) { return t_counts[static_cast<int>(op)]; }
}  // namespace testing

std::string errno_text(int err) {
  char buf[256];
  // The GNU strerror_r may return a static string instead of filling buf; take whichever it gives.
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  return strerror_r(err, buf, sizeof buf);
#else
  if (strerror_r(err, buf, sizeof buf) != 0) return "errno " + std::to_string(err);
  return buf;
#endif
}

TempFile::~TempFile() {
  if (armed) ::unlink(path.c_str());
}

void split_target(const std::string &target, std::string *dir, std::string *base) {
  const size_t slash = target.rfind('/');
  *dir = slash == std::string::npos ? "." : slash == 0 ? "/" : target.substr(0, slash);
  *base = slash == std::string::npos ? target : target.substr(slash + 1);
  if (base->empty()) raise(RNNLAB_E_IO, "%s: names a directory, not a file", target.c_str());
}

int create_temp(const std::string &dir, const std::string &base, const std::string &target, TempFile *tmp) {
  static std::atomic<unsigned> counter{0};
  const std::string stem = base.size() > 64 ? base.substr(0, 64) : base;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto ticks = static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch().count());
    char suffix[96];
    std::snprintf(suffix, sizeof suffix, ".tmp.%ld.%u.%llx", static_cast<long>(::getpid()),
                  counter.fetch_add(1, std::memory_order_relaxed), ticks & 0xffffffffffULL);
    const std::string candidate = dir + "/." + stem + suffix;
    const int fd = sys_open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      tmp->path = candidate;
      tmp->armed = true;
      return fd;
    }
    if (errno != EEXIST) {
      const int err = errno;
      raise(RNNLAB_E_IO, "%s: cannot create a temporary file in directory '%s': %s", target.c_str(), dir.c_str(),
            errno_text(err).c_str());
    }
  }
  raise(RNNLAB_E_IO, "%s: cannot find an unused temporary file name in directory '%s'", target.c_str(), dir.c_str());
}

void fsync_path(const std::string &p, int flags, const char *what, const std::string &target) {
  const int fd = sys_open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    raise(RNNLAB_E_IO, "%s: cannot open %s '%s' to sync it: %s", target.c_str(), what, p.c_str(),
          errno_text(err).c_str());
  }
  const int rc = sys_fsync(fd);
  const int err = errno;
  const bool unsupported = rc != 0 && (flags & O_DIRECTORY) && (err == EINVAL || err == ENOTSUP);
  const int crc = sys_close(fd);
  const int cerr = errno;
  if (rc != 0 && !unsupported)
    raise(RNNLAB_E_IO, "%s: cannot sync %s '%s': %s", target.c_str(), what, p.c_str(), errno_text(err).c_str());
  if (crc != 0)
    raise(RNNLAB_E_IO, "%s: cannot close %s '%s' after syncing it: %s", target.c_str(), what, p.c_str(),
          errno_text(cerr).c_str());
}

void write_file_atomically(const std::string &path, const void *data, std::size_t n, SaveStageHook hook, void *ctx) {
  std::string dir, base;
  split_target(path, &dir, &base);
  if (base == "." || base == "..") raise(RNNLAB_E_IO, "%s: names a directory, not a file", path.c_str());
  TempFile tmp;
  int fd = create_temp(dir, base, path, &tmp);
  // Closes the descriptor on every error path (a throwing hook included).
  struct Fd {
    int fd;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  } guard{fd};
  if (hook) hook(SaveStage::TempCreated, tmp.path, ctx);
  const auto *p = static_cast<const unsigned char *>(data);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t put = sys_write(fd, p + done, n - done);
    if (put < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      raise(RNNLAB_E_IO, "%s: write of the temporary file '%s' failed after %zu of %zu bytes: %s", path.c_str(),
            tmp.path.c_str(), done, n, errno_text(err).c_str());
    }
    if (put == 0)
      raise(RNNLAB_E_IO, "%s: write of the temporary file '%s' made no progress after %zu of %zu bytes", path.c_str(),
            tmp.path.c_str(), done, n);
    done += static_cast<std::size_t>(put);
  }
  if (hook) hook(SaveStage::DataWritten, tmp.path, ctx);
  if (sys_fsync(fd) != 0) {
    const int err = errno;
    raise(RNNLAB_E_IO, "%s: fsync of the temporary file '%s' failed: %s", path.c_str(), tmp.path.c_str(),
          errno_text(err).c_str());
  }
  guard.fd = -1;
  // close can report a deferred write error (NFS, quotas): the data is then not known to be there.
  if (sys_close(fd) != 0) {
    const int err = errno;
    raise(RNNLAB_E_IO, "%s: close of the temporary file '%s' failed: %s", path.c_str(), tmp.path.c_str(),
          errno_text(err).c_str());
  }
  if (hook) hook(SaveStage::TempSynced, tmp.path, ctx);
  if (sys_rename(tmp.path.c_str(), path.c_str()) != 0) {
    const int err = errno;
    raise(RNNLAB_E_IO, "%s: rename of the temporary file over it failed: %s", path.c_str(), errno_text(err).c_str());
  }
  tmp.armed = false;
  // Without this the rename itself may not survive a crash, even though the data would.
  try {
    fsync_path(dir, O_RDONLY | O_DIRECTORY, "directory", path);
  } catch (const Error &e) {
    raise(e.status, "%s (the new file is in place, but may not survive a crash)", e.message.c_str());
  }
}

std::vector<unsigned char> read_whole_file(const std::string &path, std::size_t max_bytes) {
  const int fd = sys_open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    raise(RNNLAB_E_IO, "%s: cannot open: %s", path.c_str(), errno_text(err).c_str());
  }
  struct Fd {
    int fd;
    ~Fd() { ::close(fd); }
  } guard{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    raise(RNNLAB_E_IO, "%s: cannot stat: %s", path.c_str(), errno_text(err).c_str());
  }
  if (!S_ISREG(st.st_mode)) raise(RNNLAB_E_IO, "%s: cannot open: not a regular file", path.c_str());
  const auto size = static_cast<unsigned long long>(st.st_size);
  if (max_bytes > 0 && size > max_bytes)
    raise(RNNLAB_E_NO_MEMORY, "%s: the file is %llu bytes, more than the %zu this reader accepts", path.c_str(), size,
          max_bytes);
  if (size > static_cast<unsigned long long>(SIZE_MAX / 2))
    raise(RNNLAB_E_NO_MEMORY, "%s: the file is %llu bytes, too large to read", path.c_str(), size);
  std::vector<unsigned char> out(static_cast<std::size_t>(size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = sys_read(fd, out.data() + done, out.size() - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      raise(RNNLAB_E_IO, "%s: read failed after %zu of %zu bytes: %s", path.c_str(), done, out.size(),
            errno_text(err).c_str());
    }
    if (got == 0)
      raise(RNNLAB_E_CORRUPT, "%s: truncated while being read (ended after %zu of %zu bytes)", path.c_str(), done,
            out.size());
    done += static_cast<std::size_t>(got);
  }
  // A file that grew while being read is not the file that was measured: refuse it rather than
  // parse a mix of two versions.
  unsigned char extra;
  ssize_t more;
  do more = sys_read(fd, &extra, 1);
  while (more < 0 && errno == EINTR);
  if (more < 0) {
    const int err = errno;
    raise(RNNLAB_E_IO, "%s: read failed at its end: %s", path.c_str(), errno_text(err).c_str());
  }
  if (more > 0) raise(RNNLAB_E_CORRUPT, "%s: grew while being read (more than %zu bytes)", path.c_str(), out.size());
  return out;
}

}  // namespace io
}  // namespace rnnlab
