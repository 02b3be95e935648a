#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace rnnlab {
namespace io {

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
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
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
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    raise(RNNLAB_E_IO, "%s: cannot open %s '%s' to sync it: %s", target.c_str(), what, p.c_str(),
          errno_text(err).c_str());
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  const bool unsupported = rc != 0 && (flags & O_DIRECTORY) && (err == EINVAL || err == ENOTSUP);
  ::close(fd);
  if (rc != 0 && !unsupported)
    raise(RNNLAB_E_IO, "%s: cannot sync %s '%s': %s", target.c_str(), what, p.c_str(), errno_text(err).c_str());
}

}  // namespace io
}  // namespace rnnlab
