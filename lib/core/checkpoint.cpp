// Checkpoints (format: core/checkpoint.h) and parameter .npz files in PyTorch's naming.
//
// Both loads parse and check the whole file into locals first and change the model only when
// everything is known good; both saves write a temporary file beside the target, sync it, rename it
// over the target and sync the directory.
#include "core/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/error.h"
#include "core/model.h"
#include "core/optim.h"
#include "io/atomic_file.h"
#include "io/npz.h"

namespace rnnlab {
namespace ckpt {

namespace {

std::atomic<testing::SaveHook> g_save_hook{nullptr};

// ---- byte images --------------------------------------------------------------------------------

class Writer {
 public:
  std::vector<unsigned char> bytes;
  template <class T>
  void put(T v) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof(T));
    std::memcpy(bytes.data() + at, &v, sizeof(T));
  }
  void raw(const void *p, size_t n) {
    if (n == 0) return;
    const auto *c = static_cast<const unsigned char *>(p);
    bytes.insert(bytes.end(), c, c + n);
  }
  template <class T>
  void put_at(size_t at, T v) {
    std::memcpy(bytes.data() + at, &v, sizeof(T));
  }
};

class Reader {
 public:
  Reader(const unsigned char *p, size_t n, const char *what) : p_(p), n_(n), what_(what) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  void floats(std::vector<float> *out, uint64_t count) {
    if (count > (n_ - pos_) / sizeof(float))
      raise(RNNLAB_E_CORRUPT, "the %s section claims %llu values but holds %zu bytes", what_,
            static_cast<unsigned long long>(count), n_ - pos_);
    out->resize(static_cast<size_t>(count));
    if (count) std::memcpy(out->data(), p_ + pos_, static_cast<size_t>(count) * sizeof(float));
    pos_ += static_cast<size_t>(count) * sizeof(float);
  }
  void end() const {
    if (pos_ != n_) raise(RNNLAB_E_CORRUPT, "the %s section has %zu unexpected trailing bytes", what_, n_ - pos_);
  }

 private:
  void need(size_t k) const {
    if (n_ - pos_ < k) raise(RNNLAB_E_CORRUPT, "the %s section is shorter than its contents", what_);
  }
  const unsigned char *p_;
  size_t n_, pos_ = 0;
  const char *what_;
};

template <class T>
T read_at(const std::vector<unsigned char> &b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof(T));
  return v;
}

uint32_t bswap32(uint32_t v) {
  return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) | (v >> 24);
}

const char *tag_name(uint32_t tag) {
  switch (tag) {
    case kConfig: return "config";
    case kParams: return "params";
    case kOptimizer: return "optimizer";
    case kMoments: return "moments";
    case kCounters: return "counters";
    case kUser: return "user";
  }
  return "unknown";
}

// ---- sections -----------------------------------------------------------------------------------

void write_config(Writer &w, const rnnlab_model *m) {
  const rnnlab_config &c = m->cfg;
  w.put<uint32_t>(static_cast<uint32_t>(c.cell));
  w.put<int32_t>(c.input_size);
  w.put<int32_t>(c.hidden_size);
  w.put<uint32_t>(static_cast<uint32_t>(c.head));
  w.put<int32_t>(c.output_size);
  w.put<uint32_t>(static_cast<uint32_t>(c.backend));
  w.put<uint32_t>(static_cast<uint32_t>(c.bias_mode));
  w.put<uint32_t>(c.frozen_bias_mask);
  for (float v : c.frozen_bias_value) w.put<float>(v);
  w.put<uint32_t>(static_cast<uint32_t>(c.init));
  w.put<uint32_t>(static_cast<uint32_t>(c.bias_init));
  w.put<uint32_t>(c.bias_init_mask);
  for (float v : c.bias_init_value) w.put<float>(v);
  w.put<int32_t>(c.chrono_tmax);
  w.put<uint64_t>(c.seed);
  w.put<int32_t>(c.threads);
  w.put<uint32_t>(static_cast<uint32_t>(m->diag.level));
  w.put<float>(static_cast<float>(m->diag.sat_thresh));
  w.put<double>(m->diag.bound);
  w.put<int32_t>(c.max_batch);
  w.put<int32_t>(c.max_tape);
  w.put<uint64_t>(m->layout.total);
  w.put<uint64_t>(m->layout.trainable_total);
}

struct FileShape {
  uint32_t cell, head, bias_mode, frozen_mask;
  int32_t I, H, O;
  float frozen_value[3];
  uint64_t total, trainable;
};

