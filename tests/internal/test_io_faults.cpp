// Injected I/O failures (io::testing in lib/io/atomic_file.h): every open, write, fsync, close and
// rename of the checkpoint and npz writers is made to fail in turn (EIO, and ENOSPC for writes),
// and every read of the checkpoint and npz loaders (EIO, an early end of file, short reads).
// Each failed save must report RNNLAB_E_IO naming the step, leave the previous file byte for byte
// and loadable, and leave no temporary behind; each failed load must report E_IO / E_CORRUPT with the
// model untouched. Short transfers (1 byte per call) must still give a complete, correct file.
//
// Every other header comes before cmocka.h (its fail() macro).
#include <rnnlab/rnnlab.h>
#include <rnnlab/rnnlab_io.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "io/atomic_file.h"

#include "cmocka_cpp.h"
#include "test_support.h"

#ifndef RNNLAB_TEST_TMPDIR
#define RNNLAB_TEST_TMPDIR "/tmp"
#endif

using rnnlab::io::testing::Fault;
using rnnlab::io::testing::Op;
namespace iot = rnnlab::io::testing;

namespace {

long g_faults = 0;  // injected faults, reported at the end

std::string fresh_dir(const std::string &name) { return rnnlab_test::fresh_tmp_dir("iofault_" + name); }

using rnnlab_test::list_dir;

using rnnlab_test::read_bytes;

rnnlab_model *make_model(uint64_t seed) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = 3;
  c.hidden_size = 8;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = 4;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.seed = seed;
  rnnlab_model *m = nullptr;
  OK(rnnlab_create(&m, &c));
  rnnlab_optimizer_config o = RNNLAB_OPTIMIZER_CONFIG_INIT;
  o.kind = RNNLAB_OPTIMIZER_ADAM;
  o.lr = 1e-3;
  OK(rnnlab_set_optimizer(m, &o));
  return m;
}

std::vector<float> params_of(const rnnlab_model *m) {
  size_t n = 0, t = 0;
  OK(rnnlab_param_count(&n, &t, m));
  std::vector<float> p(n);
  OK(rnnlab_get_params(p.data(), n, m));
  return p;
}

// The word each step's message must contain.
const char *step_word(Op op) {
  switch (op) {
    case Op::Open: return "open";  // "cannot create a temporary" / "cannot open directory"
    case Op::Write: return "write";
    case Op::Fsync: return "sync";
    case Op::Close: return "close";
    case Op::Rename: return "rename";
    default: return "?";
  }
}

// One kind of save: writes `m` to `path`.
using SaveFn = std::function<rnnlab_status(const rnnlab_model *, const std::string &)>;
// Checks a file is loadable and holds the parameters `want`.
using CheckFn = std::function<void(const std::string &, const std::vector<float> &)>;

void check_ckpt(const std::string &path, const std::vector<float> &want) {
  rnnlab_model *r = make_model(99);
  OK(rnnlab_load(r, path.c_str()));
  assert_true(params_of(r) == want);
  rnnlab_destroy(r);
}

void check_npz(const std::string &path, const std::vector<float> &want) {
  rnnlab_model *r = make_model(99);
  OK(rnnlab_import_npz(r, path.c_str()));
  assert_true(params_of(r) == want);
  rnnlab_destroy(r);
}

