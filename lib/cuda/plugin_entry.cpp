// The one symbol librnnlab_cuda.so exports (lib/cuda/plugin.map): the table the core's loader
// (core/cuda_plugin.cpp) checks and calls.
#include "core/cuda_plugin.h"

namespace {
// Filled once, on the first call (a function-local static: thread safe).
const rnnlab::CudaPluginTable *table() {
  static char tag[512];
  static const rnnlab::CudaPluginTable t = [] {
    rnnlab::cuda_plugin_abi_tag(tag, sizeof tag);
    return rnnlab::CudaPluginTable{tag, &rnnlab::cuda_device_usable, &rnnlab::make_cuda_backend};
  }();
  return &t;
}
}  // namespace

extern "C" __attribute__((visibility("default"))) const rnnlab::CudaPluginTable *rnnlab_cuda_plugin_entry_v1(void) {
  return table();
}
