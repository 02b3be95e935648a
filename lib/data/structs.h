// Versioned public structs (struct_size first, fields only ever appended): reading a caller's config
// and writing a caller's info struct without touching bytes the caller's header version does not have.
#ifndef RNNLAB_DATA_STRUCTS_H
#define RNNLAB_DATA_STRUCTS_H

#include "core/error.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace rnnlab {
namespace data {

// first_size is the struct's size in the first release that had it: nothing older exists, so a
// smaller struct_size can only be garbage (an uninitialised struct, a wrong pointer).
template <class T>
void check_struct_size(const T *s, size_t first_size, const char *what) {
  static_assert(std::is_trivially_copyable<T>::value, "versioned structs are copied bytewise");
  if (s->struct_size > sizeof(T))
    raise(RNNLAB_E_VERSION,
          "%s->struct_size = %u is larger than this library's %zu: the caller's header is newer than the "
          "library",
          what, static_cast<unsigned>(s->struct_size), sizeof(T));
  if (s->struct_size < first_size)
    raise(RNNLAB_E_VERSION, "%s->struct_size = %u is smaller than any known version (%zu); initialise it with its _INIT macro",
          what, static_cast<unsigned>(s->struct_size), first_size);
}

// Fields the caller's version lacks keep the values of `defaults`.
template <class T>
T read_struct(const T *in, const T &defaults, size_t first_size, const char *what) {
  check_struct_size(in, first_size, what);
  T out = defaults;
  std::memcpy(static_cast<void *>(&out), in, in->struct_size);
  out.struct_size = static_cast<uint32_t>(sizeof(T));
  return out;
}

// Copies only the caller's struct_size bytes of `full` into *out (checked beforehand).
template <class T>
void write_struct(T *out, const T &full) {
  const uint32_t n = out->struct_size;
  std::memcpy(static_cast<void *>(out), &full, n);
  out->struct_size = n;
}

// The integer a caller stored in an enum field or argument. Loading an enum whose value lies outside
// its enumerators' range is undefined in C++, and a C caller can put any int there; reading the
// bytes as int is defined.
template <class E>
int enum_value(const E &e) {
  static_assert(std::is_enum<E>::value && sizeof(E) == sizeof(int), "public enums are int-sized");
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

}  // namespace data
}  // namespace rnnlab

#endif
