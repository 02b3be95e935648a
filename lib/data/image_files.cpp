// IDX and CIFAR-10 binary readers.
//
// IDX (LeCun's MNIST format): a 4-byte magic 0x00 0x00 <type> <rank>, then <rank> big-endian uint32
// dimensions, then the data. Images are type 0x08 (unsigned byte), rank 3 (count, rows, cols);
// labels type 0x08, rank 1 (count).
// CIFAR-10 binary: records of 1 label byte followed by 3072 bytes, the 32x32 R, G and B planes.
//
// Every file goes through zlib's gzread, which passes plain files through unchanged, so gzip is
// recognised by content rather than by the ".gz" suffix.
#include "data/image_files.h"

#include "core/error.h"

#include <zlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

namespace rnnlab {
namespace data {

namespace {

constexpr size_t kChunk = size_t{64} << 20;  // a lying header cannot make us allocate much ahead of the data

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

class ByteSource {
 public:
  explicit ByteSource(std::string path) : path_(std::move(path)) {
    if (path_.empty()) raise(RNNLAB_E_IO, "cannot open a file whose path is the empty string");
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) {
      const int e = errno;
      raise(RNNLAB_E_IO, "cannot open %s: %s", path_.c_str(), errno_text(e).c_str());
    }
    if (S_ISDIR(st.st_mode)) raise(RNNLAB_E_IO, "cannot read %s: it is a directory", path_.c_str());
    errno = 0;
    file_ = gzopen(path_.c_str(), "rb");
    if (!file_) {
      const int e = errno;
      if (e == 0) raise(RNNLAB_E_NO_MEMORY, "cannot open %s: zlib could not allocate its state", path_.c_str());
      raise(RNNLAB_E_IO, "cannot open %s: %s", path_.c_str(), errno_text(e).c_str());
    }
    gzbuffer(file_, 1u << 17);
  }
  ~ByteSource() {
    if (file_) gzclose(file_);
  }
  ByteSource(const ByteSource &) = delete;
  ByteSource &operator=(const ByteSource &) = delete;

  const char *path() const { return path_.c_str(); }

  // Reads up to n bytes; fewer only at the end of the data. A damaged gzip stream is an error.
  size_t read(void *dst, size_t n) {
    auto *out = static_cast<unsigned char *>(dst);
    size_t done = 0;
    while (done < n) {
      const unsigned want = static_cast<unsigned>(std::min<size_t>(n - done, size_t{1} << 30));
      errno = 0;
      const int got = gzread(file_, out + done, want);
      if (got < 0) stream_error();
      done += static_cast<size_t>(got);
      if (static_cast<unsigned>(got) < want) {
        int code = Z_OK;
        gzerror(file_, &code);
        if (code != Z_OK) stream_error();
        break;
      }
    }
    return done;
  }

  bool at_end() {
    unsigned char byte;
    return read(&byte, 1) == 0;
  }

