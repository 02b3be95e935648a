// NumPy .npy / .npz reading and writing (internal). All zip work goes through libzip.
//
// Arrays are raw little-endian bytes in C order; the dtypes are the plain integer and float types
// (no bool, complex, structured or object dtypes). Errors are thrown as rnnlab::Error:
//   RNNLAB_E_IO                a file could not be opened, read, written, synced or renamed
//   RNNLAB_E_CORRUPT           not a zip, truncated, CRC mismatch, bad .npy magic or unparsable header
//   RNNLAB_E_FORMAT            well-formed but unsupported: .npy version, dtype, byte order, Fortran
//                              order, or (NpzReader::values) a dtype other than the one asked for
//   RNNLAB_E_NOT_FOUND         NpzReader::get / values on a key the archive does not hold
//   RNNLAB_E_INVALID_ARGUMENT  NpzWriter given an empty/duplicate key, a size that does not match the
//                              shape, or asked to save with nothing in it
// Messages name the file (and member) and what was wrong.
#ifndef RNNLAB_IO_NPZ_H
#define RNNLAB_IO_NPZ_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"

namespace rnnlab {
namespace io {

enum class DType : std::uint8_t {
  Int8, UInt8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float32, Float64
};

std::size_t dtype_size(DType t);
// NumPy's name ("float32") and .npy descr ("<f4", "|u1").
const char *dtype_name(DType t);
const char *dtype_descr(DType t);

// The DType of a C++ arithmetic type; distinct spellings of the same width (long / long long) agree.
template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_arithmetic<T>::value && !std::is_same<T, bool>::value,
                "npz arrays hold integers or floats");
  if constexpr (std::is_floating_point<T>::value) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "only float32 and float64 are supported");
    return sizeof(T) == 4 ? DType::Float32 : DType::Float64;
  } else {
    constexpr bool s = std::is_signed<T>::value;
    if constexpr (sizeof(T) == 1) return s ? DType::Int8 : DType::UInt8;
    else if constexpr (sizeof(T) == 2) return s ? DType::Int16 : DType::UInt16;
    else if constexpr (sizeof(T) == 4) return s ? DType::Int32 : DType::UInt32;
    else return s ? DType::Int64 : DType::UInt64;
  }
}

struct NpyArray {
  DType dtype = DType::Float32;
  std::vector<std::size_t> shape;   // empty: a 0-d scalar (one element)
  std::vector<unsigned char> data;  // element_count() * dtype_size(dtype) bytes

  std::size_t element_count() const;
};

// The .npy header (magic through the final '\n') that numpy.save writes for this dtype and
// C-order shape (format version 1.0). Throws INVALID_ARGUMENT for more than 64 dimensions.
std::string npy_header(DType dtype, const std::vector<std::size_t> &shape);

// Parses one whole .npy image (header + data). `where` names it in messages ("f.npz: member 'w.npy'").
NpyArray parse_npy(const unsigned char *bytes, std::size_t size, const std::string &where);

// Reads a standalone .npy file.
NpyArray load_npy(const std::string &path);

enum class Compression { Store, Deflate };

// Collects named arrays (copied at add time) and writes them as one .npz; member names are key + ".npy".
class NpzWriter {
 public:
  explicit NpzWriter(Compression compression = Compression::Store) : compression_(compression) {}

  // `nbytes` must equal the element count of `shape` times dtype_size(dtype); `data` may be null
  // when that is 0. Keys are free-form (any non-empty string without NUL), unique within the writer.
  void add(const std::string &key, DType dtype, const std::vector<std::size_t> &shape,
           const void *data, std::size_t nbytes);
  void add(const std::string &key, const NpyArray &array);

  template <class T>
  void add(const std::string &key, const std::vector<std::size_t> &shape, const T *values,
           std::size_t count) {
    add(key, dtype_of<T>(), shape, values, count * sizeof(T));
  }
  template <class T>
  void add(const std::string &key, const std::vector<std::size_t> &shape, const std::vector<T> &values) {
    add(key, dtype_of<T>(), shape, values.data(), values.size() * sizeof(T));
  }
  template <class T>
  void add_scalar(const std::string &key, T value) {
    add(key, dtype_of<T>(), {}, &value, sizeof(T));
  }

  bool contains(const std::string &key) const;
  std::size_t size() const { return members_.size(); }
  void clear() { members_.clear(); }

  // Writes atomically: a uniquely named temporary in the target's directory, fsynced, renamed over
  // `path`, then the directory fsynced. On failure the temporary is removed and an existing `path`
  // is left as it was; the one exception is a failed sync of the directory after the rename, whose
  // message says that the new file is in place. An empty writer is refused (INVALID_ARGUMENT):
  // libzip deletes an archive with no members rather than write one.
  void save(const std::string &path) const;

 private:
  struct Member {
    std::string name;                 // key + ".npy"
    std::vector<unsigned char> npy;   // header + data, ready to store
  };
  Compression compression_;
  std::vector<Member> members_;
};

// Reads every .npy member of an .npz (stored or deflated) when constructed; the file is closed
// again before the constructor returns. Members whose names do not end in ".npy" are ignored, as
// numpy.load would not return them as arrays.
class NpzReader {
 public:
  explicit NpzReader(const std::string &path);
  // Parses an archive already in memory (`name` stands for its path in messages); the bytes need
  // not outlive the constructor.
  NpzReader(const std::string &name, const unsigned char *bytes, std::size_t size);

  const std::string &path() const { return path_; }
  // Keys in archive order.
  const std::vector<std::string> &keys() const { return keys_; }
  bool contains(const std::string &key) const { return arrays_.count(key) != 0; }
  std::size_t size() const { return keys_.size(); }

  const NpyArray &get(const std::string &key) const;

  // The array's values, which must be stored with exactly dtype_of<T>() (FORMAT otherwise).
  template <class T>
  std::vector<T> values(const std::string &key) const {
    const NpyArray &a = get(key);
    check_dtype(key, a, dtype_of<T>());
    std::vector<T> out(a.element_count());
    if (!out.empty()) std::memcpy(out.data(), a.data.data(), a.data.size());
    return out;
  }

 private:
  void parse(const unsigned char *bytes, std::size_t size);
  void check_dtype(const std::string &key, const NpyArray &a, DType want) const;

  std::string path_;
  std::vector<std::string> keys_;
  std::map<std::string, NpyArray> arrays_;
};

namespace testing {
// Points in NpzWriter::save at which a test can make the save fail (with RNNLAB_E_IO) to check
// that the target survives and the temporary is cleaned up. Process-wide; None disables.
enum class SaveFault { None, AfterTempCreated, AfterArchiveWritten, AfterTempSynced };
void set_save_fault(SaveFault fault);
}  // namespace testing

}  // namespace io
}  // namespace rnnlab

#endif
