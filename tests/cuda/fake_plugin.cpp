// A module that exports the CUDA module's entry point but answers with another build's ABI tag:
// test_cuda_plugin's "mismatch" run points RNNLAB_CUDA_PLUGIN at it and expects the core to refuse it
// before it uses anything else in the table.
#include "core/cuda_plugin.h"

namespace {
const rnnlab::CudaPluginTable kTable = {"rnnlab-cuda-plugin-v1 rnnlab 0.0.0 from some other build", nullptr, nullptr};
}

extern "C" __attribute__((visibility("default"))) const rnnlab::CudaPluginTable *rnnlab_cuda_plugin_entry_v1(void) {
  return &kTable;
}
