// RNNLAB_BACKEND_REFERENCE: the reference engine in float behind the backend interface.
#include "core/backend.h"
#include "reference/ref_engine.h"

#include <algorithm>

namespace rnnlab {

namespace {

class ReferenceBackend final : public Backend {
 public:
  explicit ReferenceBackend(const ModelSpec &spec) : e_(spec) {}
  rnnlab_backend kind() const override { return RNNLAB_BACKEND_REFERENCE; }
  void reset(int B, const float *h0) override { e_.reset(B, h0); }
  void step(const float *params, const float *x, int T, float *y, bool record, const DiagSettings &) override {
    e_.step(params, x, T, y, record);
  }
  int tape_steps() const override { return e_.tape_steps(); }
  void clear_tape() override { e_.clear_tape(); }
  void backward(const float *params, float *grads, const TargetsView &tg, const DiagSettings &ds,
                PassStats *stats) override {
    e_.backward(params, grads, tg, ds, stats);
  }
  void hidden(float *h) const override { std::copy(e_.hidden().begin(), e_.hidden().end(), h); }
  int batch() const override { return e_.batch(); }
  int grad_steps() const override { return e_.grad_steps(); }
  void input_grad(float *dx) const override { std::copy(e_.input_grad().begin(), e_.input_grad().end(), dx); }
  void h0_grad(float *dh0) const override { std::copy(e_.h0_grad().begin(), e_.h0_grad().end(), dh0); }
  int jacobian_steps() const override { return e_.recorded_steps(); }
  void jacobian(const float *params, int t, int b, float *J) const override { e_.jacobian(params, t, b, J); }
  bool omega_grad_supported() const override { return true; }

 private:
  RefEngine<float> e_;
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend(const ModelSpec &spec) {
  return std::make_unique<ReferenceBackend>(spec);
}

}  // namespace rnnlab
