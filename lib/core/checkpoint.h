// Checkpoints (rnnlab_save / rnnlab_load) and parameter .npz files (rnnlab_export_npz /
// rnnlab_import_npz). Internal: the format's constants and layout, for tests, and the npz helper
// the trainer reuses for its output files.
//
// Checkpoint format, version 1. Every integer and float is in the writer's native byte order
// (which the endianness marker records; a reader of the other order refuses the file with
// RNNLAB_E_FORMAT rather than guess):
//
//   header (40 bytes)
//     0  char[8]  magic "RNNLABCK"
//     8  u32      endianness marker 0x01020304
//    12  u32      format version (1)
//    16  u32      flags (0)
//    20  u32      number of sections
//    24  u64      size of the whole file in bytes
//    32  u32      CRC32 of bytes 0..31
//    36  u32      0
//   sections, one after the other, each
//     u32 tag, u32 0, u64 payload length, u32 CRC32 of the payload, u32 0, then the payload
//   trailer (8 bytes)
//     u32 "RLCE" (0x45434C52 read natively), u32 CRC32 of every byte before it
//
// Sections (each at most once; config and params always; the three optimiser sections together
// or not at all; user only when the caller gave bytes):
//   1 config     the model's rnnlab_config, field by field (see write_config), then u64 total and
//                u64 trainable parameter counts
//   2 params     u64 n, then n float32 values: the flat parameter buffer
//   3 optimizer  the rnnlab_optimizer_config, field by field (see write_optimizer)
//   4 moments    u64 n1, u64 n2, then n1 + n2 float32 values (m1 then m2; 0 or the parameter count)
//   5 counters   i64 step, moment_step, schedule position, sched_sub, guard_count; f64 last_lr;
//                u8 last_clipped, u8 last_guard, 6 zero bytes
//   6 user       the caller's bytes (rnnlab_save_ex)
// The model holds no random generator of its own (initialisation is seeded once); a caller's
// generator state goes into the user section. A later version adds sections with new tags and a
// new format version; this reader refuses unknown tags (FORMAT).
//
// Load order of checks: magic (CORRUPT) -> endianness (FORMAT when byte-swapped, CORRUPT when
// neither order) -> header CRC (CORRUPT) -> version (FORMAT) -> size (CORRUPT: truncated or
// extended) -> each section's bounds and CRC (CORRUPT) -> file CRC (CORRUPT) -> contents
// (FORMAT for another model shape, CORRUPT for values no writer produces).
#ifndef RNNLAB_CORE_CHECKPOINT_H
#define RNNLAB_CORE_CHECKPOINT_H

#include <rnnlab/rnnlab.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rnnlab {

namespace io {
class NpzWriter;
}

namespace ckpt {

constexpr char kMagic[8] = {'R', 'N', 'N', 'L', 'A', 'B', 'C', 'K'};
constexpr uint32_t kEndianMarker = 0x01020304u;
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kTrailerMagic = 0x45434C52u;  // "RLCE" in a little-endian file
constexpr size_t kHeaderSize = 40, kSectionHeaderSize = 24, kTrailerSize = 8;
// Field offsets in the header.
constexpr size_t kOffEndian = 8, kOffVersion = 12, kOffSections = 20, kOffFileSize = 24, kOffHeaderCrc = 32;

enum Tag : uint32_t { kConfig = 1, kParams = 2, kOptimizer = 3, kMoments = 4, kCounters = 5, kUser = 6 };

// Writes bytes to a temporary file beside `path`, syncs it, renames it over `path` and syncs the
// directory (the save hook below runs between sync and rename). Throws Error(IO) on failure, with
// the temporary removed and an existing `path` untouched.
void write_file_atomically(const std::string &path, const std::vector<unsigned char> &bytes);

// CRC32 (zlib's) of any number of bytes.
uint32_t crc32_of(const void *data, size_t n);

// The checkpoint image of a model (what rnnlab_save_ex writes).
std::vector<unsigned char> serialize(const rnnlab_model *m, const void *user, size_t user_size);

// Where each section of a well-formed image lies (for tests).
struct SectionSpan {
  uint32_t tag;
  size_t header_offset;   // the section header
  size_t payload_offset;  // its payload
  size_t length;          // payload bytes
};
std::vector<SectionSpan> sections_of(const std::vector<unsigned char> &image);
// Recomputes the header CRC, every section CRC and the file CRC of an image in place (tests use
// it to build files that are well-formed but of another version, endianness or shape).
void reseal(std::vector<unsigned char> &image);

namespace testing {
// Called by every save after the temporary file is written and synced, before it is renamed over
// the target. The hook may throw rnnlab::Error (the save then fails with that status and removes
// the temporary) or end the process (a crash between write and rename). Null: no hook.
// Process-wide.
using SaveHook = void (*)(const char *tmp_path);
void set_save_hook(SaveHook hook);
}  // namespace testing

}  // namespace ckpt

// Adds the model's parameters to an npz writer under PyTorch's names (rnnlab_export_npz's rules:
// cell_prefix + name [+ "_l0"], head_prefix + "weight"/"bias"; flags RNNLAB_NPZ_*).
void add_params_to_npz(io::NpzWriter &w, const rnnlab_model *m, const std::string &cell_prefix,
                       const std::string &head_prefix, uint32_t flags);

}  // namespace rnnlab

#endif