FileShape read_config(Reader &r) {
  FileShape s{};
  s.cell = r.get<uint32_t>();
  s.I = r.get<int32_t>();
  s.H = r.get<int32_t>();
  s.head = r.get<uint32_t>();
  s.O = r.get<int32_t>();
  (void)r.get<uint32_t>();  // backend
  s.bias_mode = r.get<uint32_t>();
  s.frozen_mask = r.get<uint32_t>();
  for (float &v : s.frozen_value) v = r.get<float>();
  (void)r.get<uint32_t>();  // init
  (void)r.get<uint32_t>();  // bias_init
  (void)r.get<uint32_t>();  // bias_init_mask
  for (int g = 0; g < 3; ++g) (void)r.get<float>();  // bias_init_value
  (void)r.get<int32_t>();   // chrono_tmax
  (void)r.get<uint64_t>();  // seed
  (void)r.get<int32_t>();   // threads
  (void)r.get<uint32_t>();  // diag_level
  (void)r.get<float>();     // sat_thresh
  (void)r.get<double>();    // bound
  (void)r.get<int32_t>();   // max_batch
  (void)r.get<int32_t>();   // max_tape
  s.total = r.get<uint64_t>();
  s.trainable = r.get<uint64_t>();
  r.end();
  return s;
}

// Every field of the config section, for rnnlab_checkpoint_config (read_config keeps only the
// shape that load compares).
rnnlab_config read_full_config(Reader &r) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = static_cast<rnnlab_cell>(r.get<uint32_t>());
  c.input_size = r.get<int32_t>();
  c.hidden_size = r.get<int32_t>();
  c.head = static_cast<rnnlab_head>(r.get<uint32_t>());
  c.output_size = r.get<int32_t>();
  c.backend = static_cast<rnnlab_backend>(r.get<uint32_t>());
  c.bias_mode = static_cast<rnnlab_bias_mode>(r.get<uint32_t>());
  c.frozen_bias_mask = r.get<uint32_t>();
  for (float &v : c.frozen_bias_value) v = r.get<float>();
  c.init = static_cast<rnnlab_init>(r.get<uint32_t>());
  c.bias_init = static_cast<rnnlab_bias_init>(r.get<uint32_t>());
  c.bias_init_mask = r.get<uint32_t>();
  for (float &v : c.bias_init_value) v = r.get<float>();
  c.chrono_tmax = r.get<int32_t>();
  c.seed = r.get<uint64_t>();
  c.threads = r.get<int32_t>();
  c.diag_level = static_cast<rnnlab_diag_level>(r.get<uint32_t>());
  c.sat_thresh = r.get<float>();
  c.bound = r.get<double>();
  c.max_batch = r.get<int32_t>();
  c.max_tape = r.get<int32_t>();
  (void)r.get<uint64_t>();  // total
  (void)r.get<uint64_t>();  // trainable
  r.end();
  return c;
}

const char *cell_text(uint32_t c) {
  switch (c) {
    case RNNLAB_CELL_GRU: return "gru";
    case RNNLAB_CELL_GRU_RESET_BEFORE: return "gru_reset_before";
    case RNNLAB_CELL_RNN_TANH: return "rnn_tanh";
    case RNNLAB_CELL_RNN_SIGMOID: return "rnn_sigmoid";
    case RNNLAB_CELL_RNN_RELU: return "rnn_relu";
    case RNNLAB_CELL_RNN_LINEAR: return "rnn_linear";
  }
  return "unknown";
}

// Another model shape is FORMAT; a message names the first difference.
void check_shape(const FileShape &f, const rnnlab_model *m) {
  const rnnlab_config &c = m->cfg;
  if (f.cell != static_cast<uint32_t>(c.cell))
    raise(RNNLAB_E_FORMAT, "the checkpoint is of a %s model; this model is %s", cell_text(f.cell), cell_text(c.cell));
  if (f.I != c.input_size || f.H != c.hidden_size)
    raise(RNNLAB_E_FORMAT, "the checkpoint has input_size %d, hidden_size %d; this model %d, %d", f.I, f.H,
          c.input_size, c.hidden_size);
  if (f.head != static_cast<uint32_t>(c.head) || f.O != c.output_size)
    raise(RNNLAB_E_FORMAT, "the checkpoint has head %u with output_size %d; this model head %d with %d", f.head, f.O,
          static_cast<int>(c.head), c.output_size);
  if (f.bias_mode != static_cast<uint32_t>(c.bias_mode))
    raise(RNNLAB_E_FORMAT, "the checkpoint has bias_mode %u; this model %d", f.bias_mode, static_cast<int>(c.bias_mode));
  if (f.frozen_mask != c.frozen_bias_mask)
    raise(RNNLAB_E_FORMAT, "the checkpoint has frozen_bias_mask 0x%x; this model 0x%x", f.frozen_mask,
          c.frozen_bias_mask);
  for (int g = 0; g < 3; ++g)
    if (((c.frozen_bias_mask >> g) & 1u) && f.frozen_value[g] != c.frozen_bias_value[g])
      raise(RNNLAB_E_FORMAT, "the checkpoint holds gate %d's frozen bias at %g; this model at %g", g,
            static_cast<double>(f.frozen_value[g]), static_cast<double>(c.frozen_bias_value[g]));
  if (f.total != m->layout.total || f.trainable != m->layout.trainable_total)
    raise(RNNLAB_E_CORRUPT, "the checkpoint counts %llu parameters (%llu trainable) for this shape; rnnlab counts %zu (%zu)",
          static_cast<unsigned long long>(f.total), static_cast<unsigned long long>(f.trainable), m->layout.total,
          m->layout.trainable_total);
}

