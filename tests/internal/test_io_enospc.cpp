// A real full disk: a 512 KiB tmpfs mounted in a private mount namespace (needs root or
// CAP_SYS_ADMIN; the test exits 77, skipped with the reason, where it cannot mount one). The
// checkpoint and npz writers hit ENOSPC, report RNNLAB_E_IO, and leave the previous file intact and
// loadable with no temporary behind; once space is freed, the same saves succeed.
#include <rnnlab/rnnlab.h>

#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "test_support.h"

#ifndef RNNLAB_TEST_TMPDIR
#define RNNLAB_TEST_TMPDIR "/tmp"
#endif

namespace {

int g_failed = 0;
#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failed;                                                                 \
    }                                                                             \
  } while (0)

using rnnlab_test::read_bytes;

size_t count_files(const std::string &dir) {
  size_t n = 0;
  DIR *d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent *e = readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  closedir(d);
  return n;
}

rnnlab_model *model(int H, uint64_t seed) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = 1;
  c.hidden_size = H;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = 10;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.seed = seed;
  rnnlab_model *m = nullptr;
  if (rnnlab_create(&m, &c) != RNNLAB_OK) {
    std::fprintf(stderr, "create: %s\n", rnnlab_last_error());
    std::exit(1);
  }
  return m;
}

// Fills the file system to within `leave` bytes of full.
void fill(const std::string &dir, size_t leave) {
  FILE *f = std::fopen((dir + "/filler").c_str(), "wb");
  if (!f) return;
  std::vector<char> block(4096, 'x');
  for (;;) {
    if (std::fwrite(block.data(), 1, block.size(), f) != block.size()) break;
    std::fflush(f);
    if (std::ferror(f)) break;
    // tmpfs reports free space exactly; stop when about `leave` is left.
    struct stat st;
    if (stat((dir + "/filler").c_str(), &st) == 0 && static_cast<size_t>(st.st_size) + leave >= 512 * 1024) break;
  }
  std::fclose(f);
}

}  // namespace

int main() {
  if (geteuid() != 0) {
    std::printf("SKIPPED: mounting a tmpfs needs root (this test makes a real full disk)\n");
    return 77;
  }
  if (unshare(CLONE_NEWNS) != 0) {
    std::printf("SKIPPED: cannot create a mount namespace (unshare: %s): no tmpfs to fill\n", std::strerror(errno));
    return 77;
  }
  // Keep the mount private to this process, whatever the host's propagation.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::printf("SKIPPED: cannot make mounts private (%s)\n", std::strerror(errno));
    return 77;
  }
  const std::string dir = std::string(RNNLAB_TEST_TMPDIR) + "/enospc";
  mkdir(dir.c_str(), 0777);
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=512k") != 0) {
    std::printf("SKIPPED: cannot mount a tmpfs on %s (%s)\n", dir.c_str(), std::strerror(errno));
    return 77;
  }
  int faults = 0;
  // H = 64: a checkpoint of ~55 KB and an npz of ~55 KB.
  rnnlab_model *old_m = model(64, 1), *new_m = model(64, 2);
  const std::string ck = dir + "/m.ckpt", npz = dir + "/m.npz";
  CHECK(rnnlab_save(old_m, ck.c_str()) == RNNLAB_OK);
  CHECK(rnnlab_export_npz(old_m, npz.c_str(), nullptr, nullptr, 0) == RNNLAB_OK);
  const std::vector<unsigned char> ck_old = read_bytes(ck), npz_old = read_bytes(npz);
  fill(dir, 16 * 1024);  // less room than either file needs

  rnnlab_status st = rnnlab_save(new_m, ck.c_str());
  ++faults;
  std::printf("checkpoint on a full disk: %s: %s\n", rnnlab_status_string(st), rnnlab_last_error());
  CHECK(st == RNNLAB_E_IO);
  CHECK(std::strstr(rnnlab_last_error(), "No space left on device") != nullptr);
  CHECK(read_bytes(ck) == ck_old);
  st = rnnlab_export_npz(new_m, npz.c_str(), nullptr, nullptr, 0);
  ++faults;
  std::printf("npz on a full disk: %s: %s\n", rnnlab_status_string(st), rnnlab_last_error());
  CHECK(st == RNNLAB_E_IO);
  CHECK(std::strstr(rnnlab_last_error(), "No space left on device") != nullptr);
  CHECK(read_bytes(npz) == npz_old);
  CHECK(count_files(dir) == 3);  // m.ckpt, m.npz, filler: no temporary left

  // The previous files still load.
  rnnlab_model *r = model(64, 3);
  CHECK(rnnlab_load(r, ck.c_str()) == RNNLAB_OK);
  CHECK(rnnlab_import_npz(r, npz.c_str()) == RNNLAB_OK);

  // With room again, the same saves succeed.
  CHECK(unlink((dir + "/filler").c_str()) == 0);
  CHECK(rnnlab_save(new_m, ck.c_str()) == RNNLAB_OK);
  CHECK(rnnlab_export_npz(new_m, npz.c_str(), nullptr, nullptr, 0) == RNNLAB_OK);
  CHECK(rnnlab_load(r, ck.c_str()) == RNNLAB_OK);
  CHECK(count_files(dir) == 2);

  rnnlab_destroy(r);
  rnnlab_destroy(old_m);
  rnnlab_destroy(new_m);
  umount(dir.c_str());
  std::printf("%d ENOSPC faults on a real tmpfs; %s\n", faults, g_failed ? "FAILED" : "all as required");
  return g_failed ? 1 : 0;
}
