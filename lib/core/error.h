// Internal error handling: every C entry point catches everything and reports through here.
#ifndef RNNLAB_CORE_ERROR_H
#define RNNLAB_CORE_ERROR_H

#include <rnnlab/rnnlab.h>

#include <cstdarg>
#include <exception>
#include <new>
#include <string>

namespace rnnlab {

// Records `message` (printf-style) as this thread's last error and returns `status`.
rnnlab_status set_error(rnnlab_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// An error thrown inside the C++ core; converted to a status at the C boundary.
struct Error : std::exception {
  rnnlab_status status;
  std::string message;
  Error(rnnlab_status s, std::string m) : status(s), message(std::move(m)) {}
  const char *what() const noexcept override { return message.c_str(); }
};

// This thread's last message (never NULL).
const char *last_error_cstr();

// Throws Error with a printf-style message.
[[noreturn]] void raise(rnnlab_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// Runs f (returning rnnlab_status) and turns any escaping exception into a status + message.
template <class F>
rnnlab_status guarded(const char *where, F &&f) noexcept {
  try {
    return f();
  } catch (const Error &e) {
    return set_error(e.status, "%s: %s", where, e.message.c_str());
  } catch (const std::bad_alloc &) {
    return set_error(RNNLAB_E_NO_MEMORY, "%s: out of memory", where);
  } catch (const std::exception &e) {
    return set_error(RNNLAB_E_INTERNAL, "%s: internal error: %s", where, e.what());
  } catch (...) {
    return set_error(RNNLAB_E_INTERNAL, "%s: internal error (unknown exception)", where);
  }
}

}  // namespace rnnlab

#endif
