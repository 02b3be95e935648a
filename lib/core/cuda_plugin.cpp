// RNNLAB_BACKEND_CUDA from the core's side: the CUDA backend is a module of its own
// (librnnlab_cuda.so.<major>, core/cuda_plugin.h), loaded the first time a CUDA model is asked for, so
// that the CUDA runtime, cuBLAS and cuDNN (~150 MiB resident, ~0.4 s to load) cost nothing to a
// process that never uses a GPU. Cheap before expensive: whether a GPU is there at all is asked of
// the driver (libcuda.so.1, a few symbols looked up by hand) before the module is loaded.
//
// Where the module is looked for, first match wins:
//   1. $RNNLAB_CUDA_PLUGIN, a full path (set and not loadable: that is the answer, with dlerror);
//   2. the directory of the binary holding this code: librnnlab.so's, or that of the executable or
//      Python extension that linked librnnlab.a (the wheel ships the module beside its extension);
//   3. the install libdir compiled in (RNNLAB_CUDA_PLUGIN_LIBDIR, from CMAKE_INSTALL_FULL_LIBDIR);
//   4. the dynamic loader's own search for the bare file name (LD_LIBRARY_PATH, RUNPATH: build trees
//      have the build's lib/ there, the ld.so cache, the system directories).
// Every answer, good or bad, is worked out once per process under a mutex and then remembered.
#include "core/cuda_plugin.h"

#ifdef RNNLAB_HAVE_CUDA
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>
#endif