 private:
  [[noreturn]] void stream_error() {
    const int e = errno;
    int code = Z_OK;
    const char *msg = gzerror(file_, &code);
    if (code == Z_ERRNO) raise(RNNLAB_E_IO, "cannot read %s: %s", path_.c_str(), errno_text(e).c_str());
    if (code == Z_MEM_ERROR) raise(RNNLAB_E_NO_MEMORY, "%s: zlib ran out of memory", path_.c_str());
    // zlib prefixes its message with the path, which ours already names.
    std::string text = msg ? msg : "unknown zlib error";
    const std::string prefix = path_ + ": ";
    if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
    raise(RNNLAB_E_CORRUPT, "%s: damaged gzip stream (%s)", path_.c_str(), text.c_str());
  }

  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t big_endian_u32(const unsigned char *p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Appends exactly n bytes to v, growing it as data actually arrives. `what` describes the whole
// expected content for the truncation message.
void read_exact_into(ByteSource &src, std::vector<uint8_t> &v, size_t n, const char *what) {
  const size_t start = v.size();
  size_t done = 0;
  while (done < n) {
    // Grow with the data that actually arrives: 64 KiB first, then doubling up to kChunk, so that a
    // few-byte file whose header announces gigabytes costs kilobytes, not a 64 MB zero-filled buffer
    // (found by fuzz_idx: such files ran at 18 per second).
    const size_t step = std::min(n - done, std::min(kChunk, std::max<size_t>(size_t{1} << 16, done)));
    v.resize(start + done + step);
    const size_t got = src.read(v.data() + start + done, step);
    done += got;
    if (got < step) {
      v.resize(start + done);
      raise(RNNLAB_E_CORRUPT, "%s: truncated: expected %zu bytes of %s, the file ends after %zu", src.path(), n, what,
            done);
    }
  }
}

struct IdxHeader {
  uint32_t dims[3] = {0, 0, 0};
};

IdxHeader read_idx_header(ByteSource &src, int rank, const char *kind) {
  unsigned char magic[4];
  const size_t got = src.read(magic, 4);
  if (got < 4)
    raise(RNNLAB_E_CORRUPT, "%s: truncated: %zu bytes, too short for an IDX header", src.path(), got);
  const uint32_t m = big_endian_u32(magic);
  if (magic[0] != 0 || magic[1] != 0)
    raise(RNNLAB_E_CORRUPT, "%s: bad magic 0x%08x: not an IDX file (an IDX %s file starts with 0x0000080%d)",
          src.path(), m, kind, rank);
  if (magic[2] != 0x08)
    raise(RNNLAB_E_FORMAT, "%s: IDX data type 0x%02x; only unsigned bytes (0x08) are supported", src.path(),
          magic[2]);
  if (magic[3] != rank)
    raise(RNNLAB_E_FORMAT, "%s: IDX file of rank %d; an IDX %s file has rank %d (magic 0x0000080%d)", src.path(),
          magic[3], kind, rank, rank);
  unsigned char dims[12];
  const size_t want = static_cast<size_t>(rank) * 4;
  const size_t got_dims = src.read(dims, want);
  if (got_dims < want)
    raise(RNNLAB_E_CORRUPT, "%s: truncated: the IDX header ends after %zu of its %zu dimension bytes", src.path(),
          got_dims, want);
  IdxHeader h;
  for (int i = 0; i < rank; ++i) h.dims[i] = big_endian_u32(dims + 4 * i);
  return h;
}

void check_labels(const ImageSet &set, int32_t num_classes, const char *path, const char *record_word) {
  for (size_t i = 0; i < set.labels.size(); ++i)
    if (set.labels[i] >= num_classes)
      raise(RNNLAB_E_CORRUPT, "%s: label %d of %s %zu is outside [0, %d)", path, set.labels[i], record_word, i,
            num_classes);
}

}  // namespace

ImageSet load_idx(const std::string &images_path, const std::string &labels_path, int32_t limit,
                  int32_t num_classes) {
  ByteSource images(images_path);
  ByteSource labels(labels_path);
  const IdxHeader ih = read_idx_header(images, 3, "images");
  const IdxHeader lh = read_idx_header(labels, 1, "labels");
  const uint32_t n = ih.dims[0], rows = ih.dims[1], cols = ih.dims[2];
  if (n != lh.dims[0])
    raise(RNNLAB_E_FORMAT, "%s holds %u images but %s holds %u labels", images.path(), n, labels.path(),
          lh.dims[0]);
  if (n == 0) raise(RNNLAB_E_FORMAT, "%s: the header announces 0 images", images.path());
  if (n > static_cast<uint32_t>(INT32_MAX))
    raise(RNNLAB_E_FORMAT, "%s: %u images is more than this reader supports (%d)", images.path(), n, INT32_MAX);
  if (rows == 0 || cols == 0 || static_cast<uint64_t>(rows) * cols > static_cast<uint64_t>(INT32_MAX))
    raise(RNNLAB_E_FORMAT, "%s: images of %u x %u pixels are not supported", images.path(), rows, cols);

  ImageSet set;
  set.count = (limit > 0 && static_cast<uint32_t>(limit) < n) ? limit : static_cast<int32_t>(n);
  set.height = static_cast<int32_t>(rows);
  set.width = static_cast<int32_t>(cols);
  set.channels = 1;
  const size_t image_bytes = static_cast<size_t>(rows) * cols;
  if (static_cast<size_t>(set.count) > SIZE_MAX / image_bytes)
    raise(RNNLAB_E_NO_MEMORY, "%s: %d images of %zu bytes do not fit in memory", images.path(), set.count,
          image_bytes);
  read_exact_into(images, set.pixels, static_cast<size_t>(set.count) * image_bytes, "pixel data the header announces");
  read_exact_into(labels, set.labels, static_cast<size_t>(set.count), "labels the header announces");
  if (set.count == static_cast<int32_t>(n)) {
    // Read to the end: bytes past the announced data mean the header and the data disagree.
    if (!images.at_end())
      raise(RNNLAB_E_CORRUPT, "%s: trailing bytes after the %u images the header announces", images.path(), n);
    if (!labels.at_end())
      raise(RNNLAB_E_CORRUPT, "%s: trailing bytes after the %u labels the header announces", labels.path(), n);
  }
  check_labels(set, num_classes, labels.path(), "example");
  return set;
}

ImageSet load_cifar10(const std::vector<std::string> &paths, int32_t limit, int32_t num_classes) {
  constexpr size_t kPixels = 3 * 32 * 32;
  constexpr size_t kRecord = 1 + kPixels;
  ImageSet set;
  set.height = 32;
  set.width = 32;
  set.channels = 3;
  // Every file must exist even when the limit stops the reading before it: a wrong list is an error
  // either way.
  for (const std::string &p : paths) ByteSource probe(p);
  std::vector<unsigned char> record(kRecord);
  for (const std::string &p : paths) {
    if (limit > 0 && set.count >= limit) break;
    ByteSource src(p);
    int64_t in_file = 0;
    for (;;) {
      if (limit > 0 && set.count >= limit) break;
      const size_t got = src.read(record.data(), kRecord);
      if (got == 0) break;
      if (got < kRecord)
        raise(RNNLAB_E_CORRUPT,
              "%s: truncated: record %lld has %zu of its %zu bytes (records are 1 label byte + 3072 pixel bytes)",
              src.path(), static_cast<long long>(in_file), got, kRecord);
      if (record[0] >= num_classes)
        raise(RNNLAB_E_CORRUPT, "%s: label %d of record %lld is outside [0, %d)", src.path(), record[0],
              static_cast<long long>(in_file), num_classes);
      if (set.count == INT32_MAX) raise(RNNLAB_E_FORMAT, "%s: more than %d records in the set", src.path(), INT32_MAX);
      set.labels.push_back(record[0]);
      set.pixels.insert(set.pixels.end(), record.begin() + 1, record.end());
      ++set.count;
      ++in_file;
    }
    if (in_file == 0 && !(limit > 0 && set.count >= limit))
      raise(RNNLAB_E_CORRUPT, "%s: empty: no CIFAR-10 records (%zu bytes each)", src.path(), kRecord);
  }
  if (set.count == 0) raise(RNNLAB_E_FORMAT, "the CIFAR-10 set is empty");
  return set;
}

}  // namespace data
}  // namespace rnnlab
