#include "io/npz.h"

#include "io/atomic_file.h"

#include <zip.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <limits>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// Array bytes are copied to and from files unchanged, which is only right on a little-endian host.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "rnnlab's .npz code assumes a little-endian host");
#endif

namespace rnnlab {
namespace io {

namespace {

struct DTypeInfo {
  DType type;
  char kind;  // numpy's kind letter: 'i', 'u', 'f'
  std::size_t size;
  const char *name;
  const char *descr;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::Int8, 'i', 1, "int8", "|i1"},         {DType::UInt8, 'u', 1, "uint8", "|u1"},
    {DType::Int16, 'i', 2, "int16", "<i2"},       {DType::UInt16, 'u', 2, "uint16", "<u2"},
    {DType::Int32, 'i', 4, "int32", "<i4"},       {DType::UInt32, 'u', 4, "uint32", "<u4"},
    {DType::Int64, 'i', 8, "int64", "<i8"},       {DType::UInt64, 'u', 8, "uint64", "<u8"},
    {DType::Float32, 'f', 4, "float32", "<f4"},   {DType::Float64, 'f', 8, "float64", "<f8"},
};

const DTypeInfo &info(DType t) {
  for (const DTypeInfo &d : kDTypes)
    if (d.type == t) return d;
  raise(RNNLAB_E_INTERNAL, "npz: unknown DType value %d", static_cast<int>(t));
}

// numpy's own limit (NPY_MAXDIMS); it also keeps every header far below version 1.0's 64 KiB.
constexpr std::size_t kMaxDims = 64;
// numpy pads the header so that a C-order array's first dimension can later grow in place to any
// 64-bit length without moving the data; its format module calls this GROWTH_AXIS_MAX_DIGITS.
constexpr std::size_t kGrowthAxisDigits = 21;
constexpr std::size_t kAlign = 64;
constexpr unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
// Headers are a line of Python; anything this large is damage, not data.
constexpr std::size_t kMaxHeaderLen = std::size_t(1) << 20;

std::string shape_str(const std::vector<std::size_t> &shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ',';
  s += ')';
  return s;
}

// Element count of `shape` times `itemsize`; false when that does not fit in size_t.
bool shape_bytes(const std::vector<std::size_t> &shape, std::size_t itemsize, std::size_t *out) {
  std::size_t n = itemsize;
  bool zero = false;
  bool overflow = false;
  for (std::size_t d : shape) {
    if (d == 0) zero = true;
    else if (n > std::numeric_limits<std::size_t>::max() / d) overflow = true;
    else n *= d;
  }
  // A zero dimension makes the array empty however large the others are, as numpy sees it.
  if (zero) {
    *out = 0;
    return true;
  }
  *out = n;
  return !overflow;
}

// A strict reader of the one Python literal a .npy header holds:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// Keys may come in any order and quotes may be ' or "; anything else (other keys, expressions,
// escapes, missing trailing comma in a 1-tuple) is refused.
class HeaderParser {
 public:
  HeaderParser(const std::string &text, const std::string &where) : s_(text), where_(where) {}

  void parse(DType *dtype, std::vector<std::size_t> *shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    std::string descr;
    bool fortran = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') break;
      std::string key = string_literal();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (have_descr) fail("duplicate key 'descr'");
        if (peek() == '[')
          raise(RNNLAB_E_FORMAT, "%s: structured dtypes are not supported (header: %s)", where_.c_str(),
                excerpt().c_str());
        descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_fortran) fail("duplicate key 'fortran_order'");
        fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        if (have_shape) fail("duplicate key 'shape'");
        *shape = tuple();
        have_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_ws();
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;  // '}'
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
    if (pos_ + 1 != s_.size() || s_[pos_] != '\n') fail("header does not end in spaces and a newline");
    if (!have_descr || !have_fortran || !have_shape)
      fail(std::string("missing key '") + (!have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape") +
           "'");
    *dtype = parse_descr(descr);
    if (fortran)
      raise(RNNLAB_E_FORMAT, "%s: Fortran-order arrays are not supported (only C order)", where_.c_str());
    if (shape->size() > kMaxDims)
      raise(RNNLAB_E_FORMAT, "%s: %zu dimensions (at most %zu are supported)", where_.c_str(), shape->size(),
            kMaxDims);
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }

