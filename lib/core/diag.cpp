// Diagnostics through the C ABI: scalars and traces of the last pass, summaries, and the on-demand
// spectral and Jacobian calls.
#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/linalg.h"
#include "core/model.h"

using namespace rnnlab;

namespace {

const char *const kTraceNames[RNNLAB_TRACE_COUNT] = {
    "grad_time",       "sat_time",          "act_time",           "cand_act_time",
    "gate_z_sat_time", "gate_r_sat_time",   "gate_z_mean_time",   "gate_r_mean_time",
    "gate_z_preact_time", "sat_frac_time",  "gate_z_sat_frac_time", "gate_r_sat_frac_time",
    "transfer_time"};

// Enumerations arrive from C, where any int value fits; reading an out-of-range one as the C++ enum
// type is undefined behaviour (UBSan: -fsanitize=enum), so they are range-checked through their int
// representation (and passed by reference until then). As in api.cpp.
template <class E>
int raw_enum(const E &e) {
  static_assert(sizeof(E) == sizeof(int), "C enums are int-sized");
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

bool valid_trace(const rnnlab_trace &t) { return raw_enum(t) >= 0 && raw_enum(t) < RNNLAB_TRACE_COUNT; }

const std::vector<double> &trace_of(const rnnlab_model *m, const rnnlab_trace &t) {
  if (!valid_trace(t)) raise(RNNLAB_E_INVALID_ARGUMENT, "trace = %d is not a known rnnlab_trace", raw_enum(t));
  if (!cell_has_trace(m->spec, t))
    raise(RNNLAB_E_NOT_FOUND, "this model's cell has no '%s' trace", kTraceNames[t]);
  if (!m->have_pass) raise(RNNLAB_E_STATE, "no backward has run yet");
  if (m->stats.level < RNNLAB_DIAG_FULL)
    raise(RNNLAB_E_UNAVAILABLE, "'%s' needs diag level full; the last pass ran at %s", kTraceNames[t],
          m->stats.level == RNNLAB_DIAG_OFF ? "off" : "summary");
  return m->stats.traces[t];
}

// numpy.percentile's default (linear interpolation between closest ranks) on sorted values.
double percentile_sorted(const std::vector<double> &v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

void summarize(rnnlab_summary *out, int64_t *hist, int32_t bins, double lo, double hi, const double *values,
               size_t count) {
  if (out->struct_size < sizeof(rnnlab_summary) || out->struct_size > sizeof(rnnlab_summary))
    raise(RNNLAB_E_VERSION, "out->struct_size is %u; this library knows %u (use RNNLAB_SUMMARY_INIT)",
          out->struct_size, static_cast<unsigned>(sizeof(rnnlab_summary)));
  if (bins < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "bins = %d; must be >= 1", bins);
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo)
    raise(RNNLAB_E_INVALID_ARGUMENT, "range (%g, %g) is not a finite lo <= hi", lo, hi);
  std::vector<double> v;
  v.reserve(count);
  for (size_t i = 0; i < count; ++i)
    if (!std::isnan(values[i])) v.push_back(values[i]);
  std::sort(v.begin(), v.end());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  rnnlab_summary s = RNNLAB_SUMMARY_INIT;
  s.count = static_cast<int32_t>(v.size());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = v.empty() ? nan : sum / static_cast<double>(v.size());
  s.min = v.empty() ? nan : v.front();
  s.max = v.empty() ? nan : v.back();
  s.p05 = percentile_sorted(v, 0.05);
  s.p10 = percentile_sorted(v, 0.10);
  s.p25 = percentile_sorted(v, 0.25);
  s.p50 = percentile_sorted(v, 0.50);
  s.p75 = percentile_sorted(v, 0.75);
  s.p90 = percentile_sorted(v, 0.90);
  s.p95 = percentile_sorted(v, 0.95);
  if (lo == hi) {  // numpy.histogram with no range: the data's own, widened by 0.5 when flat
    if (v.empty()) {
      lo = 0;
      hi = 1;
    } else {
      lo = v.front();
      hi = v.back();
      if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
      }
    }
  }
  s.lo = lo;
  s.hi = hi;
  if (hist) {
    // numpy.histogram exactly: edges as numpy.linspace computes them (lo + k * step, the last one
    // hi), bins [edge_k, edge_k+1) with the last one closed, a first guess of the bin from the
    // scaled value, then corrected against the edges (a value on an edge goes to the bin it starts).
    std::fill(hist, hist + bins, 0);
    // Each edge is rounded twice, k * step and then + lo, as numpy does; a fused multiply-add
    // (which -march=native allows the compiler to form) would move values that sit on an edge.
    const double step = (hi - lo) / bins;
    auto edge = [&](int k) {
      if (k == bins) return hi;
      volatile double prod = static_cast<double>(k) * step;
      return prod + lo;
    };
    for (double x : v) {
      if (x < lo || x > hi) continue;
      int k = static_cast<int>(((x - lo) / (hi - lo)) * bins);
      k = std::min(std::max(k, 0), bins - 1);
      if (x < edge(k) && k > 0) --k;
      if (k != bins - 1 && x >= edge(k + 1)) ++k;
      ++hist[k];
    }
  }
  *out = s;
}

std::vector<double> block_matrix(const rnnlab_model *m, const rnnlab_block &block) {
  const int H = m->spec.H;
  if (raw_enum(block) < RNNLAB_BLOCK_HN || raw_enum(block) > RNNLAB_BLOCK_HR)
    raise(RNNLAB_E_INVALID_ARGUMENT, "block = %d is not a known rnnlab_block", raw_enum(block));
  int row0;
  if (!m->spec.is_gru()) {
    if (block != RNNLAB_BLOCK_HN)
      raise(RNNLAB_E_NOT_FOUND, "a vanilla RNN has no %s block (use RNNLAB_BLOCK_HN for W_hh)",
            block == RNNLAB_BLOCK_HZ ? "W_hz" : "W_hr");
    row0 = 0;
  } else {
    row0 = block == RNNLAB_BLOCK_HN ? 2 * H : block == RNNLAB_BLOCK_HZ ? H : 0;
  }
  const float *w = m->params.data() + m->layout.w_hh + static_cast<size_t>(row0) * H;
  return std::vector<double>(w, w + static_cast<size_t>(H) * H);
}

}  // namespace

