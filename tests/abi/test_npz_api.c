/* The public .npz writer (rnnlab_io.h), through the shared library as a user would call it.
 *
 * Every bad argument gives its status and a message naming the entry point, and leaves the writer
 * as it was (same count, and a later save writes exactly what was added before). Files are then
 * read back by numpy itself (python3 -c): dtypes, shapes, values, NaN, 0-d scalars, empty arrays,
 * the model's parameters under their names with prefix / _l0 / float64, equal to what
 * rnnlab_export_npz writes. When python3 has no numpy the numpy checks cannot run: the rest still
 * runs, and the test then exits 77 (skipped) saying why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rnnlab/rnnlab.h>

#ifndef RNNLAB_TEST_TMPDIR
#define RNNLAB_TEST_TMPDIR "/tmp"
#endif

static char g_dir[512];
static int g_have_numpy = -1;

static void path_in_dir(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", g_dir, name); }

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Runs a Python verifier (the text of `script`) on argv-style arguments; returns its exit status. */
static int run_python(const char *script, const char *arg1, const char *arg2) {
  char py[600], cmd[2048];
  FILE *f;
  path_in_dir(py, sizeof py, "verify.py");
  f = fopen(py, "w");
  if (!f) return -1;
  fputs(script, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "python3 '%s' '%s' '%s'", py, arg1, arg2 ? arg2 : "");
  return system(cmd);
}