void write_optimizer(Writer &w, const rnnlab_optimizer_config &c) {
  w.put<uint32_t>(static_cast<uint32_t>(c.kind));
  w.put<double>(c.lr);
  w.put<double>(c.momentum);
  w.put<double>(c.beta1);
  w.put<double>(c.beta2);
  w.put<double>(c.eps);
  w.put<double>(c.weight_decay);
  w.put<uint32_t>(static_cast<uint32_t>(c.schedule));
  w.put<double>(c.lr_min);
  w.put<int64_t>(c.schedule_steps);
  w.put<int64_t>(c.warmup_steps);
  w.put<int64_t>(c.schedule_period);
  w.put<uint32_t>(static_cast<uint32_t>(c.clip));
  w.put<double>(c.cutoff);
  w.put<double>(c.clip_value);
  w.put<double>(c.alpha);
}

// An enum stored as u32: values outside [0, last] are refused before they become the enum type.
template <class E>
E read_enum(Reader &r, uint32_t last, const char *field) {
  const uint32_t v = r.get<uint32_t>();
  if (v > last) raise(RNNLAB_E_CORRUPT, "the optimizer section has %s = %u, which no rnnlab writes", field, v);
  return static_cast<E>(v);
}

rnnlab_optimizer_config read_optimizer(Reader &r) {
  rnnlab_optimizer_config c = RNNLAB_OPTIMIZER_CONFIG_INIT;
  c.kind = read_enum<rnnlab_optimizer_kind>(r, RNNLAB_OPTIMIZER_ADAMW, "kind");
  c.lr = r.get<double>();
  c.momentum = r.get<double>();
  c.beta1 = r.get<double>();
  c.beta2 = r.get<double>();
  c.eps = r.get<double>();
  c.weight_decay = r.get<double>();
  c.schedule = read_enum<rnnlab_schedule>(r, RNNLAB_SCHEDULE_COSINE, "schedule");
  c.lr_min = r.get<double>();
  c.schedule_steps = r.get<int64_t>();
  c.warmup_steps = r.get<int64_t>();
  c.schedule_period = r.get<int64_t>();
  c.clip = read_enum<rnnlab_clip>(r, RNNLAB_CLIP_RESCALE, "clip");
  c.cutoff = r.get<double>();
  c.clip_value = r.get<double>();
  c.alpha = r.get<double>();
  r.end();
  return c;
}

void add_section(Writer &w, uint32_t tag, const std::vector<unsigned char> &payload) {
  w.put<uint32_t>(tag);
  w.put<uint32_t>(0);
  w.put<uint64_t>(payload.size());
  w.put<uint32_t>(crc32_of(payload.data(), payload.size()));
  w.put<uint32_t>(0);
  w.raw(payload.data(), payload.size());
}

// ---- parsing ------------------------------------------------------------------------------------

struct Parsed {
  std::vector<float> params;
  bool has_opt = false;
  OptimState opt;
  bool has_user = false;
  std::vector<unsigned char> user;
};

// A fuzzing build (tests/fuzz) lets wrong checksums through, so that mutated files reach the section
// parsers behind them instead of stopping at the first CRC; every other check still applies.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kCheckCrcs = false;
#else
constexpr bool kCheckCrcs = true;
#endif