  std::string excerpt() const {
    std::string e = s_;
    while (!e.empty() && (e.back() == ' ' || e.back() == '\n')) e.pop_back();
    if (e.size() > 200) e = e.substr(0, 200) + "...";
    for (char &c : e)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    return e;
  }

  [[noreturn]] void fail(const std::string &what) const {
    raise(RNNLAB_E_CORRUPT, "%s: malformed .npy header (%s at offset %zu): %s", where_.c_str(), what.c_str(), pos_,
          excerpt().c_str());
  }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  std::string string_literal() {
    char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    ++pos_;
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == q) return out;
      if (c == '\\' || c == '\n') fail("unsupported character in string");
      out += c;
    }
  }

  bool boolean() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }

  std::size_t integer() {
    std::size_t start = pos_;
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer");
    std::size_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      unsigned d = static_cast<unsigned>(s_[pos_] - '0');
      if (v > (std::numeric_limits<std::size_t>::max() - d) / 10) fail("dimension too large");
      v = v * 10 + d;
      ++pos_;
    }
    // Python 3 reads "07" as a syntax error, so numpy never writes one.
    if (pos_ - start > 1 && s_[start] == '0') fail("integer with a leading zero");
    return v;
  }

  std::vector<std::size_t> tuple() {
    std::vector<std::size_t> dims;
    expect('(');
    skip_ws();
    if (peek() == ')') {
      ++pos_;
      return dims;
    }
    bool trailing_comma = false;
    for (;;) {
      dims.push_back(integer());
      skip_ws();
      trailing_comma = false;
      if (peek() == ',') {
        ++pos_;
        trailing_comma = true;
        skip_ws();
      }
      if (peek() == ')') break;
      if (!trailing_comma) fail("expected ',' or ')' in shape");
      if (dims.size() > kMaxDims) fail("too many dimensions");
    }
    ++pos_;
    // Python reads "(3)" as the integer 3, not a shape.
    if (dims.size() == 1 && !trailing_comma) fail("1-element shape without its trailing comma");
    return dims;
  }

  DType parse_descr(const std::string &d) const {
    if (d.size() >= 3 && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
      char order = d[0];
      char kind = d[1];
      std::string digits = d.substr(2);
      if (digits.size() == 1 && digits[0] >= '1' && digits[0] <= '8') {
        std::size_t size = static_cast<std::size_t>(digits[0] - '0');
        for (const DTypeInfo &t : kDTypes) {
          if (t.kind != kind || t.size != size) continue;
          // Byte order is meaningless for one-byte types; for wider ones only little-endian
          // ('<', or '=' as written on a little-endian machine) matches our memory layout.
          if (size == 1 || order == '<' || order == '=') return t.type;
          if (order == '>')
            raise(RNNLAB_E_FORMAT, "%s: big-endian dtype '%s' is not supported", where_.c_str(), d.c_str());
          break;
        }
      }
    }
    raise(RNNLAB_E_FORMAT,
          "%s: unsupported dtype '%s' (supported: int8/16/32/64, uint8/16/32/64, float32, float64)",
          where_.c_str(), d.c_str());
  }

  const std::string &s_;
  const std::string &where_;
  std::size_t pos_ = 0;
};

