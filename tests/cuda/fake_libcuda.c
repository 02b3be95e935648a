/* A stand-in NVIDIA driver (libcuda.so.1) with no device, for the loader's cheap probe
 * (lib/core/cuda_plugin.cpp): test_cuda_plugin's "nodevice" and "cuinit" runs put its directory on
 * LD_LIBRARY_PATH. cuInit returns $FAKE_CUINIT (default 0, success); cuDeviceGetCount finds no device.
 * Only the three functions the probe looks up. */
#include <stdlib.h>

__attribute__((visibility("default"))) int cuInit(unsigned int flags) {
  const char *r = getenv("FAKE_CUINIT");
  (void)flags;
  return r ? atoi(r) : 0;
}

__attribute__((visibility("default"))) int cuDeviceGetCount(int *count) {
  *count = 0;
  return 0;
}

__attribute__((visibility("default"))) int cuGetErrorString(int error, const char **str) {
  (void)error;
  *str = "fake driver error";
  return 0;
}
