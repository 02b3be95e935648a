// The GPU benchmark (spec/cuda.md, spec/performance.md), one table:
//   P1   rnnlab CUDA forward + backward at diag off / summary / full, against cuDNN's own fused GRU
//        forward + backward (v8 RNN API, no diagnostics) driven directly in this process
//   P2   one CS728 training iteration (forward, backward, update) on rnnlab CUDA
//   P3   one CS728 validation chunk (eval forward + loss) on rnnlab CUDA
//   seed 000's epoch (50 000 images, T = 1024, B = 128, 391 updates) extrapolated from measured updates
//   the seam: the parameter upload and gradient download of one update at P1 and P2
// Medians of repeated runs, after warm-up. Reports; asserts nothing. Needs a usable CUDA device.
#include <cuda_runtime.h>
#include <cudnn.h>
#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

#define CK(x)                                                                     \
  do {                                                                            \
    if (!(x)) {                                                                   \
      std::fprintf(stderr, "cuda_bench: %s failed (line %d)\n", #x, __LINE__);    \
      std::exit(1);                                                               \
    }                                                                             \
  } while (0)
#define CU(x) CK((x) == cudaSuccess)
#define DN(x) CK((x) == CUDNN_STATUS_SUCCESS)
#define RL(x) CK((x) == RNNLAB_OK)

double median_ms(int reps, const std::function<void()> &f) {
  std::vector<double> v;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    v.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Shape {
  int I, H, T, B, O;
  rnnlab_head head;
};

rnnlab_model *make(const Shape &s, rnnlab_diag_level lvl) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = s.I;
  c.hidden_size = s.H;
  c.head = s.head;
  c.output_size = s.O;
  c.backend = RNNLAB_BACKEND_CUDA;
  c.diag_level = lvl;
  rnnlab_model *m = nullptr;
  if (rnnlab_create(&m, &c) != RNNLAB_OK) {
    std::fprintf(stderr, "cuda_bench: rnnlab_create: %s\n", rnnlab_last_error());
    std::exit(1);
  }
  const rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;  // rnnlab_update needs one
  RL(rnnlab_set_optimizer(m, &oc));
  return m;
}

struct Batch {
  std::vector<float> x;
  std::vector<int32_t> cls;
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
};

Batch batch(const Shape &s) {
  Batch b;
  std::mt19937 g(1);
  std::normal_distribution<float> nd;
  b.x.resize(static_cast<size_t>(s.T) * s.B * s.I);
  for (auto &v : b.x) v = nd(g);
  b.cls.resize(static_cast<size_t>(s.head == RNNLAB_HEAD_EVERY_SOFTMAX ? s.T : 1) * s.B);
  for (size_t k = 0; k < b.cls.size(); ++k) b.cls[k] = static_cast<int32_t>(g() % s.O);
  b.tg.classes = b.cls.data();
  b.tg.count = b.cls.size();
  return b;
}

// One pass (reset, forward over T steps, backward), and optionally the update.
void pass(rnnlab_model *m, const Shape &s, Batch &b, bool update) {
  RL(rnnlab_reset(m));
  RL(rnnlab_step(nullptr, 0, m, b.x.data(), b.x.size(), s.T, s.B));
  RL(rnnlab_backward(m, &b.tg));
  if (update) RL(rnnlab_update(m));
}

// cuDNN's fused LBR GRU, forward (training mode) + backward data + backward weights, no diagnostics.
double cudnn_gru_ms(const Shape &s, int reps) {
  cudnnHandle_t h;
  DN(cudnnCreate(&h));
  cudnnDropoutDescriptor_t drop;
  DN(cudnnCreateDropoutDescriptor(&drop));
  size_t drop_bytes = 0;
  DN(cudnnDropoutGetStatesSize(h, &drop_bytes));
  void *drop_states = nullptr;
  CU(cudaMalloc(&drop_states, drop_bytes));
  DN(cudnnSetDropoutDescriptor(drop, h, 0.0f, drop_states, drop_bytes, 0));
  cudnnRNNDescriptor_t rnn;
  DN(cudnnCreateRNNDescriptor(&rnn));
  // FMA math (no TF32) and double bias: the settings that keep parity with rnnlab (spec/cuda.md).
  DN(cudnnSetRNNDescriptor_v8(rnn, CUDNN_RNN_ALGO_STANDARD, CUDNN_GRU, CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL,
                              CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, CUDNN_FMA_MATH, s.I, s.H, s.H, 1,
                              drop, CUDNN_RNN_PADDED_IO_DISABLED));
  std::vector<int> lens(s.B, s.T);
  cudnnRNNDataDescriptor_t xd, yd;
  DN(cudnnCreateRNNDataDescriptor(&xd));
  DN(cudnnCreateRNNDataDescriptor(&yd));
  DN(cudnnSetRNNDataDescriptor(xd, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, s.T, s.B, s.I,
                               lens.data(), nullptr));
  DN(cudnnSetRNNDataDescriptor(yd, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, s.T, s.B, s.H,
                               lens.data(), nullptr));
  cudnnTensorDescriptor_t hd;
  DN(cudnnCreateTensorDescriptor(&hd));
  const int dims[3] = {1, s.B, s.H}, strides[3] = {s.B * s.H, s.H, 1};
  DN(cudnnSetTensorNdDescriptor(hd, CUDNN_DATA_FLOAT, 3, dims, strides));
  size_t wsize = 0, work = 0, reserve = 0;
  DN(cudnnGetRNNWeightSpaceSize(h, rnn, &wsize));
  DN(cudnnGetRNNTempSpaceSizes(h, rnn, CUDNN_FWD_MODE_TRAINING, xd, &work, &reserve));
  const size_t nx = static_cast<size_t>(s.T) * s.B * s.I, ny = static_cast<size_t>(s.T) * s.B * s.H,
               nh = static_cast<size_t>(s.B) * s.H;
  float *x, *y, *dx, *dy, *hx, *hy, *dhx, *w, *dw;
  void *ws, *rs;
  int32_t *dlen;
  CU(cudaMalloc(&x, nx * 4));
  CU(cudaMalloc(&dx, nx * 4));
  CU(cudaMalloc(&y, ny * 4));
  CU(cudaMalloc(&dy, ny * 4));
  CU(cudaMalloc(&hx, nh * 4));
  CU(cudaMalloc(&hy, nh * 4));
  CU(cudaMalloc(&dhx, nh * 4));
  CU(cudaMalloc(&w, wsize));
  CU(cudaMalloc(&dw, wsize));
  CU(cudaMalloc(&ws, work));
  CU(cudaMalloc(&rs, reserve));
  CU(cudaMalloc(&dlen, s.B * sizeof(int32_t)));
  CU(cudaMemcpy(dlen, lens.data(), s.B * sizeof(int32_t), cudaMemcpyHostToDevice));
  CU(cudaMemset(x, 0, nx * 4));
  CU(cudaMemset(hx, 0, nh * 4));
  CU(cudaMemset(dy, 0, ny * 4));
  {
    std::vector<float> wh(wsize / 4);
    std::mt19937 g(2);
    std::uniform_real_distribution<float> u(-0.07f, 0.07f);
    for (auto &v : wh) v = u(g);
    CU(cudaMemcpy(w, wh.data(), wsize, cudaMemcpyHostToDevice));
    std::vector<float> xh(nx);
    std::normal_distribution<float> nd;
    for (auto &v : xh) v = nd(g);
    CU(cudaMemcpy(x, xh.data(), nx * 4, cudaMemcpyHostToDevice));
    std::vector<float> dyh(ny);
    for (auto &v : dyh) v = 1e-3f * nd(g);
    CU(cudaMemcpy(dy, dyh.data(), ny * 4, cudaMemcpyHostToDevice));
  }
  auto once = [&] {
    DN(cudnnRNNForward(h, rnn, CUDNN_FWD_MODE_TRAINING, dlen, xd, x, yd, y, hd, hx, hy, hd, nullptr, nullptr, wsize, w,
                       work, ws, reserve, rs));
    DN(cudnnRNNBackwardData_v8(h, rnn, dlen, yd, y, dy, xd, dx, hd, hx, nullptr, dhx, hd, nullptr, nullptr, nullptr,
                               wsize, w, work, ws, reserve, rs));
    CU(cudaMemsetAsync(dw, 0, wsize));
    DN(cudnnRNNBackwardWeights_v8(h, rnn, CUDNN_WGRAD_MODE_ADD, dlen, xd, x, hd, hx, yd, y, wsize, dw, work, ws, reserve,
                                  rs));
    CU(cudaDeviceSynchronize());
  };
  once();
  once();
  const double ms = median_ms(reps, once);
  for (void *p : {static_cast<void *>(x), static_cast<void *>(dx), static_cast<void *>(y), static_cast<void *>(dy),
                  static_cast<void *>(hx), static_cast<void *>(hy), static_cast<void *>(dhx), static_cast<void *>(w),
                  static_cast<void *>(dw), ws, rs, static_cast<void *>(dlen), drop_states})
    cudaFree(p);
  cudnnDestroyTensorDescriptor(hd);
  cudnnDestroyRNNDataDescriptor(xd);
  cudnnDestroyRNNDataDescriptor(yd);
  cudnnDestroyRNNDescriptor(rnn);
  cudnnDestroyDropoutDescriptor(drop);
  cudnnDestroy(h);
  return ms;
}

// Host <-> device copies of one parameter vector of this shape (what the seam costs per update).
double seam_ms(const Shape &s) {
  const size_t n = static_cast<size_t>(3 * s.H) * (s.I + s.H + 2) + static_cast<size_t>(s.O) * (s.H + 1);
  std::vector<float> host(n, 1.0f);
  float *d;
  CU(cudaMalloc(&d, n * 4));
  auto once = [&] {
    CU(cudaMemcpy(d, host.data(), n * 4, cudaMemcpyHostToDevice));
    CU(cudaMemcpy(host.data(), d, n * 4, cudaMemcpyDeviceToHost));
  };
  once();
  const double ms = median_ms(20, once);
  cudaFree(d);
  return ms;
}

}  // namespace