// Checks the frame (header, section table, checksums) and returns each section's payload span.
std::map<uint32_t, std::pair<size_t, size_t>> check_frame(const std::vector<unsigned char> &b) {
  const size_t n = b.size();
  if (n < sizeof kMagic || std::memcmp(b.data(), kMagic, sizeof kMagic) != 0)
    raise(RNNLAB_E_CORRUPT, "not an rnnlab checkpoint (bad magic%s)", n < sizeof kMagic ? ": the file is too short" : "");
  if (n < kOffEndian + 4) raise(RNNLAB_E_CORRUPT, "truncated: %zu bytes, not even a whole header", n);
  const uint32_t marker = read_at<uint32_t>(b, kOffEndian);
  if (marker == bswap32(kEndianMarker))
    raise(RNNLAB_E_FORMAT, "the checkpoint was written on a machine of the other byte order (marker 0x%08x)", marker);
  if (marker != kEndianMarker) raise(RNNLAB_E_CORRUPT, "bad endianness marker 0x%08x", marker);
  if (n < kHeaderSize) raise(RNNLAB_E_CORRUPT, "truncated: %zu bytes, not even a whole header", n);
  const uint32_t hcrc = read_at<uint32_t>(b, kOffHeaderCrc);
  if (kCheckCrcs && hcrc != crc32_of(b.data(), kOffHeaderCrc)) raise(RNNLAB_E_CORRUPT, "the header fails its checksum");
  const uint32_t version = read_at<uint32_t>(b, kOffVersion);
  if (version != kFormatVersion)
    raise(RNNLAB_E_FORMAT, "checkpoint format version %u; this rnnlab reads version %u", version, kFormatVersion);
  const uint64_t declared = read_at<uint64_t>(b, kOffFileSize);
  if (declared != n)
    raise(RNNLAB_E_CORRUPT, "%s: the file is %zu bytes, its header says %llu", n < declared ? "truncated" : "extended",
          n, static_cast<unsigned long long>(declared));
  if (n < kHeaderSize + kTrailerSize) raise(RNNLAB_E_CORRUPT, "truncated: no room for the trailer");
  const uint32_t count = read_at<uint32_t>(b, kOffSections);
  std::map<uint32_t, std::pair<size_t, size_t>> spans;
  std::vector<uint32_t> tags;
  size_t at = kHeaderSize;
  const size_t body_end = n - kTrailerSize;
  for (uint32_t k = 0; k < count; ++k) {
    if (body_end - at < kSectionHeaderSize) raise(RNNLAB_E_CORRUPT, "section %u runs past the end of the file", k);
    const uint32_t tag = read_at<uint32_t>(b, at);
    const uint64_t len = read_at<uint64_t>(b, at + 8);
    const uint32_t crc = read_at<uint32_t>(b, at + 16);
    const size_t payload = at + kSectionHeaderSize;
    if (len > body_end - payload)
      raise(RNNLAB_E_CORRUPT, "section %u (%s) of %llu bytes runs past the end of the file", k, tag_name(tag),
            static_cast<unsigned long long>(len));
    if (kCheckCrcs && crc32_of(b.data() + payload, static_cast<size_t>(len)) != crc)
      raise(RNNLAB_E_CORRUPT, "the %s section fails its checksum", tag_name(tag));
    tags.push_back(tag);
    if (!spans.count(tag)) spans[tag] = {payload, static_cast<size_t>(len)};
    at = payload + static_cast<size_t>(len);
  }
  if (at != body_end) raise(RNNLAB_E_CORRUPT, "%zu unexpected bytes after the last section", body_end - at);
  if (read_at<uint32_t>(b, body_end) != kTrailerMagic) raise(RNNLAB_E_CORRUPT, "bad trailer");
  if (kCheckCrcs && read_at<uint32_t>(b, body_end + 4) != crc32_of(b.data(), n - 4))
    raise(RNNLAB_E_CORRUPT, "the file fails its checksum");
  // Only a file that passed every checksum can be of a newer writer rather than damaged.
  for (size_t k = 0; k < tags.size(); ++k) {
    if (tags[k] < kConfig || tags[k] > kUser) raise(RNNLAB_E_FORMAT, "unknown section tag %u (a newer rnnlab?)", tags[k]);
    for (size_t j = 0; j < k; ++j)
      if (tags[j] == tags[k]) raise(RNNLAB_E_CORRUPT, "the %s section appears twice", tag_name(tags[k]));
  }
  return spans;
}

// The config of a whole, well-formed checkpoint image.
rnnlab_config config_of_image(const std::vector<unsigned char> &b) {
  const auto spans = check_frame(b);
  if (!spans.count(kConfig)) raise(RNNLAB_E_CORRUPT, "the config section is missing");
  const auto &s = spans.at(kConfig);
  Reader r(b.data() + s.first, s.second, tag_name(kConfig));
  return read_full_config(r);
}