extern "C" {

RNNLAB_API rnnlab_status rnnlab_set_diag_level(rnnlab_model *m, rnnlab_diag_level level) {
  return guarded("rnnlab_set_diag_level", [&] {
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    if (raw_enum(level) < RNNLAB_DIAG_OFF || raw_enum(level) > RNNLAB_DIAG_FULL)
      raise(RNNLAB_E_INVALID_ARGUMENT, "level = %d is not a known rnnlab_diag_level", raw_enum(level));
    m->diag.level = level;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_set_sat_thresh(rnnlab_model *m, float sat_thresh) {
  return guarded("rnnlab_set_sat_thresh", [&] {
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    if (!(sat_thresh > 0.0f && sat_thresh <= 0.5f))
      raise(RNNLAB_E_INVALID_ARGUMENT, "sat_thresh = %g; must be in (0, 0.5]", static_cast<double>(sat_thresh));
    m->diag.sat_thresh = sat_thresh;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_set_bound(rnnlab_model *m, double bound) {
  return guarded("rnnlab_set_bound", [&] {
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    if (!(bound >= 0.0 && std::isfinite(bound)))
      raise(RNNLAB_E_INVALID_ARGUMENT, "bound = %g; must be finite and >= 0", bound);
    m->diag.bound = bound;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_diagnostics(rnnlab_diag *out, const rnnlab_model *m) {
  return guarded("rnnlab_diagnostics", [&] {
    if (!out) raise(RNNLAB_E_NULL, "argument 'out' is NULL");
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    if (out->struct_size != sizeof(rnnlab_diag))
      raise(RNNLAB_E_VERSION, "out->struct_size is %u; this library knows %u (use RNNLAB_DIAG_INIT)",
            out->struct_size, static_cast<unsigned>(sizeof(rnnlab_diag)));
    if (!m->have_pass) raise(RNNLAB_E_STATE, "no backward has run yet");
    rnnlab_diag d = RNNLAB_DIAG_INIT;
    d.steps = m->stats.steps;
    d.batch = m->stats.batch;
    d.level = m->stats.level;
    d.loss = m->stats.loss;
    d.grad_norm = m->grad_norm;
    d.grad_norm_post_clip = m->grad_norm_post_clip;
    d.omega = m->stats.omega;
    d.steps_in_past = m->stats.steps_in_past;
    d.nonfinite = m->stats.nonfinite;
    d.nonfinite_first_t = m->stats.nonfinite_first_t;
    *out = d;
    return RNNLAB_OK;
  });
}

RNNLAB_API const char *rnnlab_trace_name(rnnlab_trace t) { return valid_trace(t) ? kTraceNames[t] : nullptr; }

RNNLAB_API rnnlab_status rnnlab_trace_from_name(rnnlab_trace *out, const char *name) {
  return guarded("rnnlab_trace_from_name", [&] {
    if (!out) raise(RNNLAB_E_NULL, "argument 'out' is NULL");
    if (!name) raise(RNNLAB_E_NULL, "argument 'name' is NULL");
    for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k)
      if (std::strcmp(kTraceNames[k], name) == 0) {
        *out = static_cast<rnnlab_trace>(k);
        return RNNLAB_OK;
      }
    raise(RNNLAB_E_NOT_FOUND, "no trace named '%s'", name);
  });
}

RNNLAB_API int rnnlab_has_trace(const rnnlab_model *m, rnnlab_trace t) {
  return m && valid_trace(t) && cell_has_trace(m->spec, t) ? 1 : 0;
}

RNNLAB_API rnnlab_status rnnlab_get_trace(double *out, size_t count, int32_t *len, const rnnlab_model *m,
                                          rnnlab_trace t) {
  return guarded("rnnlab_get_trace", [&] {
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    const std::vector<double> &v = trace_of(m, t);
    if (!out && count != 0) raise(RNNLAB_E_NULL, "argument 'out' is NULL but count is %zu", count);
    if (out && count < v.size())
      raise(RNNLAB_E_SIZE_MISMATCH, "out has %zu elements; the trace has %zu", count, v.size());
    if (!out && !len) raise(RNNLAB_E_NULL, "arguments 'out' and 'len' are both NULL");
    if (len) *len = static_cast<int32_t>(v.size());
    if (out) std::copy(v.begin(), v.end(), out);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_grad_norm_blocks(double *norms, const char **names, size_t count, int32_t *n,
                                                 const rnnlab_model *m) {
  return guarded("rnnlab_grad_norm_blocks", [&] {
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    if (!n) raise(RNNLAB_E_NULL, "argument 'n' is NULL");
    if (!m->have_pass) raise(RNNLAB_E_STATE, "no backward has run yet");
    if (m->stats.level < RNNLAB_DIAG_SUMMARY)
      raise(RNNLAB_E_UNAVAILABLE, "grad_norm_blocks needs diag level summary or full; the last pass ran at off");
    const size_t k = m->block_norms.size();
    if (!norms && (count != 0 || names))
      raise(RNNLAB_E_NULL, "argument 'norms' is NULL but count is %zu", count);
    if (norms && count < k) raise(RNNLAB_E_SIZE_MISMATCH, "norms has %zu elements; there are %zu blocks", count, k);
    *n = static_cast<int32_t>(k);
    if (norms) {
      std::copy(m->block_norms.begin(), m->block_norms.end(), norms);
      if (names)
        for (size_t i = 0; i < k; ++i) names[i] = m->layout.blocks[i].name.c_str();
    }
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_summarize(rnnlab_summary *out, int64_t *hist, int32_t bins, double lo, double hi,
                                          const double *values, size_t count) {
  return guarded("rnnlab_summarize", [&] {
    if (!out) raise(RNNLAB_E_NULL, "argument 'out' is NULL");
    if (!values && count) raise(RNNLAB_E_NULL, "argument 'values' is NULL but count is %zu", count);
    summarize(out, hist, bins, lo, hi, values, count);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_trace_summary(rnnlab_summary *out, int64_t *hist, int32_t bins, double lo, double hi,
                                              const rnnlab_model *m, rnnlab_trace t) {
  return guarded("rnnlab_trace_summary", [&] {
    if (!out) raise(RNNLAB_E_NULL, "argument 'out' is NULL");
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    std::vector<double> v = trace_of(m, t);
    if (t == RNNLAB_TRACE_GRAD_TIME)
      for (double &g : v) g = std::log10(g + 1e-12);
    summarize(out, hist, bins, lo, hi, v.data(), v.size());
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_spectral(double *rho, double *sigma_max, const rnnlab_model *m, rnnlab_block block) {
  return guarded("rnnlab_spectral", [&] {
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    if (!rho && !sigma_max) raise(RNNLAB_E_NULL, "arguments 'rho' and 'sigma_max' are both NULL");
    const std::vector<double> W = block_matrix(m, block);
    const int H = m->spec.H;
    const double r = rho ? spectral_radius(W, H) : 0.0;
    const double s = sigma_max ? largest_singular_value(W, H, H) : 0.0;
    if (rho) *rho = r;
    if (sigma_max) *sigma_max = s;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_jacobian(float *J, size_t count, const rnnlab_model *m, int32_t t, int32_t b) {
  return guarded("rnnlab_jacobian", [&] {
    if (!J) raise(RNNLAB_E_NULL, "argument 'J' is NULL");
    if (!m) raise(RNNLAB_E_NULL, "argument 'model' is NULL");
    const int steps = m->backend->jacobian_steps();
    if (steps == 0) raise(RNNLAB_E_STATE, "no recorded forward (step in training mode first)");
    if (t < 0 || t >= steps) raise(RNNLAB_E_INVALID_ARGUMENT, "t = %d; the recorded forward has steps 0..%d", t, steps - 1);
    if (b < 0 || b >= m->batch)
      raise(RNNLAB_E_INVALID_ARGUMENT, "b = %d; the recorded forward has sequences 0..%d", b, m->batch - 1);
    const size_t H = static_cast<size_t>(m->spec.H);
    if (count != H * H) raise(RNNLAB_E_SIZE_MISMATCH, "J has %zu elements, expected H*H = %zu", count, H * H);
    m->backend->jacobian(m->params.data(), t, b, J);
    return RNNLAB_OK;
  });
}

}  // extern "C"