static int have_numpy(void) {
  if (g_have_numpy < 0) g_have_numpy = system("python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return g_have_numpy;
}

/* The last error names the entry point (and what was wrong). */
static void assert_error_mentions(const char *fn, const char *what) {
  const char *msg = rnnlab_last_error();
  assert_non_null(msg);
  if (!strstr(msg, fn) || (what && !strstr(msg, what))) {
    fprintf(stderr, "message '%s' does not name '%s' / '%s'\n", msg, fn, what ? what : "");
    fail();
  }
}

static size_t count_of(const rnnlab_npz *z) {
  size_t n = 12345;
  assert_int_equal(rnnlab_npz_count(&n, z), RNNLAB_OK);
  return n;
}

/* ---------------------------------------------------------------------------------------------- */

static void test_create_flags(void **state) {
  rnnlab_npz *z = (rnnlab_npz *)0x1;
  (void)state;
  assert_int_equal(rnnlab_npz_create(NULL, 0), RNNLAB_E_NULL);
  assert_error_mentions("rnnlab_npz_create", "out");
  assert_int_equal(rnnlab_npz_create(&z, 1u), RNNLAB_E_INVALID_ARGUMENT);
  assert_error_mentions("rnnlab_npz_create", "flags");
  assert_ptr_equal(z, (rnnlab_npz *)0x1); /* *out untouched on failure */
  assert_int_equal(rnnlab_npz_create(&z, RNNLAB_NPZ_DEFLATE), RNNLAB_OK);
  assert_int_equal(count_of(z), 0);
  rnnlab_npz_destroy(z);
  rnnlab_npz_destroy(NULL); /* accepted */
}

static void test_bad_adds(void **state) {
  rnnlab_npz *z;
  float v[6] = {1, 2, 3, 4, 5, 6};
  int64_t s23[2] = {2, 3}, sneg[2] = {2, -3}, s24[2] = {2, 4};
  char path[600];
  (void)state;
  assert_int_equal(rnnlab_npz_create(&z, 0), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_float32(z, "a", v, 6, 2, s23), RNNLAB_OK);

  assert_int_equal(rnnlab_npz_add_float32(NULL, "b", v, 6, 2, s23), RNNLAB_E_NULL);
  assert_error_mentions("rnnlab_npz_add_float32", "npz");
  assert_int_equal(rnnlab_npz_add_float32(z, NULL, v, 6, 2, s23), RNNLAB_E_NULL);
  assert_error_mentions("rnnlab_npz_add_float32", "key");
  assert_int_equal(rnnlab_npz_add_float32(z, "b", NULL, 6, 2, s23), RNNLAB_E_NULL);
  assert_error_mentions("rnnlab_npz_add_float32", "values");
  assert_int_equal(rnnlab_npz_add_float32(z, "b", v, 6, 2, NULL), RNNLAB_E_NULL);
  assert_error_mentions("rnnlab_npz_add_float32", "shape");
  assert_int_equal(rnnlab_npz_add_float32(z, "", v, 6, 2, s23), RNNLAB_E_INVALID_ARGUMENT);
  assert_error_mentions("rnnlab_npz_add_float32", "empty");
  assert_int_equal(rnnlab_npz_add_float64(z, "a", (const double *)v, 3, 1, s23 + 1), RNNLAB_E_INVALID_ARGUMENT);
  assert_error_mentions("rnnlab_npz_add_float64", "'a'");
  assert_int_equal(rnnlab_npz_add_float32(z, "b", v, 6, 2, sneg), RNNLAB_E_INVALID_ARGUMENT);
  assert_error_mentions("rnnlab_npz_add_float32", "negative");
  assert_int_equal(rnnlab_npz_add_float32(z, "b", v, 6, -1, s23), RNNLAB_E_INVALID_ARGUMENT);
  assert_error_mentions("rnnlab_npz_add_float32", "ndim");
  assert_int_equal(rnnlab_npz_add_float32(z, "b", v, 6, RNNLAB_NPZ_MAX_DIMS + 1, s23), RNNLAB_E_INVALID_ARGUMENT);
  assert_int_equal(rnnlab_npz_add_float32(z, "b", v, 6, 2, s24), RNNLAB_E_SIZE_MISMATCH);
  assert_error_mentions("rnnlab_npz_add_float32", "8");
  assert_int_equal(rnnlab_npz_add_int32(z, "b", (const int32_t *)v, 5, 2, s23), RNNLAB_E_SIZE_MISMATCH);
  assert_error_mentions("rnnlab_npz_add_int32", NULL);
  assert_int_equal(rnnlab_npz_add_int64(z, "b", (const int64_t *)v, 2, 0, NULL), RNNLAB_E_SIZE_MISMATCH);
  assert_error_mentions("rnnlab_npz_add_int64", NULL);
  {
    /* A shape whose element count overflows size_t. */
    int64_t huge[3] = {INT64_MAX, INT64_MAX, 4};
    assert_int_equal(rnnlab_npz_add_float32(z, "b", v, 6, 3, huge), RNNLAB_E_INVALID_ARGUMENT);
  }
  assert_int_equal(count_of(z), 1);
  assert_int_equal(rnnlab_npz_contains(z, "a"), 1);
  assert_int_equal(rnnlab_npz_contains(z, "b"), 0);
  assert_int_equal(rnnlab_npz_contains(NULL, "a"), 0);
  assert_int_equal(rnnlab_npz_contains(z, NULL), 0);
  assert_int_equal(rnnlab_npz_count(NULL, z), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_npz_count((size_t *)path, NULL), RNNLAB_E_NULL);

  /* The failed calls left nothing behind: the saved archive holds exactly 'a'. */
  path_in_dir(path, sizeof path, "bad_adds.npz");
  assert_int_equal(rnnlab_npz_save(z, path), RNNLAB_OK);
  if (have_numpy()) {
    const char *py =
        "import sys, numpy as np\n"
        "z = np.load(sys.argv[1])\n"
        "assert sorted(z.files) == ['a'], z.files\n"
        "a = z['a']\n"
        "assert a.dtype == np.float32 and a.shape == (2, 3), (a.dtype, a.shape)\n"
        "assert (a == np.arange(1, 7, dtype=np.float32).reshape(2, 3)).all()\n";
    assert_int_equal(run_python(py, path, NULL), 0);
  }
  rnnlab_npz_destroy(z);
}

static void test_save_errors(void **state) {
  rnnlab_npz *z;
  char path[600], bad[700];
  int32_t one = 1;
  (void)state;
  assert_int_equal(rnnlab_npz_create(&z, 0), RNNLAB_OK);
  path_in_dir(path, sizeof path, "empty.npz");
  assert_int_equal(rnnlab_npz_save(z, path), RNNLAB_E_INVALID_ARGUMENT);
  assert_error_mentions("rnnlab_npz_save", "no arrays");
  assert_false(file_exists(path));
  assert_int_equal(rnnlab_npz_add_int32(z, "one", &one, 1, 0, NULL), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_save(NULL, path), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_npz_save(z, NULL), RNNLAB_E_NULL);
  snprintf(bad, sizeof bad, "%s/no_such_dir/x.npz", g_dir);
  assert_int_equal(rnnlab_npz_save(z, bad), RNNLAB_E_IO);
  assert_error_mentions("rnnlab_npz_save", "no_such_dir");
  assert_false(file_exists(bad));
  /* Saving twice to the same path replaces the file (atomic rename over it). */
  assert_int_equal(rnnlab_npz_save(z, path), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_save(z, path), RNNLAB_OK);
  assert_true(file_exists(path));
  rnnlab_npz_destroy(z);
}

/* Every dtype, 0-d scalars, an empty array, NaN and Inf, a 3-d array, stored and deflated. */
static void write_arrays(const char *path, uint32_t flags) {
  rnnlab_npz *z;
  float f[6] = {0.5f, -1.25f, 3.0f, 0.0f, 0.0f, 1e30f};
  double d[4] = {3.141592653589793, -2.5e-300, 1e300, 0.0};
  int32_t i32[4] = {-2147483647 - 1, -1, 0, 2147483647};
  int64_t i64[3] = {INT64_MIN, 0, INT64_MAX};
  int64_t scalar = 7;
  double pi = 3.141592653589793;
  float cube[24];
  int64_t s23[2] = {2, 3}, s4[1] = {4}, s3[1] = {3}, s20[2] = {2, 0}, s234[3] = {2, 3, 4}, s22[2] = {2, 2};
  int k;
  f[3] = NAN;
  f[4] = -INFINITY;
  for (k = 0; k < 24; ++k) cube[k] = (float)k;
  assert_int_equal(rnnlab_npz_create(&z, flags), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_float32(z, "f32", f, 6, 2, s23), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_float64(z, "f64", d, 4, 2, s22), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_int32(z, "i32", i32, 4, 1, s4), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_int64(z, "i64", i64, 3, 1, s3), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_int64(z, "scalar_i64", &scalar, 1, 0, NULL), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_float64(z, "scalar_f64", &pi, 1, 0, s4 /* ignored for ndim 0 */), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_float32(z, "empty", NULL, 0, 2, s20), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_float32(z, "cube", cube, 24, 3, s234), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_float32(z, "dotted.key_l0", f, 6, 1, (int64_t[]){6}), RNNLAB_OK);
  /* The caller's buffer may change right after the add: the writer holds a copy. */
  f[0] = 99.0f;
  assert_int_equal(count_of(z), 9);
  assert_int_equal(rnnlab_npz_save(z, path), RNNLAB_OK);
  rnnlab_npz_destroy(z);
}

static const char *kVerifyArrays =
    "import sys, numpy as np\n"
    "z = np.load(sys.argv[1])\n"
    "want = ['f32', 'f64', 'i32', 'i64', 'scalar_i64', 'scalar_f64', 'empty', 'cube', 'dotted.key_l0']\n"
    "assert list(z.files) == want, z.files\n"
    "f = z['f32']; assert f.dtype == np.float32 and f.shape == (2, 3)\n"
    "assert f[0, 0] == 0.5 and f[0, 1] == -1.25 and f[0, 2] == 3 and np.isnan(f[1, 0])\n"
    "assert f[1, 1] == -np.inf and f[1, 2] == np.float32(1e30)\n"
    "d = z['f64']; assert d.dtype == np.float64 and d.shape == (2, 2)\n"
    "assert d[0, 0] == np.pi and d[0, 1] == -2.5e-300 and d[1, 0] == 1e300\n"
    "i = z['i32']; assert i.dtype == np.int32 and list(i) == [-2**31, -1, 0, 2**31 - 1]\n"
    "j = z['i64']; assert j.dtype == np.int64 and list(j) == [-2**63, 0, 2**63 - 1]\n"
    "s = z['scalar_i64']; assert s.dtype == np.int64 and s.shape == () and int(s) == 7\n"
    "p = z['scalar_f64']; assert p.dtype == np.float64 and p.shape == () and float(p) == np.pi\n"
    "e = z['empty']; assert e.dtype == np.float32 and e.shape == (2, 0)\n"
    "c = z['cube']; assert c.shape == (2, 3, 4) and (c == np.arange(24).reshape(2, 3, 4)).all()\n"
    "assert z['dotted.key_l0'][0] == 0.5\n"
    "assert not np.load(sys.argv[1], allow_pickle=False) is None\n";

static void test_round_trip(void **state) {
  char stored[600], deflated[600];
  (void)state;
  path_in_dir(stored, sizeof stored, "arrays_stored.npz");
  path_in_dir(deflated, sizeof deflated, "arrays_deflated.npz");
  write_arrays(stored, 0);
  write_arrays(deflated, RNNLAB_NPZ_DEFLATE);
  assert_true(file_exists(stored));
  assert_true(file_exists(deflated));
  if (!have_numpy()) return;
  assert_int_equal(run_python(kVerifyArrays, stored, NULL), 0);
  assert_int_equal(run_python(kVerifyArrays, deflated, NULL), 0);
  {
    /* Deflate really compresses (the cube and the zeros are very compressible in a bigger file). */
    struct stat a, b;
    assert_int_equal(stat(stored, &a), 0);
    assert_int_equal(stat(deflated, &b), 0);
    assert_true(b.st_size < a.st_size);
  }
}

static rnnlab_model *make_model(void) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  rnnlab_model *m = NULL;
  c.cell = RNNLAB_CELL_GRU_RESET_BEFORE;
  c.input_size = 3;
  c.hidden_size = 4;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = 2;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.bias_mode = RNNLAB_BIAS_SINGLE;
  c.init = RNNLAB_INIT_CS728_GRU;
  c.seed = 11;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  return m;
}