Parsed parse(const std::vector<unsigned char> &b, const rnnlab_model *m) {
  const auto spans = check_frame(b);
  auto reader = [&](uint32_t tag) {
    const auto &s = spans.at(tag);
    return Reader(b.data() + s.first, s.second, tag_name(tag));
  };
  for (uint32_t tag : {kConfig, kParams})
    if (!spans.count(tag)) raise(RNNLAB_E_CORRUPT, "the %s section is missing", tag_name(tag));
  const int opt_parts = static_cast<int>(spans.count(kOptimizer) + spans.count(kMoments) + spans.count(kCounters));
  if (opt_parts != 0 && opt_parts != 3)
    raise(RNNLAB_E_CORRUPT, "the optimizer, moments and counters sections must come together (%d of 3 present)", opt_parts);

  Parsed out;
  {
    Reader r = reader(kConfig);
    check_shape(read_config(r), m);
  }
  const Layout &L = m->layout;
  {
    Reader r = reader(kParams);
    const uint64_t count = r.get<uint64_t>();
    if (count != L.total)
      raise(RNNLAB_E_CORRUPT, "the params section holds %llu values; the model has %zu",
            static_cast<unsigned long long>(count), L.total);
    r.floats(&out.params, count);
    r.end();
    for (size_t i = 0; i < L.total; ++i)
      if (!L.trainable[i] && out.params[i] != L.held[i])
        raise(RNNLAB_E_CORRUPT, "parameter %zu is held at %g but the checkpoint has %g", i,
              static_cast<double>(L.held[i]), static_cast<double>(out.params[i]));
  }
  if (opt_parts == 3) {
    out.has_opt = true;
    OptimState &o = out.opt;
    o.configured = true;
    {
      Reader r = reader(kOptimizer);
      o.cfg = read_optimizer(r);
      try {
        validate_optimizer_config(o.cfg, m->spec);
      } catch (const Error &e) {
        raise(RNNLAB_E_CORRUPT, "the optimizer section holds an invalid configuration: %s", e.message.c_str());
      }
      check_optimizer_backend(o.cfg, m);
    }
    {
      Reader r = reader(kMoments);
      const uint64_t n1 = r.get<uint64_t>(), n2 = r.get<uint64_t>();
      const uint64_t want1 = uses_m1(o.cfg) ? L.total : 0, want2 = uses_m2(o.cfg) ? L.total : 0;
      if (n1 != want1 || n2 != want2)
        raise(RNNLAB_E_CORRUPT, "the moments section holds %llu + %llu values; this optimiser needs %llu + %llu",
              static_cast<unsigned long long>(n1), static_cast<unsigned long long>(n2),
              static_cast<unsigned long long>(want1), static_cast<unsigned long long>(want2));
      r.floats(&o.m1, n1);
      r.floats(&o.m2, n2);
      r.end();
      for (size_t i = 0; i < L.total; ++i)
        if (!L.trainable[i] && ((n1 && o.m1[i] != 0.0f) || (n2 && o.m2[i] != 0.0f)))
          raise(RNNLAB_E_CORRUPT, "the moments of held parameter %zu are not 0", i);
    }
    {
      Reader r = reader(kCounters);
      o.step = r.get<int64_t>();
      o.moment_step = r.get<int64_t>();
      o.sched_pos = r.get<int64_t>();
      o.sched_sub = r.get<int64_t>();
      o.guard_count = r.get<int64_t>();
      o.last_lr = r.get<double>();
      o.last_clipped = r.get<uint8_t>() != 0;
      o.last_guard = r.get<uint8_t>() != 0;
      for (int k = 0; k < 6; ++k) (void)r.get<uint8_t>();
      r.end();
      if (o.step < 0 || o.moment_step < 0 || o.moment_step > o.step || o.sched_pos < 0 || o.sched_sub < 0 ||
          o.guard_count < 0 || o.guard_count > o.step ||
          (o.cfg.schedule_period > 0 && o.sched_sub >= o.cfg.schedule_period) ||
          (o.cfg.schedule_period == 0 && o.sched_sub != 0))
        raise(RNNLAB_E_CORRUPT, "the counters section holds impossible counters (step %lld, moment_step %lld, "
              "schedule %lld + %lld, guard %lld)", static_cast<long long>(o.step), static_cast<long long>(o.moment_step),
              static_cast<long long>(o.sched_pos), static_cast<long long>(o.sched_sub),
              static_cast<long long>(o.guard_count));
    }
  }
  if (spans.count(kUser)) {
    out.has_user = true;
    const auto &s = spans.at(kUser);
    out.user.assign(b.begin() + static_cast<std::ptrdiff_t>(s.first),
                    b.begin() + static_cast<std::ptrdiff_t>(s.first + s.second));
  }
  return out;
}

// ---- files --------------------------------------------------------------------------------------

std::vector<unsigned char> read_file(const std::string &path) { return io::read_whole_file(path); }

}  // namespace

void write_file_atomically(const std::string &path, const std::vector<unsigned char> &bytes) {
  struct Hook {
    static void at(io::SaveStage stage, const std::string &tmp, void *) {
      if (stage != io::SaveStage::TempSynced) return;
      if (testing::SaveHook hook = g_save_hook.load()) hook(tmp.c_str());
    }
  };
  io::write_file_atomically(path, bytes.data(), bytes.size(), &Hook::at, nullptr);
}