// Reads one .npy image of `total` bytes through read(buf, n), which delivers exactly n bytes or
// throws. Every size is checked against `total` before anything is allocated or read.
template <class Read>
NpyArray read_npy(Read &&read, std::size_t total, const std::string &where) {
  unsigned char pre[12];
  std::size_t first = total < 10 ? total : 10;
  read(pre, first);
  if (std::memcmp(pre, kMagic, first < 6 ? first : 6) != 0)
    raise(RNNLAB_E_CORRUPT, "%s: bad magic (not a .npy array)", where.c_str());
  if (total < 10)
    raise(RNNLAB_E_CORRUPT, "%s: truncated: %zu bytes is too short for a .npy header", where.c_str(), total);
  int major = pre[6], minor = pre[7];
  std::size_t prefix, header_len;
  if (major == 1 && minor == 0) {
    prefix = 10;
    header_len = static_cast<std::size_t>(pre[8]) | static_cast<std::size_t>(pre[9]) << 8;
  } else if ((major == 2 || major == 3) && minor == 0) {
    prefix = 12;
    if (total < prefix)
      raise(RNNLAB_E_CORRUPT, "%s: truncated: %zu bytes is too short for a .npy header", where.c_str(), total);
    read(pre + 10, 2);
    header_len = static_cast<std::size_t>(pre[8]) | static_cast<std::size_t>(pre[9]) << 8 |
                 static_cast<std::size_t>(pre[10]) << 16 | static_cast<std::size_t>(pre[11]) << 24;
  } else {
    raise(RNNLAB_E_FORMAT, "%s: unsupported .npy format version %d.%d", where.c_str(), major, minor);
  }
  if (header_len > total - prefix)
    raise(RNNLAB_E_CORRUPT, "%s: truncated header: it declares %zu bytes, %zu are present", where.c_str(),
          header_len, total - prefix);
  if (header_len > kMaxHeaderLen)
    raise(RNNLAB_E_CORRUPT, "%s: implausible header length %zu", where.c_str(), header_len);
  std::string text(header_len, '\0');
  read(&text[0], header_len);

  NpyArray a;
  HeaderParser(text, where).parse(&a.dtype, &a.shape);
  std::size_t nbytes;
  if (!shape_bytes(a.shape, dtype_size(a.dtype), &nbytes))
    raise(RNNLAB_E_CORRUPT, "%s: shape %s overflows the address space", where.c_str(), shape_str(a.shape).c_str());
  std::size_t have = total - prefix - header_len;
  if (have < nbytes)
    raise(RNNLAB_E_CORRUPT, "%s: truncated data: shape %s of %s needs %zu bytes, %zu are present", where.c_str(),
          shape_str(a.shape).c_str(), dtype_name(a.dtype), nbytes, have);
  if (have > nbytes)
    raise(RNNLAB_E_CORRUPT, "%s: %zu unexpected bytes after the data of shape %s of %s", where.c_str(),
          have - nbytes, shape_str(a.shape).c_str(), dtype_name(a.dtype));
  a.data.resize(nbytes);
  if (nbytes) read(a.data.data(), nbytes);
  return a;
}

rnnlab_status zip_error_status(int code) {
  switch (code) {
    case ZIP_ER_OPEN: case ZIP_ER_READ: case ZIP_ER_SEEK: case ZIP_ER_TELL: case ZIP_ER_NOENT:
    case ZIP_ER_WRITE: case ZIP_ER_CLOSE: case ZIP_ER_RENAME: case ZIP_ER_TMPOPEN: case ZIP_ER_REMOVE:
    case ZIP_ER_EXISTS: case ZIP_ER_OPNOTSUPP:
      return RNNLAB_E_IO;
    case ZIP_ER_MULTIDISK: case ZIP_ER_COMPNOTSUPP: case ZIP_ER_ENCRNOTSUPP: case ZIP_ER_NOPASSWD:
    case ZIP_ER_WRONGPASSWD:
      return RNNLAB_E_FORMAT;
    case ZIP_ER_MEMORY:
      return RNNLAB_E_NO_MEMORY;
    case ZIP_ER_NOZIP: case ZIP_ER_INCONS: case ZIP_ER_CRC: case ZIP_ER_ZLIB: case ZIP_ER_EOF:
    case ZIP_ER_COMPRESSED_DATA:
      return RNNLAB_E_CORRUPT;
    default:
      return RNNLAB_E_INTERNAL;
  }
}

