// Shared by the libFuzzer harnesses: a scratch file on tmpfs (the readers under test take paths),
// and the small model whose checkpoints and npz files seed the corpus.
#ifndef RNNLAB_FUZZ_COMMON_H
#define RNNLAB_FUZZ_COMMON_H

#include <rnnlab/rnnlab.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace fuzz {

// A per-process file name under /dev/shm (or TMPDIR): the harnesses write each input there.
inline std::string scratch(const char *tag) {
  const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  return std::string(dir) + "/rnnlab_fuzz_" + tag + "_" + std::to_string(getpid());
}

inline void write_all(const std::string &path, const uint8_t *data, size_t size) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the harness's own environment is broken, not the library
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// The model every checkpoint / npz seed is written from (and read back into): a GRU with a head,
// so that every section and every tensor kind appears.
inline rnnlab_config model_config() {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = 2;
  c.hidden_size = 4;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = 3;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.frozen_bias_mask = RNNLAB_GATE_Z;
  return c;
}

// A failed call must say why: a status without a message is a bug.
inline void expect_message(rnnlab_status st) {
  if (st != RNNLAB_OK) {
    const char *msg = rnnlab_last_error();
    if (!msg || !*msg) std::abort();
  }
}

}  // namespace fuzz

#endif