uint32_t crc32_of(const void *data, size_t n) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto *p = static_cast<const Bytef *>(data);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::vector<unsigned char> serialize(const rnnlab_model *m, const void *user, size_t user_size) {
  std::vector<std::pair<uint32_t, std::vector<unsigned char>>> sections;
  {
    Writer w;
    write_config(w, m);
    sections.emplace_back(kConfig, std::move(w.bytes));
  }
  {
    Writer w;
    w.put<uint64_t>(m->params.size());
    w.raw(m->params.data(), m->params.size() * sizeof(float));
    sections.emplace_back(kParams, std::move(w.bytes));
  }
  if (m->opt.configured) {
    const OptimState &o = m->opt;
    Writer w;
    write_optimizer(w, o.cfg);
    sections.emplace_back(kOptimizer, std::move(w.bytes));
    Writer mw;
    mw.put<uint64_t>(o.m1.size());
    mw.put<uint64_t>(o.m2.size());
    mw.raw(o.m1.data(), o.m1.size() * sizeof(float));
    mw.raw(o.m2.data(), o.m2.size() * sizeof(float));
    sections.emplace_back(kMoments, std::move(mw.bytes));
    Writer cw;
    cw.put<int64_t>(o.step);
    cw.put<int64_t>(o.moment_step);
    cw.put<int64_t>(o.sched_pos);
    cw.put<int64_t>(o.sched_sub);
    cw.put<int64_t>(o.guard_count);
    cw.put<double>(o.last_lr);
    cw.put<uint8_t>(o.last_clipped ? 1 : 0);
    cw.put<uint8_t>(o.last_guard ? 1 : 0);
    for (int k = 0; k < 6; ++k) cw.put<uint8_t>(0);
    sections.emplace_back(kCounters, std::move(cw.bytes));
  }
  if (user_size > 0) {
    const auto *u = static_cast<const unsigned char *>(user);
    sections.emplace_back(kUser, std::vector<unsigned char>(u, u + user_size));
  }

  Writer w;
  w.raw(kMagic, sizeof kMagic);
  w.put<uint32_t>(kEndianMarker);
  w.put<uint32_t>(kFormatVersion);
  w.put<uint32_t>(0);
  w.put<uint32_t>(static_cast<uint32_t>(sections.size()));
  w.put<uint64_t>(0);  // file size, below
  w.put<uint32_t>(0);  // header CRC, below
  w.put<uint32_t>(0);
  for (const auto &s : sections) add_section(w, s.first, s.second);
  w.put<uint32_t>(kTrailerMagic);
  w.put<uint32_t>(0);
  w.put_at<uint64_t>(kOffFileSize, w.bytes.size());
  reseal(w.bytes);
  return std::move(w.bytes);
}

std::vector<SectionSpan> sections_of(const std::vector<unsigned char> &b) {
  std::vector<SectionSpan> out;
  const uint32_t count = read_at<uint32_t>(b, kOffSections);
  size_t at = kHeaderSize;
  for (uint32_t k = 0; k < count && at + kSectionHeaderSize <= b.size(); ++k) {
    SectionSpan s;
    s.tag = read_at<uint32_t>(b, at);
    s.header_offset = at;
    s.payload_offset = at + kSectionHeaderSize;
    s.length = static_cast<size_t>(read_at<uint64_t>(b, at + 8));
    out.push_back(s);
    at = s.payload_offset + s.length;
  }
  return out;
}

void reseal(std::vector<unsigned char> &b) {
  const uint32_t header_crc = crc32_of(b.data(), kOffHeaderCrc);
  std::memcpy(b.data() + kOffHeaderCrc, &header_crc, 4);
  for (const SectionSpan &s : sections_of(b)) {
    const uint32_t crc = crc32_of(b.data() + s.payload_offset, s.length);
    std::memcpy(b.data() + s.header_offset + 16, &crc, 4);
  }
  const uint32_t file_crc = crc32_of(b.data(), b.size() - 4);
  std::memcpy(b.data() + b.size() - 4, &file_crc, 4);
}

namespace testing {
void set_save_hook(SaveHook hook) { g_save_hook.store(hook); }
}  // namespace testing

}  // namespace ckpt

// ---- npz ----------------------------------------------------------------------------------------