// Owns a zip_error_t so that its message buffer is released on every path.
struct ZipError {
  zip_error_t e;
  ZipError() { zip_error_init(&e); }
  explicit ZipError(int code) { zip_error_init_with_code(&e, code); }
  ~ZipError() { zip_error_fini(&e); }
  ZipError(const ZipError &) = delete;
  ZipError &operator=(const ZipError &) = delete;
  std::string message() { return zip_error_strerror(&e); }
};

[[noreturn]] void raise_zip(zip_error_t *e, const std::string &where, const char *doing) {
  int code = zip_error_code_zip(e);
  std::string msg = zip_error_strerror(e);
  rnnlab_status st = zip_error_status(code);
  if (code == ZIP_ER_NOZIP) msg += " (the file is not a zip archive, or its end is missing)";
  raise(st, "%s: %s: %s", where.c_str(), doing, msg.c_str());
}

// Discards (never writes) an archive still open when the scope ends.
struct ZipArchive {
  zip_t *za = nullptr;
  ~ZipArchive() {
    if (za) zip_discard(za);
  }
};

struct ZipFile {
  zip_file_t *zf = nullptr;
  ~ZipFile() {
    if (zf) zip_fclose(zf);
  }
};

std::atomic<int> g_save_fault{static_cast<int>(testing::SaveFault::None)};

void maybe_fault(testing::SaveFault at, const std::string &path) {
  if (g_save_fault.load(std::memory_order_relaxed) == static_cast<int>(at))
    raise(RNNLAB_E_IO, "%s: simulated failure while saving (test hook, stage %d)", path.c_str(), static_cast<int>(at));
}

}  // namespace

std::size_t dtype_size(DType t) { return info(t).size; }
const char *dtype_name(DType t) { return info(t).name; }
const char *dtype_descr(DType t) { return info(t).descr; }

std::size_t NpyArray::element_count() const {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

std::string npy_header(DType dtype, const std::vector<std::size_t> &shape) {
  if (shape.size() > kMaxDims)
    raise(RNNLAB_E_INVALID_ARGUMENT, "a .npy array has at most %zu dimensions, got %zu", kMaxDims, shape.size());
  std::string dict = "{'descr': '";
  dict += dtype_descr(dtype);
  dict += "', 'fortran_order': False, 'shape': ";
  dict += shape_str(shape);
  dict += ", }";
  if (!shape.empty()) dict.append(kGrowthAxisDigits - std::to_string(shape[0]).size(), ' ');
  // numpy always pads with at least one space: a header that would already end on the boundary
  // gets a whole extra block of 64.
  std::size_t unpadded = sizeof kMagic + 2 + 2 + dict.size() + 1;
  std::size_t pad = kAlign - unpadded % kAlign;
  std::size_t header_len = dict.size() + pad + 1;
  std::string out(reinterpret_cast<const char *>(kMagic), sizeof kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header_len & 0xff);
  out += static_cast<char>(header_len >> 8);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

NpyArray parse_npy(const unsigned char *bytes, std::size_t size, const std::string &where) {
  std::size_t pos = 0;
  auto read = [&](void *dst, std::size_t n) {
    std::memcpy(dst, bytes + pos, n);
    pos += n;
  };
  return read_npy(read, size, where);
}

NpyArray load_npy(const std::string &path) {
  int fd = sys_open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    raise(RNNLAB_E_IO, "%s: cannot open: %s", path.c_str(), errno_text(err).c_str());
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    raise(RNNLAB_E_IO, "%s: cannot stat: %s", path.c_str(), errno_text(err).c_str());
  }
  if (!S_ISREG(st.st_mode)) raise(RNNLAB_E_IO, "%s: not a regular file", path.c_str());
  auto read = [&](void *dst, std::size_t n) {
    auto *p = static_cast<unsigned char *>(dst);
    while (n) {
      ssize_t got = sys_read(fd, p, n);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        int err = errno;
        raise(RNNLAB_E_IO, "%s: read failed: %s", path.c_str(), errno_text(err).c_str());
      }
      if (got == 0) raise(RNNLAB_E_CORRUPT, "%s: truncated (the file shrank while being read)", path.c_str());
      p += got;
      n -= static_cast<std::size_t>(got);
    }
  };
  return read_npy(read, static_cast<std::size_t>(st.st_size), path);
}

