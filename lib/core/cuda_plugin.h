// The seam between the core and the CUDA backend, which lives in a module of its own
// (librnnlab_cuda.so.<major>, lib/cuda/) so that a process that never uses a GPU never maps the CUDA
// runtime, cuBLAS or cuDNN. The core (core/cuda_plugin.cpp) finds and dlopens the module on demand,
// calls its one exported function and checks the answer's ABI tag before it touches anything else.
//
// The module is not a stable plugin interface: it carries C++ objects (ModelSpec, std::string,
// std::unique_ptr<Backend> and Backend's vtable) across, so the core accepts only a module built
// from the same sources with the same compiler, which the tag spells out: project version, a hash
// of the headers whose types cross (CMake computes it), the layouts of those types, the compiler.
#ifndef RNNLAB_CORE_CUDA_PLUGIN_H
#define RNNLAB_CORE_CUDA_PLUGIN_H

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>

#include "core/backend.h"

#ifndef RNNLAB_CUDA_PLUGIN_IFACE_HASH
#define RNNLAB_CUDA_PLUGIN_IFACE_HASH "unknown"
#endif

namespace rnnlab {

// What rnnlab_cuda_plugin_entry_v1 returns. Version 1 of this entry keeps abi_tag first: the core
// reads it, and nothing else, before it has compared it with its own.
struct CudaPluginTable {
  const char *abi_tag;
  // The CUDA backend's own answers (lib/cuda/cuda_backend.cu): whether the runtime sees a usable
  // device (else *why says why), and a backend for spec (null and *why when no device is usable).
  bool (*device_usable)(std::string *why);
  std::unique_ptr<Backend> (*make_backend)(const ModelSpec &spec, std::string *why);
};

// File name of the module: the library's soname with "_cuda" (SOVERSION = the major version).
#define RNNLAB_CUDA_PLUGIN_STR2(x) #x
#define RNNLAB_CUDA_PLUGIN_STR(x) RNNLAB_CUDA_PLUGIN_STR2(x)
#define RNNLAB_CUDA_PLUGIN_FILE "librnnlab_cuda.so." RNNLAB_CUDA_PLUGIN_STR(RNNLAB_VERSION_MAJOR)
#define RNNLAB_CUDA_PLUGIN_ENTRY "rnnlab_cuda_plugin_entry_v1"

// Writes the ABI tag of the code that compiles this into buf (both sides compile it; they must
// agree byte for byte). Never throws.
inline void cuda_plugin_abi_tag(char *buf, size_t n) {
  std::snprintf(buf, n,
                "rnnlab-cuda-plugin-v1 rnnlab %d.%d.%d iface %s | ModelSpec %zu/%zu cell@%zu I@%zu H@%zu O@%zu "
                "head@%zu bias@%zu frozen@%zu | DiagSettings %zu PassStats %zu TargetsView %zu Backend %zu "
                "CudaPluginTable %zu | std::string %zu unique_ptr %zu | cxx11abi %d | %s",
                RNNLAB_VERSION_MAJOR, RNNLAB_VERSION_MINOR, RNNLAB_VERSION_PATCH, RNNLAB_CUDA_PLUGIN_IFACE_HASH,
                sizeof(ModelSpec), alignof(ModelSpec), offsetof(ModelSpec, cell), offsetof(ModelSpec, I),
                offsetof(ModelSpec, H), offsetof(ModelSpec, O), offsetof(ModelSpec, head),
                offsetof(ModelSpec, bias_mode), offsetof(ModelSpec, frozen_value), sizeof(DiagSettings),
                sizeof(PassStats), sizeof(TargetsView), sizeof(Backend), sizeof(CudaPluginTable),
                sizeof(std::string), sizeof(std::unique_ptr<Backend>),
#ifdef _GLIBCXX_USE_CXX11_ABI
                _GLIBCXX_USE_CXX11_ABI,
#else
                -1,
#endif
#ifdef __VERSION__
                __VERSION__
#else
                "unknown compiler"
#endif
  );
}

// The loader's view (core/cuda_plugin.cpp). The table of the module, loaded on first use (thread
// safe, once per process; a failure is remembered too), or null with *why saying why: built without
// CUDA, the module not found (the paths tried), not loadable (dlerror), not an rnnlab CUDA module,
// or one from another build (ABI tag mismatch).
const CudaPluginTable *cuda_plugin(std::string *why);
// Where the module would be loaded from, without loading it (empty when it is not found, or this
// rnnlab was built without CUDA); *tried (if not null) lists the places looked at.
std::string cuda_plugin_path(std::string *tried);
// The cheap check before any of that: libcuda.so.1 loads and cuInit + cuDeviceGetCount see a
// device (no CUDA runtime involved). Else false and *why: no driver, the driver's error, no device.
bool cuda_driver_has_device(std::string *why);

}  // namespace rnnlab

// The module's one exported symbol (lib/cuda/plugin_entry.cpp). Never throws.
extern "C" const rnnlab::CudaPluginTable *rnnlab_cuda_plugin_entry_v1(void);

#endif
