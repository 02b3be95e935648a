// The CUDA backend's module (librnnlab_cuda.so, core/cuda_plugin.h) and its loader, on any machine,
// GPU or not. One binary, run by CTest in several modes (argv[1]), each in a process of its own
// because the loader remembers its answer for the life of the process:
//   load      the module of this build loads: dlopen + entry point + ABI tag equal to the core's, its
//             own device check answers (no driver / no device here), the loader finds the same module
//             (beside the binary or through the build tree's RUNPATH), rnnlab_has_feature(CUDA) says
//             so, and the module's libraries now show in /proc/self/maps (so test_cuda_lazy's check for
//             their absence can see them); without a GPU, rnnlab_create(CUDA) says why
//   missing   RNNLAB_CUDA_PLUGIN names a file that is not there
//   notplugin RNNLAB_CUDA_PLUGIN names a shared library that is not an rnnlab module (libz)
//   mismatch  RNNLAB_CUDA_PLUGIN names a module with another build's ABI tag (fake_plugin.cpp)
// In these three, rnnlab_create(CUDA) returns RNNLAB_E_NO_DEVICE naming the path and the problem,
// the feature and the backend are unavailable, and AUTO still gives a CPU-side model.
//   nodevice  a driver (fake_libcuda.c on LD_LIBRARY_PATH) that sees no device: the probe says so,
//             rnnlab_backend_available(CUDA) and an AUTO model leave the module and the CUDA runtime
//             unloaded (the driver itself is mapped: the probe ran), and rnnlab_create(CUDA) says
//             "no CUDA device"
//   cuinit    the same driver, its cuInit failing: the message names cuInit and the driver's error
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "cmocka_cpp.h"
#include "core/cuda_plugin.h"
#include "rnnlab/rnnlab.h"

namespace {

std::string g_mode = "load";

bool mapped(const char *name) {
  std::ifstream f("/proc/self/maps");
  std::string line;
  while (std::getline(f, line))
    if (line.find(name) != std::string::npos) return true;
  return false;
}

bool has(const std::string &s, const char *part) { return s.find(part) != std::string::npos; }

rnnlab_status create(rnnlab_backend b, std::string *msg) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = 2;
  c.hidden_size = 3;
  c.backend = b;
  rnnlab_model *m = nullptr;
  const rnnlab_status s = rnnlab_create(&m, &c);
  *msg = rnnlab_last_error();
  if (s == RNNLAB_OK) {
    rnnlab_config got = RNNLAB_CONFIG_INIT;
    assert_int_equal(rnnlab_get_config(&got, m), RNNLAB_OK);
    if (b == RNNLAB_BACKEND_AUTO) assert_true(got.backend != RNNLAB_BACKEND_AUTO);
    rnnlab_destroy(m);
  } else {
    assert_null(m);
  }
  return s;
}

void module_loads(void **) {
  assert_false(mapped("librnnlab_cuda"));
  // The module of this build, opened by hand.
  void *h = dlopen(RNNLAB_TEST_CUDA_PLUGIN, RTLD_NOW | RTLD_LOCAL);
  if (!h) fail_msg("dlopen(%s): %s", RNNLAB_TEST_CUDA_PLUGIN, dlerror());
  using Entry = const rnnlab::CudaPluginTable *(*)();
  auto entry = reinterpret_cast<Entry>(dlsym(h, RNNLAB_CUDA_PLUGIN_ENTRY));
  assert_non_null(entry);
  const rnnlab::CudaPluginTable *t = entry();
  assert_non_null(t);
  char mine[512];
  rnnlab::cuda_plugin_abi_tag(mine, sizeof mine);
  std::printf("ABI tag: %s\n", mine);
  assert_string_equal(t->abi_tag, mine);
  assert_non_null(t->device_usable);
  assert_non_null(t->make_backend);
  // Its own device check (the CUDA runtime) answers, with a reason when there is no GPU.
  std::string why;
  const bool usable = t->device_usable(&why);
  std::printf("module's device check: %s\n", usable ? "a device is usable" : why.c_str());
  if (!usable) assert_true(has(why, "driver") || has(why, "device") || has(why, "cudaGetDeviceCount"));
  assert_true(mapped("librnnlab_cuda"));
  assert_true(mapped("libcudart"));

  // The core's loader finds and accepts the same module (dlopen hands back the same handle).
  std::string tried;
  const std::string path = rnnlab::cuda_plugin_path(&tried);
  std::printf("loader finds: %s (looked at: %s)\n", path.c_str(), tried.c_str());
  assert_false(path.empty());
  assert_int_equal(rnnlab_has_feature(RNNLAB_FEATURE_CUDA), 1);
  std::string lwhy;
  const rnnlab::CudaPluginTable *lt = rnnlab::cuda_plugin(&lwhy);
  if (!lt) fail_msg("the loader refused the module: %s", lwhy.c_str());
  assert_ptr_equal(lt, t);

  std::string msg;
  if (!usable) {
    assert_int_equal(create(RNNLAB_BACKEND_CUDA, &msg), RNNLAB_E_NO_DEVICE);
    std::printf("rnnlab_create(CUDA): %s\n", msg.c_str());
    assert_true(has(msg, "config.backend = cuda"));
    assert_true(has(msg, "driver") || has(msg, "device"));
    assert_int_equal(rnnlab_backend_available(RNNLAB_BACKEND_CUDA), 0);
  }
  assert_int_equal(create(RNNLAB_BACKEND_AUTO, &msg), RNNLAB_OK);
  dlclose(h);  // the loader's own handle keeps the module loaded
}