// ---- writer ------------------------------------------------------------------------------------

bool NpzWriter::contains(const std::string &key) const {
  std::string name = key + ".npy";
  for (const Member &m : members_)
    if (m.name == name) return true;
  return false;
}

void NpzWriter::add(const std::string &key, DType dtype, const std::vector<std::size_t> &shape, const void *data,
                    std::size_t nbytes) {
  if (key.empty()) raise(RNNLAB_E_INVALID_ARGUMENT, "npz: array key is empty");
  if (key.find('\0') != std::string::npos)
    raise(RNNLAB_E_INVALID_ARGUMENT, "npz: array key '%s' contains a NUL byte", key.c_str());
  // A zip member name is at most 65535 bytes, and ".npy" is appended.
  if (key.size() > 65535 - 4)
    raise(RNNLAB_E_INVALID_ARGUMENT, "npz: array key of %zu bytes is too long", key.size());
  if (contains(key)) raise(RNNLAB_E_INVALID_ARGUMENT, "npz: duplicate array key '%s'", key.c_str());
  std::size_t need;
  if (!shape_bytes(shape, dtype_size(dtype), &need))
    raise(RNNLAB_E_INVALID_ARGUMENT, "npz: array '%s': shape %s overflows", key.c_str(), shape_str(shape).c_str());
  if (nbytes != need)
    raise(RNNLAB_E_INVALID_ARGUMENT, "npz: array '%s': %zu bytes given, shape %s of %s needs %zu", key.c_str(),
          nbytes, shape_str(shape).c_str(), dtype_name(dtype), need);
  if (nbytes && !data) raise(RNNLAB_E_INVALID_ARGUMENT, "npz: array '%s': data is NULL", key.c_str());
  if (shape.size() > kMaxDims)
    raise(RNNLAB_E_INVALID_ARGUMENT, "npz: array '%s': %zu dimensions (at most %zu)", key.c_str(), shape.size(),
          kMaxDims);

  Member m;
  m.name = key + ".npy";
  std::string header = npy_header(dtype, shape);
  m.npy.reserve(header.size() + nbytes);
  m.npy.insert(m.npy.end(), header.begin(), header.end());
  if (nbytes) {
    const auto *p = static_cast<const unsigned char *>(data);
    m.npy.insert(m.npy.end(), p, p + nbytes);
  }
  members_.push_back(std::move(m));
}

void NpzWriter::add(const std::string &key, const NpyArray &array) {
  add(key, array.dtype, array.shape, array.data.data(), array.data.size());
}