namespace rnnlab {

#ifndef RNNLAB_HAVE_CUDA

namespace {
const char kNotBuilt[] = "this rnnlab was built without the CUDA backend";
}

const CudaPluginTable *cuda_plugin(std::string *why) {
  if (why) *why = kNotBuilt;
  return nullptr;
}
std::string cuda_plugin_path(std::string *tried) {
  if (tried) tried->clear();
  return {};
}
bool cuda_driver_has_device(std::string *why) {
  if (why) *why = kNotBuilt;
  return false;
}

#else

namespace {

bool is_file(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dir_of(const std::string &p) {
  const size_t k = p.rfind('/');
  if (k == std::string::npos) return ".";
  return k == 0 ? "/" : p.substr(0, k);
}

std::string dl_error() {
  const char *e = dlerror();
  return e ? e : "unknown dlerror";
}

const char *env_plugin() {
  const char *e = std::getenv("RNNLAB_CUDA_PLUGIN");
  return e && *e ? e : nullptr;
}

// dladdr maps this function's address back to the object that holds the loader.
void where_the_loader_lives() {}

// The file of the binary that holds this code, and a dlopen handle on it (null if unknown; the
// caller dlcloses it).
std::string own_binary(void **handle) {
  *handle = nullptr;
  Dl_info info{};
  struct link_map *lm = nullptr;
  if (dladdr1(reinterpret_cast<void *>(&where_the_loader_lives), &info, reinterpret_cast<void **>(&lm),
              RTLD_DL_LINKMAP) == 0 || lm == nullptr)
    return {};
  if (lm->l_name && lm->l_name[0]) {
    *handle = dlopen(lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
    char buf[PATH_MAX];
    return realpath(lm->l_name, buf) ? std::string(buf) : std::string(lm->l_name);
  }
  // The main program: dladdr names it by argv[0], which may be relative or a bare command name.
  *handle = dlopen(nullptr, RTLD_LAZY);
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  buf[n] = '\0';
  return buf;
}

// The directories the dynamic loader searches for that object's dependencies (LD_LIBRARY_PATH,
// RUNPATH / RPATH, the system directories; not the ld.so cache).
std::vector<std::string> search_dirs(void *handle) {
  std::vector<std::string> out;
  if (!handle) return out;
  Dl_serinfo size{};
  if (dlinfo(handle, RTLD_DI_SERINFOSIZE, &size) != 0 || size.dls_size < sizeof(Dl_serinfo)) return out;
  std::vector<Dl_serinfo> buf(size.dls_size / sizeof(Dl_serinfo) + 1);
  Dl_serinfo *si = buf.data();
  si->dls_size = size.dls_size;
  si->dls_cnt = size.dls_cnt;
  if (dlinfo(handle, RTLD_DI_SERINFO, si) != 0) return out;
  for (unsigned i = 0; i < si->dls_cnt; ++i)
    if (si->dls_serpath[i].dls_name && si->dls_serpath[i].dls_name[0]) out.emplace_back(si->dls_serpath[i].dls_name);
  return out;
}

// Steps 2 and 3 of the search: the file, or empty; *tried lists where it looked.
std::string find_beside(std::string *tried) {
  std::vector<std::string> dirs;
  void *self = nullptr;
  const std::string bin = own_binary(&self);
  if (self) dlclose(self);
  if (!bin.empty()) dirs.push_back(dir_of(bin));
#ifdef RNNLAB_CUDA_PLUGIN_LIBDIR
  dirs.emplace_back(RNNLAB_CUDA_PLUGIN_LIBDIR);
#endif
  for (const std::string &d : dirs) {
    const std::string p = d + "/" RNNLAB_CUDA_PLUGIN_FILE;
    if (tried) *tried += (tried->empty() ? "" : ", ") + p;
    if (is_file(p)) return p;
  }
  return {};
}

struct PluginState {
  std::mutex mu;
  bool done = false;
  const CudaPluginTable *table = nullptr;
  std::string why;
};
PluginState &plugin_state() {
  static PluginState s;
  return s;
}

// Checks the module loaded as h (what: how to name it) and returns its table, or closes it.
const CudaPluginTable *check_plugin(void *h, const std::string &what, std::string *why) {
  dlerror();
  void *sym = dlsym(h, RNNLAB_CUDA_PLUGIN_ENTRY);
  if (!sym) {
    *why = what + " is not an rnnlab CUDA module (no " RNNLAB_CUDA_PLUGIN_ENTRY ": " + dl_error() + ")";
    dlclose(h);
    return nullptr;
  }
  using Entry = const CudaPluginTable *(*)();
  const CudaPluginTable *t = reinterpret_cast<Entry>(sym)();
  char mine[512];
  cuda_plugin_abi_tag(mine, sizeof mine);
  if (!t || !t->abi_tag || std::strcmp(t->abi_tag, mine) != 0) {
    *why = what + " comes from another rnnlab build (plugin ABI mismatch: the module says '" +
           std::string(t && t->abi_tag ? t->abi_tag : "(none)") + "', this library '" + mine + "')";
    dlclose(h);
    return nullptr;
  }
  if (!t->device_usable || !t->make_backend) {
    *why = what + " is an incomplete rnnlab CUDA module (null entries in its table)";
    dlclose(h);
    return nullptr;
  }
  return t;  // never closed: backends it made may outlive any caller
}

const CudaPluginTable *load_plugin(std::string *why) {
  if (const char *env = env_plugin()) {
    const std::string what = std::string("RNNLAB_CUDA_PLUGIN=") + env;
    void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      *why = what + " could not be loaded: " + dl_error();
      return nullptr;
    }
    return check_plugin(h, what, why);
  }
  std::string tried;
  const std::string p = find_beside(&tried);
  if (!p.empty()) {
    const std::string what = "the CUDA backend's module " + p;
    void *h = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      *why = what + " could not be loaded: " + dl_error();
      return nullptr;
    }
    return check_plugin(h, what, why);
  }
  // Step 4: the loader's own search for the bare name.
  void *h = dlopen(RNNLAB_CUDA_PLUGIN_FILE, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    *why = "the CUDA backend's module was not found (tried " + tried +
           ", then " RNNLAB_CUDA_PLUGIN_FILE " on the dynamic loader's search path: " + dl_error() + ")";
    return nullptr;
  }
  return check_plugin(h, "the CUDA backend's module " RNNLAB_CUDA_PLUGIN_FILE " (from the loader's search path)", why);
}

struct DriverState {
  std::mutex mu;
  bool done = false, ok = false;
  std::string why;
};
DriverState &driver_state() {
  static DriverState s;
  return s;
}

// The driver API's own prototypes (cuda.h is not needed for three calls): CUresult is an int enum.
using CuInitFn = int (*)(unsigned int);
using CuDeviceGetCountFn = int (*)(int *);
using CuGetErrorStringFn = int (*)(int, const char **);
constexpr int kCudaErrorNoDevice = 100;  // CUDA_ERROR_NO_DEVICE

bool probe_driver(std::string *why) {
  // Never closed: a driver that ran cuInit stays, and the CUDA runtime loads this same handle.
  void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!h) {
    *why = "no usable NVIDIA driver (libcuda.so.1 could not be loaded: " + dl_error() + ")";
    return false;
  }
  auto init = reinterpret_cast<CuInitFn>(dlsym(h, "cuInit"));
  auto count = reinterpret_cast<CuDeviceGetCountFn>(dlsym(h, "cuDeviceGetCount"));
  auto errstr = reinterpret_cast<CuGetErrorStringFn>(dlsym(h, "cuGetErrorString"));
  if (!init || !count) {
    *why = "no usable NVIDIA driver (libcuda.so.1 lacks cuInit / cuDeviceGetCount)";
    return false;
  }
  auto failed = [&](const char *call, int r) {
    const char *s = nullptr;
    if (!errstr || errstr(r, &s) != 0 || !s) s = "unknown error";
    *why = std::string("the NVIDIA driver's ") + call + " failed: " + s + " (CUresult " + std::to_string(r) + ")";
  };
  int r = init(0);
  if (r == kCudaErrorNoDevice) {
    *why = "no CUDA device is present";
    return false;
  }
  if (r != 0) {
    failed("cuInit", r);
    return false;
  }
  int n = 0;
  r = count(&n);
  if (r != 0) {
    failed("cuDeviceGetCount", r);
    return false;
  }
  if (n <= 0) {
    *why = "no CUDA device is present";
    return false;
  }
  return true;
}

}  // namespace