// Every call of every step, failing in turn.
void fail_each_step(const std::string &name, const SaveFn &save, const CheckFn &check) {
  const std::string dir = fresh_dir(name);
  const std::string path = dir + "/target";
  rnnlab_model *old_m = make_model(1), *new_m = make_model(2);
  const std::vector<float> old_p = params_of(old_m), new_p = params_of(new_m);
  assert_true(old_p != new_p);

  // Count the calls one save makes (to a scratch name, so the directory's state is the same).
  OK(save(old_m, path));
  std::vector<unsigned char> old_bytes = read_bytes(path);
  iot::reset_counts();
  OK(save(new_m, dir + "/scratch"));
  long calls[6];
  for (Op op : {Op::Open, Op::Write, Op::Fsync, Op::Close, Op::Rename}) calls[static_cast<int>(op)] = iot::count(op);
  assert_true(calls[static_cast<int>(Op::Write)] >= 1);
  assert_int_equal(calls[static_cast<int>(Op::Fsync)], 2);   // the file, then the directory
  assert_int_equal(calls[static_cast<int>(Op::Rename)], 1);
  assert_int_equal(calls[static_cast<int>(Op::Close)], 2);
  assert_int_equal(unlink((dir + "/scratch").c_str()), 0);

  for (Op op : {Op::Open, Op::Write, Op::Fsync, Op::Close, Op::Rename}) {
    for (int err : {EIO, ENOSPC}) {
      if (err == ENOSPC && op != Op::Write && op != Op::Fsync && op != Op::Close) continue;
      for (long k = 0; k < calls[static_cast<int>(op)]; ++k) {
        Fault f;
        f.op = op;
        f.nth = k;
        f.err = err;
        iot::reset_counts();
        iot::set_fault(f);
        const rnnlab_status st = save(new_m, path);
        iot::clear_fault();
        ++g_faults;
        const std::string msg = rnnlab_last_error();
        if (st != RNNLAB_E_IO) {
          print_error("%s: %s call %ld (%s) gave %s: %s\n", name.c_str(), iot::op_name(op), k, std::strerror(err),
                      rnnlab_status_string(st), msg.c_str());
          fail();
        }
        const bool names_step = msg.find(step_word(op)) != std::string::npos ||
                                (op == Op::Open && msg.find("cannot create a temporary") != std::string::npos);
        if (!names_step || msg.find(std::strerror(err)) == std::string::npos) {
          print_error("%s: %s call %ld: the message does not name the step and the error: %s\n", name.c_str(),
                      iot::op_name(op), k, msg.c_str());
          fail();
        }
        const std::vector<std::string> names = list_dir(dir);
        if (names.size() != 1) {
          print_error("%s: %s call %ld left %zu files behind\n", name.c_str(), iot::op_name(op), k, names.size());
          fail();
        }
        if (msg.find("is in place") != std::string::npos) {
          // The directory's sync after the rename: the new file is complete and says so.
          check(path, new_p);
          OK(save(old_m, path));  // back to the old file for the next fault
          // Its bytes again: a zip entry carries its time of writing (2-second resolution), so a
          // rewrite of the same content can differ from the first one (seen under ASan).
          old_bytes = read_bytes(path);
        } else {
          assert_true(read_bytes(path) == old_bytes);
          check(path, old_p);
        }
      }
    }
  }

  // One byte per write call: slow, but complete and correct.
  Fault f;
  f.op = Op::Write;
  f.nth = 0;
  f.every = true;
  iot::set_fault(f);
  const rnnlab_status st = save(new_m, path);
  iot::clear_fault();
  OK(st);
  check(path, new_p);
  assert_int_equal(list_dir(dir).size(), 1);
  rnnlab_destroy(old_m);
  rnnlab_destroy(new_m);
}

void test_checkpoint_writes(void **) {
  fail_each_step("ckpt", [](const rnnlab_model *m, const std::string &p) { return rnnlab_save(m, p.c_str()); },
                 check_ckpt);
}

void test_npz_export_writes(void **) {
  fail_each_step("npz", [](const rnnlab_model *m, const std::string &p) {
    return rnnlab_export_npz(m, p.c_str(), nullptr, nullptr, 0);
  }, check_npz);
}

// The public npz writer (what rnnlab-train's output files go through).
void test_npz_api_writes(void **) {
  fail_each_step("npz_api", [](const rnnlab_model *m, const std::string &p) {
    rnnlab_npz *z = nullptr;
    rnnlab_status st = rnnlab_npz_create(&z, 0);
    if (st != RNNLAB_OK) return st;
    st = rnnlab_npz_add_params(z, m, nullptr, 0);
    const float extra[3] = {1, 2, 3};
    const int64_t shape[1] = {3};
    if (st == RNNLAB_OK) st = rnnlab_npz_add_float32(z, "extra", extra, 3, 1, shape);
    if (st == RNNLAB_OK) st = rnnlab_npz_save(z, p.c_str());
    rnnlab_npz_destroy(z);
    return st;
  }, check_npz);
}