void NpzWriter::save(const std::string &path) const {
  if (members_.empty()) raise(RNNLAB_E_INVALID_ARGUMENT, "%s: nothing to save (no arrays were added)", path.c_str());
  std::size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..")
    raise(RNNLAB_E_INVALID_ARGUMENT, "'%s' does not name a file", path.c_str());

  // The archive is built in memory and written by the same atomic writer as checkpoints, so that
  // every write, sync, close and rename of it is rnnlab's own (and reported as such), not libzip's.
  std::vector<unsigned char> image;
  {
    ZipError err;
    zip_source_t *mem = zip_source_buffer_create(nullptr, 0, 0, &err.e);
    if (!mem) raise_zip(&err.e, path, "cannot start the archive in memory");
    struct Source {
      zip_source_t *s;
      ~Source() { zip_source_free(s); }
    } keep{mem};
    zip_source_keep(mem);  // the archive's close below releases one reference; ours reads it after
    ZipArchive ar;
    ar.za = zip_open_from_source(mem, ZIP_TRUNCATE, &err.e);
    if (!ar.za) {
      zip_source_free(mem);  // the reference zip_open_from_source did not take
      raise_zip(&err.e, path, "cannot start the archive in memory");
    }
    for (const Member &m : members_) {
      // The buffers outlive zip_close below, so libzip can read them in place.
      zip_source_t *src = zip_source_buffer(ar.za, m.npy.data(), m.npy.size(), 0);
      if (!src) raise_zip(zip_get_error(ar.za), path, "cannot add array");
      zip_int64_t idx = zip_file_add(ar.za, m.name.c_str(), src, ZIP_FL_ENC_GUESS);
      if (idx < 0) {
        zip_source_free(src);
        std::string doing = "cannot add member '" + m.name + "'";
        raise_zip(zip_get_error(ar.za), path, doing.c_str());
      }
      zip_int32_t method = compression_ == Compression::Deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE;
      if (zip_set_file_compression(ar.za, static_cast<zip_uint64_t>(idx), method, 0) != 0) {
        std::string doing = "cannot set compression of member '" + m.name + "'";
        raise_zip(zip_get_error(ar.za), path, doing.c_str());
      }
    }
    if (zip_close(ar.za) != 0) {
      zip_error_t *ze = zip_get_error(ar.za);
      rnnlab_status st = zip_error_code_zip(ze) == ZIP_ER_MEMORY ? RNNLAB_E_NO_MEMORY : RNNLAB_E_INTERNAL;
      raise(st, "%s: building the archive failed: %s", path.c_str(), zip_error_strerror(ze));
    }
    ar.za = nullptr;
    zip_stat_t zst;
    zip_stat_init(&zst);
    if (zip_source_stat(mem, &zst) != 0 || !(zst.valid & ZIP_STAT_SIZE))
      raise_zip(zip_source_error(mem), path, "cannot measure the archive built in memory");
    if (zip_source_open(mem) != 0) raise_zip(zip_source_error(mem), path, "cannot read the archive built in memory");
    image.resize(static_cast<std::size_t>(zst.size));
    const zip_int64_t got = zip_source_read(mem, image.data(), image.size());
    zip_source_close(mem);
    if (got < 0 || static_cast<std::size_t>(got) != image.size())
      raise(RNNLAB_E_INTERNAL, "%s: reading back the archive built in memory gave %lld of %zu bytes", path.c_str(),
            static_cast<long long>(got), image.size());
  }
  struct Hook {
    static void at(SaveStage stage, const std::string &, void *ctx) {
      const std::string &target = *static_cast<const std::string *>(ctx);
      switch (stage) {
        case SaveStage::TempCreated: maybe_fault(testing::SaveFault::AfterTempCreated, target); break;
        case SaveStage::DataWritten: maybe_fault(testing::SaveFault::AfterArchiveWritten, target); break;
        case SaveStage::TempSynced: maybe_fault(testing::SaveFault::AfterTempSynced, target); break;
      }
    }
  };
  write_file_atomically(path, image.data(), image.size(), &Hook::at, const_cast<std::string *>(&path));
}

// ---- reader ------------------------------------------------------------------------------------

NpzReader::NpzReader(const std::string &path) : path_(path) {
  // The whole file is read first through rnnlab's own reads (a failing read is RNNLAB_E_IO, a file
  // cut short while being read RNNLAB_E_CORRUPT), then parsed from memory.
  const std::vector<unsigned char> bytes = read_whole_file(path);
  parse(bytes.data(), bytes.size());
}

NpzReader::NpzReader(const std::string &name, const unsigned char *bytes, std::size_t size) : path_(name) {
  parse(bytes, size);
}