static void test_params(void **state) {
  rnnlab_model *m = make_model();
  rnnlab_npz *z;
  char mine[600], theirs[600], f64[600];
  float one = 1.0f;
  (void)state;
  assert_int_equal(rnnlab_npz_create(&z, 0), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_params(NULL, m, NULL, 0), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_npz_add_params(z, NULL, NULL, 0), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_npz_add_params(z, m, NULL, RNNLAB_NPZ_DEFLATE), RNNLAB_E_INVALID_ARGUMENT);
  assert_error_mentions("rnnlab_npz_add_params", "flags");
  /* A name already taken: nothing at all is added. */
  assert_int_equal(rnnlab_npz_add_float32(z, "m.bias_hh_l0", &one, 1, 0, NULL), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_params(z, m, "m.", RNNLAB_NPZ_L0), RNNLAB_E_INVALID_ARGUMENT);
  assert_error_mentions("rnnlab_npz_add_params", "m.bias_hh_l0");
  assert_int_equal(count_of(z), 1);
  assert_int_equal(rnnlab_npz_contains(z, "m.weight_ih_l0"), 0);
  rnnlab_npz_destroy(z);

  assert_int_equal(rnnlab_npz_create(&z, 0), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_params(z, m, "m.", RNNLAB_NPZ_L0), RNNLAB_OK);
  assert_int_equal(count_of(z), 6);
  assert_int_equal(rnnlab_npz_contains(z, "m.weight_hh_l0"), 1);
  assert_int_equal(rnnlab_npz_contains(z, "m.head.weight"), 1);
  /* The same parameters a second time under another prefix are fine; the same prefix is not. */
  assert_int_equal(rnnlab_npz_add_params(z, m, NULL, 0), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_params(z, m, "", 0), RNNLAB_E_INVALID_ARGUMENT);
  assert_int_equal(count_of(z), 12);
  path_in_dir(mine, sizeof mine, "params_mine.npz");
  path_in_dir(theirs, sizeof theirs, "params_export.npz");
  assert_int_equal(rnnlab_npz_save(z, mine), RNNLAB_OK);
  rnnlab_npz_destroy(z);
  assert_int_equal(rnnlab_export_npz(m, theirs, "m.", "m.head.", RNNLAB_NPZ_L0), RNNLAB_OK);

  assert_int_equal(rnnlab_npz_create(&z, 0), RNNLAB_OK);
  assert_int_equal(rnnlab_npz_add_params(z, m, NULL, RNNLAB_NPZ_FLOAT64), RNNLAB_OK);
  path_in_dir(f64, sizeof f64, "params_f64.npz");
  assert_int_equal(rnnlab_npz_save(z, f64), RNNLAB_OK);
  rnnlab_npz_destroy(z);

  /* What the writer saved, rnnlab_import_npz reads back (both namings). */
  assert_int_equal(rnnlab_import_npz(m, f64), RNNLAB_OK);
  rnnlab_destroy(m);

  if (have_numpy()) {
    const char *py =
        "import sys, numpy as np\n"
        "a = np.load(sys.argv[1]); b = np.load(sys.argv[2])\n"
        "prefixed = [k for k in a.files if k.startswith('m.')]\n"
        "assert sorted(prefixed) == sorted(b.files), (a.files, b.files)\n"
        "for k in b.files:\n"
        "    assert a[k].dtype == b[k].dtype == np.float32, k\n"
        "    assert a[k].shape == b[k].shape and (a[k] == b[k]).all(), k\n"
        "plain = sorted(k for k in a.files if not k.startswith('m.'))\n"
        "assert plain == ['bias_hh', 'bias_ih', 'head.bias', 'head.weight', 'weight_hh', 'weight_ih'], plain\n"
        "assert a['weight_ih'].shape == (12, 3) and a['weight_hh'].shape == (12, 4)\n"
        "assert a['bias_ih'].shape == (12,) and a['head.weight'].shape == (2, 4) and a['head.bias'].shape == (2,)\n"
        "assert (a['weight_hh'] == a['m.weight_hh_l0']).all()\n"
        "assert (a['bias_hh'] == 0).all()  # single bias mode holds b_hh at 0\n"
        "assert abs(a['bias_ih'][4:8] - 2.0).max() == 0  # cs728_gru: effective b_z = +2\n";
    const char *py64 =
        "import sys, numpy as np\n"
        "a = np.load(sys.argv[1]); b = np.load(sys.argv[2])\n"
        "for k in a.files:\n"
        "    assert a[k].dtype == np.float64, k\n"
        "    assert (a[k] == b[k].astype(np.float64)).all(), k\n";
    assert_int_equal(run_python(py, mine, theirs), 0);
    assert_int_equal(run_python(py64, f64, mine), 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_flags),
      cmocka_unit_test(test_bad_adds),
      cmocka_unit_test(test_save_errors),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_params),
  };
  int failed;
  snprintf(g_dir, sizeof g_dir, "%s/npz_api_%ld", RNNLAB_TEST_TMPDIR, (long)getpid());
  mkdir(RNNLAB_TEST_TMPDIR, 0755);
  mkdir(g_dir, 0755);
  failed = cmocka_run_group_tests(tests, NULL, NULL);
  if (failed) return 1;
  if (!have_numpy()) {
    printf("SKIPPED: python3 with numpy is not available, so the archives were not read back by numpy "
           "(every check that needs no numpy passed)\n");
    return 77;
  }
  /* Clean up only after success, so that a failure leaves the files to look at. */
  {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) return 1;
  }
  return 0;
}
