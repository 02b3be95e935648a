// What every backend shares (compiled into the CUDA module too). Backends that are not built in
// answer their factory with null (the core turns that into RNNLAB_E_NO_DEVICE, or AUTO falls back to
// the reference backend); the CUDA factory is core/cuda_plugin.cpp's.
#include "core/backend.h"

#include "common/head.h"

namespace rnnlab {

double Backend::loss(const ModelSpec &spec, int B, int T, const float *const *ys, const int32_t *classes,
                     const float *values, int32_t *n_wrong, double err_abs, int threads) const {
  return head_loss<float>(spec.head, spec.O, B, T, ys, classes, values, nullptr, n_wrong, err_abs, threads);
}

#ifndef RNNLAB_HAVE_ONEDNN
std::unique_ptr<Backend> make_cpu_backend(const ModelSpec &, const CpuOptions &) { return nullptr; }
#endif

bool cell_has_trace(const ModelSpec &s, rnnlab_trace t) {
  switch (t) {
    case RNNLAB_TRACE_GRAD_TIME:
    case RNNLAB_TRACE_ACT_TIME:
    case RNNLAB_TRACE_TRANSFER_TIME: return true;
    case RNNLAB_TRACE_SAT_TIME: return s.cell != RNNLAB_CELL_RNN_LINEAR;
    case RNNLAB_TRACE_SAT_FRAC_TIME: return s.cell != RNNLAB_CELL_RNN_LINEAR && s.cell != RNNLAB_CELL_RNN_RELU;
    case RNNLAB_TRACE_CAND_ACT_TIME:
    case RNNLAB_TRACE_GATE_Z_SAT_TIME:
    case RNNLAB_TRACE_GATE_R_SAT_TIME:
    case RNNLAB_TRACE_GATE_Z_MEAN_TIME:
    case RNNLAB_TRACE_GATE_R_MEAN_TIME:
    case RNNLAB_TRACE_GATE_Z_PREACT_TIME:
    case RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME:
    case RNNLAB_TRACE_GATE_R_SAT_FRAC_TIME: return s.is_gru();
    default: return false;
  }
}

}  // namespace rnnlab