void NpzReader::parse(const unsigned char *bytes, std::size_t size) {
  const std::string &path = path_;
  // libzip would take an empty file for an empty archive; numpy (and we) call it not an .npz.
  if (size == 0) raise(RNNLAB_E_CORRUPT, "%s: empty file (not a zip archive)", path.c_str());
  ZipError err;
  zip_source_t *src = zip_source_buffer_create(bytes, size, 0, &err.e);
  if (!src) raise_zip(&err.e, path, "cannot open");
  ZipArchive ar;
  ar.za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err.e);
  if (!ar.za) {
    zip_source_free(src);
    raise_zip(&err.e, path, "cannot open archive");
  }

  zip_int64_t n = zip_get_num_entries(ar.za, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    auto idx = static_cast<zip_uint64_t>(i);
    zip_stat_t st;
    if (zip_stat_index(ar.za, idx, 0, &st) != 0) raise_zip(zip_get_error(ar.za), path, "cannot stat member");
    if (!(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
      raise(RNNLAB_E_CORRUPT, "%s: member %lld has no name or size", path.c_str(), static_cast<long long>(i));
    std::string name = st.name;
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npy") != 0) continue;
    std::string key = name.substr(0, name.size() - 4);
    std::string where = path + ": member '" + name + "'";
    if (arrays_.count(key)) raise(RNNLAB_E_CORRUPT, "%s: appears twice in the archive", where.c_str());
    if (st.size > std::numeric_limits<std::size_t>::max())
      raise(RNNLAB_E_CORRUPT, "%s: implausible size", where.c_str());
    // The member's recorded size decides how much is allocated before a byte of it is read, so it
    // must be one the archive can deliver: a stored member is its own compressed size, and deflate
    // never expands more than 1032:1. Anything else is damage (or a decompression bomb).
    if ((st.valid & ZIP_STAT_COMP_SIZE) && (st.valid & ZIP_STAT_COMP_METHOD)) {
      const bool stored = st.comp_method == ZIP_CM_STORE;
      if ((stored && st.size != st.comp_size) ||
          (!stored && st.size / 1032 > st.comp_size + 64))
        raise(RNNLAB_E_CORRUPT, "%s: records %llu bytes in %llu compressed ones, which no archive holds", where.c_str(),
              static_cast<unsigned long long>(st.size), static_cast<unsigned long long>(st.comp_size));
    }

    ZipFile f;
    f.zf = zip_fopen_index(ar.za, idx, 0);
    if (!f.zf) raise_zip(zip_get_error(ar.za), where, "cannot open member");
    auto read = [&](void *dst, std::size_t len) {
      auto *p = static_cast<unsigned char *>(dst);
      while (len) {
        zip_int64_t got = zip_fread(f.zf, p, len);
        if (got < 0) raise_zip(zip_file_get_error(f.zf), where, "read failed");
        if (got == 0)
          raise(RNNLAB_E_CORRUPT, "%s: truncated (ended before its recorded size of %llu bytes)", where.c_str(),
                static_cast<unsigned long long>(st.size));
        p += got;
        len -= static_cast<std::size_t>(got);
      }
    };
    NpyArray a = read_npy(read, static_cast<std::size_t>(st.size), where);
    // libzip checks the CRC only once a read reaches the end of the member.
    unsigned char extra;
    zip_int64_t tail = zip_fread(f.zf, &extra, 1);
    if (tail < 0) raise_zip(zip_file_get_error(f.zf), where, "read failed");
    if (tail > 0) raise(RNNLAB_E_CORRUPT, "%s: holds more data than its recorded size", where.c_str());
    int rc = zip_fclose(f.zf);
    f.zf = nullptr;
    if (rc != 0) {
      ZipError e(rc);
      raise_zip(&e.e, where, "read failed");
    }
    keys_.push_back(key);
    arrays_.emplace(std::move(key), std::move(a));
  }
}

const NpyArray &NpzReader::get(const std::string &key) const {
  auto it = arrays_.find(key);
  if (it == arrays_.end()) raise(RNNLAB_E_NOT_FOUND, "%s: no array named '%s'", path_.c_str(), key.c_str());
  return it->second;
}

void NpzReader::check_dtype(const std::string &key, const NpyArray &a, DType want) const {
  if (a.dtype != want)
    raise(RNNLAB_E_FORMAT, "%s: array '%s' is %s, expected %s", path_.c_str(), key.c_str(), dtype_name(a.dtype),
          dtype_name(want));
}

namespace testing {
void set_save_fault(SaveFault fault) { g_save_fault.store(static_cast<int>(fault), std::memory_order_relaxed); }
}  // namespace testing

}  // namespace io
}  // namespace rnnlab