const CudaPluginTable *cuda_plugin(std::string *why) {
  PluginState &s = plugin_state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.done) {
    try {
      s.table = load_plugin(&s.why);
    } catch (...) {  // std::string growth only: out of memory
      s.table = nullptr;
      s.why = "out of memory while loading the CUDA backend's module";
    }
    s.done = true;
  }
  if (!s.table && why) *why = s.why;
  return s.table;
}

std::string cuda_plugin_path(std::string *tried) {
  if (tried) tried->clear();
  if (const char *env = env_plugin()) {
    if (tried) *tried = env;
    return is_file(env) ? std::string(env) : std::string();
  }
  std::string p = find_beside(tried);
  if (!p.empty()) return p;
  // Step 4 without loading anything: the directories the loader would search for the binary
  // holding this code.
  void *self = nullptr;
  own_binary(&self);
  const std::vector<std::string> dirs = search_dirs(self);
  if (self) dlclose(self);
  for (const std::string &d : dirs) {
    const std::string c = d + "/" RNNLAB_CUDA_PLUGIN_FILE;
    if (tried) *tried += (tried->empty() ? "" : ", ") + c;
    if (is_file(c)) return c;
  }
  return {};
}

bool cuda_driver_has_device(std::string *why) {
  DriverState &s = driver_state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.done) {
    try {
      s.ok = probe_driver(&s.why);
    } catch (...) {
      s.ok = false;
      s.why = "out of memory while asking the NVIDIA driver for devices";
    }
    s.done = true;
  }
  if (!s.ok && why) *why = s.why;
  return s.ok;
}

#endif  // RNNLAB_HAVE_CUDA

// Whether a CUDA model can be made here, cheapest question first: the driver sees a device, then the
// module loads, then the CUDA runtime agrees (its driver may be too old for it).
bool cuda_device_usable(std::string *why) {
  if (!cuda_driver_has_device(why)) return false;
  const CudaPluginTable *t = cuda_plugin(why);
  return t && t->device_usable(why);
}

// An explicit request: the module first (so that a missing or broken one is what the caller hears,
// GPU or not), then the driver, then the module's own check and backend.
std::unique_ptr<Backend> make_cuda_backend(const ModelSpec &spec, std::string *why) {
  const CudaPluginTable *t = cuda_plugin(why);
  if (!t || !cuda_driver_has_device(why)) return nullptr;
  return t->make_backend(spec, why);
}

}  // namespace rnnlab
