// The one internal interface every backend implements (reference, cpu, cuda).
//
// The core (lib/core/api.cpp) validates every argument before it calls a backend, owns the flat
// parameter and gradient buffers (host float32, layout of core/spec.h), zeroes the gradients of held
// entries, and computes grad_norm. A backend owns the hidden state and the tape. A backend method
// either completes or throws before it has changed anything (it reserves memory first).
#ifndef RNNLAB_CORE_BACKEND_H
#define RNNLAB_CORE_BACKEND_H

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/spec.h"

namespace rnnlab {

// What backward starts from (validated by the core).
struct TargetsView {
  const int32_t *classes = nullptr;
  const float *values = nullptr;
  const float *dy = nullptr;
  const double *values64 = nullptr;  // reference engine only: double targets for the double-precision tests
};

// What a backward pass reports (diagnostics.md). Traces are filled at level full, only those the
// cell has; the others stay empty.
struct PassStats {
  int steps = 0, batch = 0;
  rnnlab_diag_level level = RNNLAB_DIAG_OFF;
  double loss = 0;
  double omega = 0, steps_in_past = 0;
  int64_t nonfinite = 0;
  int nonfinite_first_t = -1;
  std::array<std::vector<double>, RNNLAB_TRACE_COUNT> traces;
  // Only when DiagSettings::omega_grad (vanilla RNNs): dOmega/dW_hh, H*H row-major in weight_hh's
  // layout, the immediate partial of tasks.md (delta and h held constant), already divided by the
  // number of valid (t, b); zeros when none is valid. A backend that cannot compute it must decline
  // (throw UNSUPPORTED) before it changes anything. omega and steps_in_past are then filled too.
  std::vector<double> omega_grad;
};

// Which traces a cell has.
bool cell_has_trace(const ModelSpec &spec, rnnlab_trace trace);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual rnnlab_backend kind() const = 0;

  // Starts B sequences from h0 (B*H values, or null for zeros); clears the tape.
  virtual void reset(int B, const float *h0) = 0;
  // Runs T steps of x (T*B*I). Writes each step's output into y (T*B*out_width). record: append
  // what backward needs to the tape.
  virtual void step(const float *params, const float *x, int T, float *y, bool record,
                    const DiagSettings &ds) = 0;
  virtual int tape_steps() const = 0;
  // Drops the tape (eval mode), keeping the hidden state.
  virtual void clear_tape() = 0;
  // Back-propagates through the tape, adding into grads; fills stats; clears the tape but keeps
  // what jacobian() and the input/h0 gradients need until the next step.
  virtual void backward(const float *params, float *grads, const TargetsView &tg, const DiagSettings &ds,
                        PassStats *stats) = 0;
  virtual void hidden(float *h) const = 0;
  virtual int batch() const = 0;
  // Gradients of the last backward: dL/dx (steps*B*I) and dL/dh0 (B*H).
  virtual int grad_steps() const = 0;
  virtual void input_grad(float *dx) const = 0;
  virtual void h0_grad(float *dh0) const = 0;
  // Steps whose Jacobian can be asked for (the current tape, or the last consumed one).
  virtual int jacobian_steps() const = 0;
  virtual void jacobian(const float *params, int t, int b, float *J) const = 0;
  // Whether backward honours DiagSettings::omega_grad (PassStats::omega_grad). When false, the core
  // declines the optimiser's alpha > 0 with UNSUPPORTED (core/optim.cpp).
  virtual bool omega_grad_supported() const { return false; }
  // rnnlab_loss: the loss and wrong-sequence count of outputs ys[0..T) (each B x O) against
  // classes or values (common/head.h's head_loss). The default runs the core's build of it; the CPU
  // backend runs its own, compiled for its ISA level and under its floating-point mode.
  virtual double loss(const ModelSpec &spec, int B, int T, const float *const *ys, const int32_t *classes,
                      const float *values, int32_t *n_wrong, double err_abs, int threads) const;
};

// Factories; each returns null when that backend is not built in.
std::unique_ptr<Backend> make_reference_backend(const ModelSpec &spec);
// What the CPU backend takes from the config beside the model's shape.
struct CpuOptions {
  int threads = 1;
  rnnlab_denormals denormals = RNNLAB_DENORMALS_FLUSH;
  rnnlab_cpu_isa isa = RNNLAB_ISA_BASELINE;  // resolved (never AUTO); at most rnnlab_cpu_isa_best()
};
std::unique_ptr<Backend> make_cpu_backend(const ModelSpec &spec, const CpuOptions &options);
// CUDA: null when it is not built in or no device is usable; then *why (if not null) says which
// (built without CUDA, no driver, no device). cuda_device_usable answers the same question alone.
std::unique_ptr<Backend> make_cuda_backend(const ModelSpec &spec, std::string *why);
bool cuda_device_usable(std::string *why);

}  // namespace rnnlab

#endif
