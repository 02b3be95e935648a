#include "core/error.h"

#include <cstdio>

namespace rnnlab {

namespace {
thread_local std::string t_last_error;

std::string vformat(const char *fmt, va_list ap) {
  char buf[1024];
  va_list ap2;
  va_copy(ap2, ap);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string out;
  if (n < 0) {
    out = fmt;
  } else if (static_cast<size_t>(n) < sizeof buf) {
    out.assign(buf, static_cast<size_t>(n));
  } else {
    out.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(&out[0], out.size(), fmt, ap2);
    out.resize(static_cast<size_t>(n));
  }
  va_end(ap2);
  return out;
}
}  // namespace

rnnlab_status set_error(rnnlab_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  try {
    t_last_error = vformat(fmt, ap);
  } catch (...) {
    // Out of memory while formatting: keep the previous message rather than throw.
  }
  va_end(ap);
  return status;
}

const char *last_error_cstr() { return t_last_error.c_str(); }

void raise(rnnlab_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string m = vformat(fmt, ap);
  va_end(ap);
  throw Error(status, std::move(m));
}

}  // namespace rnnlab


// The message of the last failed call on this thread. Defined here because it reads t_last_error.
extern "C" RNNLAB_API const char *rnnlab_last_error(void) { return rnnlab::last_error_cstr(); }