using LoadFn = std::function<rnnlab_status(rnnlab_model *, const std::string &)>;

// Every read call failing with EIO, then ending early: E_IO / E_CORRUPT and the model untouched.
void fail_each_read(const std::string &name, const SaveFn &save, const LoadFn &load) {
  const std::string dir = fresh_dir(name);
  const std::string path = dir + "/file";
  rnnlab_model *src = make_model(5);
  OK(save(src, path));
  rnnlab_model *dst = make_model(6);
  const std::vector<float> before = params_of(dst);
  iot::reset_counts();
  OK(load(dst, path));
  const long reads = iot::count(Op::Read);
  assert_true(reads >= 2);  // the data, then the check that nothing follows it
  assert_true(params_of(dst) == params_of(src));
  OK(rnnlab_set_params(dst, before.data(), before.size()));
  for (long k = 0; k < reads; ++k) {
    for (int mode = 0; mode < 3; ++mode) {  // EIO, end of file, open failing (k == 0 only)
      if (mode == 2 && k > 0) continue;
      Fault f;
      f.op = mode == 2 ? Op::Open : Op::Read;
      f.nth = k;
      f.err = mode == 1 ? 0 : EIO;
      f.eof = mode == 1;
      iot::reset_counts();
      iot::set_fault(f);
      const rnnlab_status st = load(dst, path);
      iot::clear_fault();
      ++g_faults;
      // The last read is the probe past the end: an early end there is the file's real end.
      const bool is_probe = k == reads - 1 && mode == 1;
      const rnnlab_status want = is_probe ? RNNLAB_OK : mode == 1 ? RNNLAB_E_CORRUPT : RNNLAB_E_IO;
      if (st != want) {
        print_error("%s: read fault %d at call %ld gave %s (%s), expected %s\n", name.c_str(), mode, k,
                    rnnlab_status_string(st), rnnlab_last_error(), rnnlab_status_string(want));
        fail();
      }
      if (st == RNNLAB_OK) {
        OK(rnnlab_set_params(dst, before.data(), before.size()));
      } else {
        assert_true(params_of(dst) == before);
      }
    }
  }
  // One byte per read call still reads the whole file.
  Fault f;
  f.op = Op::Read;
  f.nth = 0;
  f.every = true;
  iot::set_fault(f);
  const rnnlab_status st = load(dst, path);
  iot::clear_fault();
  OK(st);
  assert_true(params_of(dst) == params_of(src));
  rnnlab_destroy(src);
  rnnlab_destroy(dst);
}

void test_checkpoint_reads(void **) {
  fail_each_read("ckpt_read", [](const rnnlab_model *m, const std::string &p) { return rnnlab_save(m, p.c_str()); },
                 [](rnnlab_model *m, const std::string &p) { return rnnlab_load(m, p.c_str()); });
}

void test_npz_reads(void **) {
  fail_each_read("npz_read",
                 [](const rnnlab_model *m, const std::string &p) {
                   return rnnlab_export_npz(m, p.c_str(), nullptr, nullptr, 0);
                 },
                 [](rnnlab_model *m, const std::string &p) { return rnnlab_import_npz(m, p.c_str()); });
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_checkpoint_writes), cmocka_unit_test(test_npz_export_writes),
      cmocka_unit_test(test_npz_api_writes),    cmocka_unit_test(test_checkpoint_reads),
      cmocka_unit_test(test_npz_reads),
  };
  const int failed = cmocka_run_group_tests(tests, nullptr, nullptr);
  std::printf("faults injected: %ld\n", g_faults);
  return failed;
}