namespace {

bool is_head(const TensorDesc &t) { return t.name.rfind("head.", 0) == 0; }
bool is_bias(const TensorDesc &t) {
  const size_t dot = t.name.rfind('.');
  return t.name.compare(dot == std::string::npos ? 0 : dot + 1, 4, "bias") == 0;
}

std::string npz_name(const TensorDesc &t, const std::string &cell_prefix, const std::string &head_prefix,
                     uint32_t flags) {
  if (is_head(t)) return head_prefix + t.name.substr(5);
  return cell_prefix + t.name + ((flags & RNNLAB_NPZ_L0) ? "_l0" : "");
}

std::string shape_text(const std::vector<size_t> &s) {
  std::string out = "(";
  for (size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + (s.size() == 1 ? ",)" : ")");
}

// A cell tensor of a deeper layer or of the reverse direction ("weight_ih_l1", "..._l0_reverse"):
// PyTorch state of a model rnnlab cannot hold.
bool names_other_layer(const std::string &key) {
  const size_t dot = key.rfind('.');
  const std::string last = dot == std::string::npos ? key : key.substr(dot + 1);
  for (const char *stem : {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"}) {
    const size_t n = std::strlen(stem);
    if (last.compare(0, n, stem) != 0) continue;
    std::string rest = last.substr(n);
    size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 0) return false;
    const std::string layer = rest.substr(0, digits), tail = rest.substr(digits);
    return layer != "0" || !tail.empty();
  }
  return false;
}

}  // namespace

void add_params_to_npz(io::NpzWriter &w, const rnnlab_model *m, const std::string &cell_prefix,
                       const std::string &head_prefix, uint32_t flags) {
  for (const TensorDesc &t : m->layout.tensors) {
    std::vector<size_t> shape;
    if (is_bias(t)) shape = {static_cast<size_t>(t.rows)};
    else shape = {static_cast<size_t>(t.rows), static_cast<size_t>(t.cols)};
    const float *v = m->params.data() + t.offset;
    const std::string key = npz_name(t, cell_prefix, head_prefix, flags);
    if (flags & RNNLAB_NPZ_FLOAT64) {
      std::vector<double> d(v, v + t.count);
      w.add(key, shape, d);
    } else {
      w.add(key, shape, v, t.count);
    }
  }
}

}  // namespace rnnlab

using namespace rnnlab;

#define CHECK_NULL(p)                                                 \
  do {                                                                \
    if (!(p)) raise(RNNLAB_E_NULL, "argument '%s' is NULL", #p);      \
  } while (0)

namespace {

// Re-raises an error of a file operation with the file's name in front.
template <class F>
auto about_file(const char *path, F &&f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error &e) {
    throw Error(e.status, std::string("'") + path + "': " + e.message);
  }
}

rnnlab_status load_impl(void *user, size_t capacity, size_t *user_size, rnnlab_model *model, const char *path) {
  CHECK_NULL(model);
  rnnlab_model *const m = model;
  CHECK_NULL(path);
  if (!user && capacity != 0) raise(RNNLAB_E_NULL, "argument 'user' is NULL but capacity is %zu", capacity);
  const std::vector<unsigned char> image = ckpt::read_file(path);
  ckpt::Parsed got = about_file(path, [&] { return ckpt::parse(image, m); });
  if (user_size) *user_size = got.user.size();
  if (user && got.user.size() > capacity)
    raise(RNNLAB_E_SIZE_MISMATCH, "'%s' holds %zu user bytes; the buffer has room for %zu", path, got.user.size(),
          capacity);
  // Everything is known good: commit. Only the sequence reset may allocate, so it goes first.
  m->batch = m->h0_batch;
  if (m->batch > 0) m->backend->reset(m->batch, m->h0.data());
  else m->backend->reset(1, nullptr);
  m->params.swap(got.params);
  if (got.has_opt) m->opt = std::move(got.opt);
  else m->opt = OptimState();
  std::fill(m->grads.begin(), m->grads.end(), 0.0f);
  if (user && !got.user.empty()) std::memcpy(user, got.user.data(), got.user.size());
  return RNNLAB_OK;
}

rnnlab_status save_impl(const rnnlab_model *model, const char *path, const void *user, size_t user_size) {
  CHECK_NULL(model);
  const rnnlab_model *const m = model;
  CHECK_NULL(path);
  if (!user && user_size != 0) raise(RNNLAB_E_NULL, "argument 'user' is NULL but user_size is %zu", user_size);
  const std::vector<unsigned char> image = ckpt::serialize(m, user, user_size);
  ckpt::write_file_atomically(path, image);
  return RNNLAB_OK;
}

}  // namespace