int main(int argc, char **argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  if (!rnnlab_backend_available(RNNLAB_BACKEND_CUDA)) {
    rnnlab_config c = RNNLAB_CONFIG_INIT;
    c.input_size = 1;
    c.hidden_size = 1;
    c.backend = RNNLAB_BACKEND_CUDA;
    rnnlab_model *m = nullptr;
    rnnlab_create(&m, &c);
    std::printf("cuda_bench: no usable CUDA device: %s\n", rnnlab_last_error());
    return 77;
  }
  cudaDeviceProp prop;
  CU(cudaGetDeviceProperties(&prop, 0));
  std::printf("GPU: %s (sm_%d%d), cuDNN %zu, rnnlab %s, medians of %d runs\n", prop.name, prop.major, prop.minor,
              cudnnGetVersion(), rnnlab_version(), reps);

  const Shape p1 = {1, 181, 1024, 64, 10, RNNLAB_HEAD_LAST_SOFTMAX};
  const Shape p2 = {7, 50, 220, 20, 6, RNNLAB_HEAD_EVERY_SOFTMAX};
  const Shape p3 = {7, 50, 220, 1000, 6, RNNLAB_HEAD_EVERY_SOFTMAX};
  const Shape seed = {1, 181, 1024, 128, 10, RNNLAB_HEAD_LAST_SOFTMAX};

  const double anchor = cudnn_gru_ms(p1, reps);
  std::printf("\n| case | what | ms | x cuDNN fwd+bwd |\n|---|---|---:|---:|\n");
  std::printf("| P1 | cuDNN GRU fwd+bwd (direct, no diagnostics) | %.2f | 1.00 |\n", anchor);
  const char *lname[] = {"off", "summary", "full"};
  for (rnnlab_diag_level lvl : {RNNLAB_DIAG_OFF, RNNLAB_DIAG_SUMMARY, RNNLAB_DIAG_FULL}) {
    rnnlab_model *m = make(p1, lvl);
    Batch b = batch(p1);
    pass(m, p1, b, false);
    const double ms = median_ms(reps, [&] { pass(m, p1, b, false); });
    std::printf("| P1 | rnnlab CUDA fwd+bwd, diag %s | %.2f | %.2f |\n", lname[lvl], ms, ms / anchor);
    rnnlab_destroy(m);
  }
  {
    // The backend's opt-in cuDNN recurrence (diag level off), read when a model is created.
    setenv("RNNLAB_CUDA_CUDNN", "1", 1);
    rnnlab_model *m = make(p1, RNNLAB_DIAG_OFF);
    unsetenv("RNNLAB_CUDA_CUDNN");
    Batch b = batch(p1);
    pass(m, p1, b, false);
    const double ms = median_ms(reps, [&] { pass(m, p1, b, false); });
    std::printf("| P1 | rnnlab CUDA fwd+bwd, diag off, RNNLAB_CUDA_CUDNN=1 | %.2f | %.2f |\n", ms, ms / anchor);
    rnnlab_destroy(m);
  }
  const double anchor2 = cudnn_gru_ms(p2, reps * 4);
  std::printf("| P2 | cuDNN GRU fwd+bwd (direct; no head, loss or update) | %.2f | |\n", anchor2);
  {
    rnnlab_model *m = make(p2, RNNLAB_DIAG_FULL);
    Batch b = batch(p2);
    pass(m, p2, b, true);
    const double ms = median_ms(reps * 4, [&] { pass(m, p2, b, true); });
    std::printf("| P2 | rnnlab CUDA fwd+bwd+update, diag full | %.2f | |\n", ms);
    rnnlab_destroy(m);
  }
  {
    rnnlab_model *m = make(p3, RNNLAB_DIAG_OFF);
    RL(rnnlab_set_training(m, 0));
    Batch b = batch(p3);
    auto once = [&] {
      RL(rnnlab_reset(m));
      RL(rnnlab_step(nullptr, 0, m, b.x.data(), b.x.size(), p3.T, p3.B));
      double loss = 0;
      int32_t wrong = 0;
      RL(rnnlab_loss(&loss, &wrong, m, &b.tg, 0.0f));
    };
    once();
    const double ms = median_ms(reps * 2, once);
    std::printf("| P3 | rnnlab CUDA eval forward + loss | %.2f | |\n", ms);
    rnnlab_destroy(m);
  }
  std::printf("| seam | params up + grads down, P1 size | %.3f | |\n", seam_ms(p1));
  std::printf("| seam | params up + grads down, P2 size | %.3f | |\n", seam_ms(p2));
  const int updates = 50000 / 128 + (50000 % 128 ? 1 : 0);
  for (rnnlab_diag_level lvl : {RNNLAB_DIAG_OFF, RNNLAB_DIAG_FULL}) {
    rnnlab_model *m = make(seed, lvl);
    Batch b = batch(seed);
    pass(m, seed, b, true);
    const double ms = median_ms(reps, [&] { pass(m, seed, b, true); });
    std::printf("| seed 000 | one update (B = 128), diag %s; epoch = %d updates: %.1f s | %.2f | |\n", lname[lvl],
                updates, ms * updates / 1000.0, ms);
    rnnlab_destroy(m);
  }
  return 0;
}