// The broken-module modes: what is in RNNLAB_CUDA_PLUGIN and what the message must say.
void broken_module_says_why(void **) {
  const char *env = std::getenv("RNNLAB_CUDA_PLUGIN");
  assert_non_null(env);
  const char *problem = g_mode == "missing"     ? "could not be loaded"
                        : g_mode == "notplugin" ? "is not an rnnlab CUDA module"
                                                : "plugin ABI mismatch";
  std::string msg;
  assert_int_equal(create(RNNLAB_BACKEND_CUDA, &msg), RNNLAB_E_NO_DEVICE);
  std::printf("rnnlab_create(CUDA) with RNNLAB_CUDA_PLUGIN=%s: %s\n", env, msg.c_str());
  assert_true(has(msg, "config.backend = cuda"));
  assert_true(has(msg, env));
  assert_true(has(msg, problem));
  if (g_mode == "missing") assert_true(has(msg, "No such file"));
  assert_false(mapped("libcudart"));
  assert_int_equal(rnnlab_backend_available(RNNLAB_BACKEND_CUDA), 0);
  if (g_mode == "missing") assert_int_equal(rnnlab_has_feature(RNNLAB_FEATURE_CUDA), 0);
  assert_int_equal(create(RNNLAB_BACKEND_AUTO, &msg), RNNLAB_OK);
}

// A driver without a device (nodevice), or whose cuInit fails (cuinit).
void driver_without_device(void **) {
  if (!std::getenv("LD_LIBRARY_PATH")) fail_msg("run through CTest: LD_LIBRARY_PATH must name the fake driver");
  std::string why;
  assert_false(rnnlab::cuda_driver_has_device(&why));
  std::printf("probe: %s\n", why.c_str());
  assert_true(mapped("libcuda.so.1"));
  assert_int_equal(rnnlab_backend_available(RNNLAB_BACKEND_CUDA), 0);
  std::string msg;
  assert_int_equal(create(RNNLAB_BACKEND_AUTO, &msg), RNNLAB_OK);
  assert_false(mapped("librnnlab_cuda"));
  assert_false(mapped("libcudart"));
  assert_int_equal(create(RNNLAB_BACKEND_CUDA, &msg), RNNLAB_E_NO_DEVICE);
  std::printf("rnnlab_create(CUDA): %s\n", msg.c_str());
  if (g_mode == "nodevice") {
    assert_true(has(msg, "no CUDA device is present"));
  } else {
    assert_true(has(msg, "cuInit failed"));
    assert_true(has(msg, "fake driver error"));
    assert_true(has(msg, "999"));
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (argc > 1) g_mode = argv[1];
  if (g_mode == "load") {
    const struct CMUnitTest tests[] = {cmocka_unit_test(module_loads)};
    return cmocka_run_group_tests(tests, nullptr, nullptr);
  }
  if (g_mode == "missing" || g_mode == "notplugin" || g_mode == "mismatch") {
    const struct CMUnitTest tests[] = {cmocka_unit_test(broken_module_says_why)};
    return cmocka_run_group_tests(tests, nullptr, nullptr);
  }
  if (g_mode == "nodevice" || g_mode == "cuinit") {
    const struct CMUnitTest tests[] = {cmocka_unit_test(driver_without_device)};
    return cmocka_run_group_tests(tests, nullptr, nullptr);
  }
  std::fprintf(stderr, "usage: %s [load|missing|notplugin|mismatch|nodevice|cuinit]\n", argv[0]);
  return 2;
}