extern "C" {

RNNLAB_API rnnlab_status rnnlab_save(const rnnlab_model *model, const char *path) {
  return guarded("rnnlab_save", [&] { return save_impl(model, path, nullptr, 0); });
}

RNNLAB_API rnnlab_status rnnlab_save_ex(const rnnlab_model *model, const char *path, const void *user,
                                        size_t user_size) {
  return guarded("rnnlab_save_ex", [&] { return save_impl(model, path, user, user_size); });
}

RNNLAB_API rnnlab_status rnnlab_load(rnnlab_model *model, const char *path) {
  return guarded("rnnlab_load", [&] { return load_impl(nullptr, 0, nullptr, model, path); });
}

RNNLAB_API rnnlab_status rnnlab_load_ex(void *user, size_t capacity, size_t *user_size, rnnlab_model *model,
                                        const char *path) {
  return guarded("rnnlab_load_ex", [&] { return load_impl(user, capacity, user_size, model, path); });
}

RNNLAB_API rnnlab_status rnnlab_export_npz(const rnnlab_model *model, const char *path, const char *cell_prefix,
                                           const char *head_prefix, uint32_t flags) {
  return guarded("rnnlab_export_npz", [&] {
    CHECK_NULL(model);
    CHECK_NULL(path);
    const uint32_t known = RNNLAB_NPZ_L0 | RNNLAB_NPZ_FLOAT64;
    if (flags & ~known)
      raise(RNNLAB_E_INVALID_ARGUMENT, "flags = 0x%x has bits beyond RNNLAB_NPZ_L0 | RNNLAB_NPZ_FLOAT64", flags);
    io::NpzWriter w;
    add_params_to_npz(w, model, cell_prefix ? cell_prefix : "", head_prefix ? head_prefix : "head.", flags);
    w.save(path);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_import_npz(rnnlab_model *model, const char *path) {
  return guarded("rnnlab_import_npz", [&] {
    CHECK_NULL(model);
    CHECK_NULL(path);
    const io::NpzReader r(path);
    const Layout &L = model->layout;
    std::map<std::string, std::string> key_of;  // tensor name -> archive key
    for (const std::string &key : r.keys()) {
      if (names_other_layer(key))
        raise(RNNLAB_E_FORMAT, "'%s': array '%s' belongs to a deeper layer or the reverse direction; an rnnlab "
              "model is one layer, one direction", path, key.c_str());
      const TensorDesc *t = find_tensor(L, key.c_str());
      if (!t) continue;
      auto it = key_of.find(t->name);
      if (it != key_of.end())
        raise(RNNLAB_E_FORMAT, "'%s': arrays '%s' and '%s' both name %s", path, it->second.c_str(), key.c_str(),
              t->name.c_str());
      key_of[t->name] = key;
    }
    std::vector<float> next(model->params);
    for (const TensorDesc &t : L.tensors) {
      auto it = key_of.find(t.name);
      if (it == key_of.end())
        raise(RNNLAB_E_NOT_FOUND, "'%s' has no array for %s (looked for it with or without '_l0' and a module "
              "prefix)", path, t.name.c_str());
      const io::NpyArray &a = r.get(it->second);
      const std::vector<size_t> want = is_bias(t) ? std::vector<size_t>{static_cast<size_t>(t.rows)}
                                                  : std::vector<size_t>{static_cast<size_t>(t.rows), static_cast<size_t>(t.cols)};
      if (a.shape != want)
        raise(RNNLAB_E_FORMAT, "'%s': array '%s' has shape %s; %s of this model is %s", path, it->second.c_str(),
              shape_text(a.shape).c_str(), t.name.c_str(), shape_text(want).c_str());
      if (a.dtype != io::DType::Float32 && a.dtype != io::DType::Float64)
        raise(RNNLAB_E_FORMAT, "'%s': array '%s' is %s; float32 or float64 is needed", path, it->second.c_str(),
              io::dtype_name(a.dtype));
      for (size_t k = 0; k < t.count; ++k) {
        float v;
        if (a.dtype == io::DType::Float32) {
          std::memcpy(&v, a.data.data() + k * 4, 4);
        } else {
          double d;
          std::memcpy(&d, a.data.data() + k * 8, 8);
          v = static_cast<float>(d);
        }
        if (!std::isfinite(v))
          raise(RNNLAB_E_NONFINITE, "'%s': array '%s'[%zu] is not finite%s", path, it->second.c_str(), k,
                a.dtype == io::DType::Float64 ? " (as float32)" : "");
        const size_t i = t.offset + k;
        if (!L.trainable[i] && v != L.held[i])
          raise(RNNLAB_E_FROZEN, "'%s': array '%s'[%zu] = %g, but that entry is held at %g (a frozen bias or a "
                "single-mode bias_hh)", path, it->second.c_str(), k, static_cast<double>(v),
                static_cast<double>(L.held[i]));
        next[i] = v;
      }
    }
    model->params.swap(next);
    return RNNLAB_OK;
  });
}

}  // extern "C"

RNNLAB_API rnnlab_status rnnlab_checkpoint_config(rnnlab_config *out, const char *path) {
  return guarded("rnnlab_checkpoint_config", [&] {
    CHECK_NULL(out);
    CHECK_NULL(path);
    // the sizes rnnlab_get_config accepts: 0.1's config (up to max_tape) or this one
    const uint32_t n = out->struct_size;
    if (n < offsetof(rnnlab_config, denormals) || n > sizeof(rnnlab_config) || n % 4 != 0)
      raise(RNNLAB_E_VERSION, "out->struct_size is %u; this library knows %u", n,
            static_cast<unsigned>(sizeof(rnnlab_config)));
    const std::vector<unsigned char> image = ckpt::read_file(path);
    const rnnlab_config c = about_file(path, [&] { return ckpt::config_of_image(image); });
    std::memcpy(out, &c, n);
    out->struct_size = n;
    return RNNLAB_OK;
  });
}
