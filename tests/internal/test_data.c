/* Data-set readers: small IDX (plain and gzip) and CIFAR-10 files written here, read back in every
 * mode; every malformed-file case; the real Fashion-MNIST test set when it is installed. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <rnnlab/rnnlab.h>
#include <rnnlab/rnnlab_data.h>

#ifndef RNNLAB_TEST_TMPDIR
#define RNNLAB_TEST_TMPDIR "/tmp"
#endif
#ifndef RNNLAB_FASHION_DIR
#define RNNLAB_FASHION_DIR "/usr/share/datasets/fashion-mnist"
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Files                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

typedef struct bytes {
  unsigned char *p;
  size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
  if (b->n + n > b->cap) {
    /* Geometric growth: byte-by-byte appends of a few hundred kB stay linear. */
    b->cap = 2 * (b->n + n) + 64;
    b->p = (unsigned char *)realloc(b->p, b->cap);
  }
  assert_non_null(b->p);
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void put_u8(bytes *b, unsigned v) {
  unsigned char c = (unsigned char)v;
  put(b, &c, 1);
}

static void put_be32(bytes *b, uint32_t v) {
  unsigned char c[4];
  c[0] = (unsigned char)(v >> 24);
  c[1] = (unsigned char)(v >> 16);
  c[2] = (unsigned char)(v >> 8);
  c[3] = (unsigned char)v;
  put(b, c, 4);
}

/* A per-test file name, unique per process so that parallel runs never share a file. */
static const char *tmp_path(const char *name) {
  static char buf[32][512];
  static int next = 0;
  char *p = buf[next];
  next = (next + 1) % 32;
  snprintf(p, 512, "%s/rnnlab_test_data_%ld_%s", RNNLAB_TEST_TMPDIR, (long)getpid(), name);
  return p;
}

/* Every file written, removed when the group ends. */
static char *g_written[256];
static int g_n_written = 0;

static const char *write_file(const char *name, const bytes *b, int gz) {
  const char *path;
  assert_true(g_n_written < 256);
  path = g_written[g_n_written++] = strdup(tmp_path(name)); /* lives until the group ends */
  assert_non_null(path);
  if (gz) {
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    if (b->n) assert_int_equal(gzwrite(f, b->p, (unsigned)b->n), (int)b->n);
    assert_int_equal(gzclose(f), Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (b->n) assert_int_equal(fwrite(b->p, 1, b->n, f), b->n);
    assert_int_equal(fclose(f), 0);
  }
  return path;
}

static bytes read_whole(const char *path) {
  bytes b = {NULL, 0, 0};
  unsigned char buf[4096];
  size_t n;
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) put(&b, buf, n);
  fclose(f);
  return b;
}

/* IDX test content: 7 images; pixel p of image n, label of image n. */
#define N_IMG 7
static unsigned pix(int n, int p) { return (unsigned)((n * 37 + p * 11 + 5) % 256); }
static unsigned lab(int n) { return (unsigned)(n % 10); }

static bytes idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  bytes b = {NULL, 0, 0};
  uint32_t i, p;
  put_be32(&b, 0x00000803u);
  put_be32(&b, n);
  put_be32(&b, rows);
  put_be32(&b, cols);
  for (i = 0; i < n; ++i)
    for (p = 0; p < rows * cols; ++p) put_u8(&b, pix((int)i, (int)p));
  return b;
}

static bytes idx_labels(uint32_t n) {
  bytes b = {NULL, 0, 0};
  uint32_t i;
  put_be32(&b, 0x00000801u);
  put_be32(&b, n);
  for (i = 0; i < n; ++i) put_u8(&b, lab((int)i));
  return b;
}

static rnnlab_dataset_config idx_config(const char *images, const char *labels) {
  rnnlab_dataset_config cfg = RNNLAB_DATASET_CONFIG_INIT;
  cfg.format = RNNLAB_DATASET_IDX;
  cfg.images_path = images;
  cfg.labels_path = labels;
  return cfg;
}

static rnnlab_dataset *open_ok(const rnnlab_dataset_config *cfg) {
  rnnlab_dataset *ds = NULL;
  rnnlab_status s = rnnlab_dataset_create(&ds, cfg);
  if (s != RNNLAB_OK) print_error("rnnlab_dataset_create: %d %s\n", (int)s, rnnlab_last_error());
  assert_int_equal(s, RNNLAB_OK);
  assert_non_null(ds);
  return ds;
}

static rnnlab_dataset_info info_of(const rnnlab_dataset *ds) {
  rnnlab_dataset_info info = RNNLAB_DATASET_INFO_INIT;
  assert_int_equal(rnnlab_dataset_get_info(&info, ds), RNNLAB_OK);
  return info;
}

/* x[T][B][I] and labels of the given indices. */
static float *batch_of(const rnnlab_dataset *ds, const int32_t *idx, size_t B, int32_t *labels) {
  rnnlab_dataset_info info = info_of(ds);
  size_t n = (size_t)info.steps * B * (size_t)info.input_size;
  float *x = (float *)malloc(n * sizeof(float));
  assert_non_null(x);
  assert_int_equal(rnnlab_dataset_batch(x, n, labels, labels ? B : 0, ds, idx, B), RNNLAB_OK);
  return x;
}

/* The status and that the message names the file and says what is wrong; *out stays untouched. */
static void expect_open_error(const rnnlab_dataset_config *cfg, rnnlab_status status, const char *file,
                              const char *words) {
  rnnlab_dataset *sentinel = (rnnlab_dataset *)(void *)&status;
  rnnlab_dataset *ds = sentinel;
  rnnlab_status s = rnnlab_dataset_create(&ds, cfg);
  if (s != status || (file && !strstr(rnnlab_last_error(), file)) || (words && !strstr(rnnlab_last_error(), words)))
    print_error("expected status %d naming '%s' and '%s'; got %d: %s\n", (int)status, file ? file : "",
                words ? words : "", (int)s, rnnlab_last_error());
  assert_int_equal(s, status);
  assert_ptr_equal(ds, sentinel);
  if (file) assert_non_null(strstr(rnnlab_last_error(), file));
  if (words) assert_non_null(strstr(rnnlab_last_error(), words));
}

/* ---------------------------------------------------------------------------------------------- */
/* IDX                                                                                            */
/* ---------------------------------------------------------------------------------------------- */

static void check_idx_pixels(const rnnlab_dataset *ds, int rows, int cols) {
  const int32_t idx[4] = {6, 0, 3, 6};
  int32_t labels[4] = {-1, -1, -1, -1};
  rnnlab_dataset_info info = info_of(ds);
  float *x;
  int t, b;
  assert_int_equal(info.count, N_IMG);
  assert_int_equal(info.steps, rows * cols);
  assert_int_equal(info.input_size, 1);
  assert_int_equal(info.num_classes, 10);
  assert_int_equal(info.height, rows);
  assert_int_equal(info.width, cols);
  assert_int_equal(info.channels, 1);
  x = batch_of(ds, idx, 4, labels);
  for (t = 0; t < rows * cols; ++t)
    for (b = 0; b < 4; ++b) assert_float_equal(x[t * 4 + b], pix(idx[b], t) / 255.0f, 1e-7);
  for (b = 0; b < 4; ++b) assert_int_equal(labels[b], (int32_t)lab(idx[b]));
  free(x);
}

static void test_idx_plain_and_gzip(void **state) {
  bytes im = idx_images(N_IMG, 3, 4), lb = idx_labels(N_IMG);
  const char *im_plain = write_file("a-images-idx3-ubyte", &im, 0);
  const char *lb_plain = write_file("a-labels-idx1-ubyte", &lb, 0);
  const char *im_gz = write_file("a-images-idx3-ubyte.gz", &im, 1);
  const char *lb_gz = write_file("a-labels-idx1-ubyte.gz", &lb, 1);
  /* gzip is recognised by content: a gzip file without the suffix reads as well. */
  const char *im_gz_noext = write_file("b-images-gzip-without-suffix", &im, 1);
  rnnlab_dataset_config cfg = idx_config(im_plain, lb_plain);
  rnnlab_dataset *ds;
  bytes raw;
  (void)state;
  raw = read_whole(im_gz);
  assert_true(raw.n > 2 && raw.p[0] == 0x1f && raw.p[1] == 0x8b); /* really compressed */
  free(raw.p);

  ds = open_ok(&cfg);
  check_idx_pixels(ds, 3, 4);
  rnnlab_dataset_destroy(ds);
  cfg = idx_config(im_gz, lb_gz);
  ds = open_ok(&cfg);
  check_idx_pixels(ds, 3, 4);
  rnnlab_dataset_destroy(ds);
  cfg = idx_config(im_gz_noext, lb_plain);
  ds = open_ok(&cfg);
  check_idx_pixels(ds, 3, 4);
  rnnlab_dataset_destroy(ds);
  rnnlab_dataset_destroy(NULL);
  free(im.p);
  free(lb.p);
}

static void test_idx_rows_and_normalize(void **state) {
  bytes im = idx_images(N_IMG, 3, 4), lb = idx_labels(N_IMG);
  rnnlab_dataset_config cfg = idx_config(write_file("r-images", &im, 0), write_file("r-labels", &lb, 1));
  rnnlab_dataset *ds;
  rnnlab_dataset_info info;
  const int32_t idx[2] = {2, 5};
  float *x;
  int t, b, j;
  (void)state;
  cfg.mode = RNNLAB_DATASET_ROWS;
  ds = open_ok(&cfg);
  info = info_of(ds);
  assert_int_equal(info.steps, 3);
  assert_int_equal(info.input_size, 4);
  x = batch_of(ds, idx, 2, NULL);
  for (t = 0; t < 3; ++t)
    for (b = 0; b < 2; ++b)
      for (j = 0; j < 4; ++j) assert_float_equal(x[(t * 2 + b) * 4 + j], pix(idx[b], t * 4 + j) / 255.0f, 1e-7);
  free(x);
  rnnlab_dataset_destroy(ds);

  cfg.mode = RNNLAB_DATASET_PIXELS;
  cfg.normalize = 1;
  cfg.mean[0] = 0.5f;
  cfg.std[0] = 0.25f;
  cfg.mean[1] = NAN; /* channels a set does not have are not read */
  ds = open_ok(&cfg);
  x = batch_of(ds, idx, 2, NULL);
  for (t = 0; t < 12; ++t)
    for (b = 0; b < 2; ++b) assert_float_equal(x[t * 2 + b], (pix(idx[b], t) / 255.0f - 0.5f) / 0.25f, 1e-6);
  free(x);
  rnnlab_dataset_destroy(ds);
  free(im.p);
  free(lb.p);
}

static int32_t *permutation_of(const rnnlab_dataset *ds, size_t n) {
  int32_t *p = (int32_t *)malloc(n * sizeof(int32_t));
  assert_int_equal(rnnlab_dataset_permutation(p, n, ds), RNNLAB_OK);
  return p;
}

static void test_permutation(void **state) {
  bytes im = idx_images(N_IMG, 8, 8), lb = idx_labels(N_IMG);
  rnnlab_dataset_config cfg = idx_config(write_file("p-images", &im, 0), write_file("p-labels", &lb, 0));
  rnnlab_dataset *plain, *a, *a2, *other;
  int32_t *pp, *pa, *pa2, *po;
  int seen[64] = {0}, moved = 0, differs = 0, i, t, b;
  const int32_t idx[3] = {1, 4, 1};
  float *x;
  (void)state;
  plain = open_ok(&cfg);
  cfg.permute = 1;
  cfg.permutation_seed = 7;
  a = open_ok(&cfg);
  a2 = open_ok(&cfg);
  cfg.permutation_seed = 8;
  other = open_ok(&cfg);
  pp = permutation_of(plain, 64);
  pa = permutation_of(a, 64);
  pa2 = permutation_of(a2, 64);
  po = permutation_of(other, 64);
  for (i = 0; i < 64; ++i) {
    assert_int_equal(pp[i], i); /* without permute: the identity */
    assert_true(pa[i] >= 0 && pa[i] < 64);
    seen[pa[i]]++;
    moved += pa[i] != i;
    assert_int_equal(pa[i], pa2[i]); /* fixed per seed */
    differs += pa[i] != po[i];
  }
  for (i = 0; i < 64; ++i) assert_int_equal(seen[i], 1); /* a permutation */
  assert_true(moved > 32);
  assert_true(differs > 32);
  x = batch_of(a, idx, 3, NULL);
  for (t = 0; t < 64; ++t)
    for (b = 0; b < 3; ++b) assert_float_equal(x[t * 3 + b], pix(idx[b], pa[t]) / 255.0f, 1e-7);
  free(x);
  assert_int_equal(rnnlab_dataset_permutation(pa, 63, a), RNNLAB_E_SIZE_MISMATCH);
  assert_int_equal(rnnlab_dataset_permutation(NULL, 64, a), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_dataset_permutation(pa, 64, NULL), RNNLAB_E_NULL);
  free(pp);
  free(pa);
  free(pa2);
  free(po);
  rnnlab_dataset_destroy(plain);
  rnnlab_dataset_destroy(a);
  rnnlab_dataset_destroy(a2);
  rnnlab_dataset_destroy(other);
  cfg.mode = RNNLAB_DATASET_ROWS;
  expect_open_error(&cfg, RNNLAB_E_INVALID_CONFIG, NULL, "permute");
  free(im.p);
  free(lb.p);
}

static void test_limit(void **state) {
  bytes im = idx_images(N_IMG, 3, 4), lb = idx_labels(N_IMG);
  rnnlab_dataset_config cfg = idx_config(write_file("l-images", &im, 1), write_file("l-labels", &lb, 0));
  rnnlab_dataset *ds;
  const int32_t idx[1] = {2};
  int32_t label = -1;
  float x[12];
  (void)state;
  cfg.limit = 3;
  ds = open_ok(&cfg);
  assert_int_equal(info_of(ds).count, 3);
  assert_int_equal(rnnlab_dataset_batch(x, 12, &label, 1, ds, idx, 1), RNNLAB_OK);
  assert_int_equal(label, 2);
  assert_float_equal(x[5], pix(2, 5) / 255.0f, 1e-7);
  rnnlab_dataset_destroy(ds);
  cfg.limit = 1000;
  ds = open_ok(&cfg);
  assert_int_equal(info_of(ds).count, N_IMG);
  rnnlab_dataset_destroy(ds);
  cfg.limit = -1;
  expect_open_error(&cfg, RNNLAB_E_INVALID_ARGUMENT, NULL, "limit");
  {
    /* Only what the limit keeps is read: a file damaged past it still opens with that limit. */
    bytes cut = idx_images(N_IMG, 3, 4);
    cut.n -= 5;
    cfg.images_path = write_file("l-images-cut", &cut, 0);
    cfg.limit = 3;
    ds = open_ok(&cfg);
    assert_int_equal(info_of(ds).count, 3);
    rnnlab_dataset_destroy(ds);
    cfg.limit = 0;
    expect_open_error(&cfg, RNNLAB_E_CORRUPT, "l-images-cut", "truncated");
    free(cut.p);
  }
  free(im.p);
  free(lb.p);
}

static void test_idx_malformed(void **state) {
  bytes im = idx_images(N_IMG, 3, 4), lb = idx_labels(N_IMG);
  const char *good_im = write_file("m-images", &im, 0);
  const char *good_lb = write_file("m-labels", &lb, 0);
  rnnlab_dataset_config cfg = idx_config(good_im, good_lb);
  bytes b;
  (void)state;

  cfg.images_path = tmp_path("does-not-exist-images");
  expect_open_error(&cfg, RNNLAB_E_IO, "does-not-exist-images", "No such file");
  cfg = idx_config(good_im, tmp_path("does-not-exist-labels.gz"));
  expect_open_error(&cfg, RNNLAB_E_IO, "does-not-exist-labels.gz", NULL);
  cfg = idx_config(RNNLAB_TEST_TMPDIR, good_lb);
  expect_open_error(&cfg, RNNLAB_E_IO, RNNLAB_TEST_TMPDIR, "directory");
  cfg = idx_config("", good_lb);
  expect_open_error(&cfg, RNNLAB_E_IO, NULL, NULL);

  /* Bad magic: a text file. */
  b.p = NULL;
  b.n = b.cap = 0;
  put(&b, "hello, this is not an IDX file", 30);
  cfg = idx_config(write_file("m-text", &b, 0), good_lb);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-text", "magic");
  free(b.p);
  /* Too short for a header. */
  b.p = NULL;
  b.n = b.cap = 0;
  put(&b, "\0\0", 2);
  cfg = idx_config(write_file("m-short", &b, 0), good_lb);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-short", "truncated");
  free(b.p);
  /* Header cut inside its dimensions. */
  b = idx_images(N_IMG, 3, 4);
  b.n = 10;
  cfg = idx_config(write_file("m-cut-header", &b, 1), good_lb);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-cut-header", "truncated");
  free(b.p);
  /* Empty file. */
  b.p = NULL;
  b.n = b.cap = 0;
  cfg = idx_config(good_im, write_file("m-empty", &b, 0));
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-empty", NULL);
  /* Files swapped: the labels file has rank 1. */
  cfg = idx_config(good_lb, good_im);
  expect_open_error(&cfg, RNNLAB_E_FORMAT, good_lb, "rank");
  /* Another data type (0x0D = float). */
  b = idx_images(N_IMG, 3, 4);
  b.p[2] = 0x0D;
  cfg = idx_config(write_file("m-float", &b, 0), good_lb);
  expect_open_error(&cfg, RNNLAB_E_FORMAT, "m-float", "0x0d");
  free(b.p);
  /* Truncated pixel data, plain and gzip. */
  b = idx_images(N_IMG, 3, 4);
  b.n -= 6;
  cfg = idx_config(write_file("m-trunc", &b, 0), good_lb);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-trunc", "truncated");
  cfg = idx_config(write_file("m-trunc.gz", &b, 1), good_lb);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-trunc.gz", "truncated");
  free(b.p);
  /* A gzip stream cut in the middle. */
  {
    bytes big = idx_images(300, 28, 28), big_lb = idx_labels(300), gz;
    const char *whole = write_file("m-gzcut-whole.gz", &big, 1);
    const char *lb300 = write_file("m-300-labels", &big_lb, 0);
    size_t whole_n;
    cfg = idx_config(whole, lb300);
    rnnlab_dataset_destroy(open_ok(&cfg)); /* intact, it reads */
    gz = read_whole(whole);
    whole_n = gz.n;
    gz.n = whole_n / 2;
    cfg = idx_config(write_file("m-gzcut.gz", &gz, 0), lb300);
    expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-gzcut.gz", "gzip");
    /* Damaged compressed bytes (the gzip CRC or the inflate stream catches it). */
    gz.n = whole_n;
    gz.p[gz.n / 2] ^= 0xFF;
    gz.p[gz.n / 2 + 1] ^= 0xFF;
    gz.p[gz.n / 2 + 2] ^= 0xFF;
    cfg = idx_config(write_file("m-gzbad.gz", &gz, 0), lb300);
    expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-gzbad.gz", "gzip");
    free(big.p);
    free(big_lb.p);
    free(gz.p);
  }
  /* Trailing bytes after the announced data. */
  b = idx_images(N_IMG, 3, 4);
  put_u8(&b, 9);
  cfg = idx_config(write_file("m-trailing", &b, 0), good_lb);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-trailing", "trailing");
  free(b.p);
  b = idx_labels(N_IMG);
  put_u8(&b, 1);
  cfg = idx_config(good_im, write_file("m-trailing-labels", &b, 1));
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-trailing-labels", "trailing");
  free(b.p);
  /* Counts that differ. */
  b = idx_labels(N_IMG - 1);
  cfg = idx_config(good_im, write_file("m-six-labels", &b, 0));
  expect_open_error(&cfg, RNNLAB_E_FORMAT, "m-six-labels", "6 labels");
  assert_non_null(strstr(rnnlab_last_error(), "m-images"));
  free(b.p);
  /* No images at all. */
  {
    bytes e = idx_images(0, 3, 4), el = idx_labels(0);
    cfg = idx_config(write_file("m-zero-images", &e, 0), write_file("m-zero-labels", &el, 0));
    expect_open_error(&cfg, RNNLAB_E_FORMAT, "m-zero-images", "0 images");
    free(e.p);
    free(el.p);
  }
  /* Zero-sized images. */
  b = idx_images(N_IMG, 0, 4);
  cfg = idx_config(write_file("m-zero-rows", &b, 0), good_lb);
  expect_open_error(&cfg, RNNLAB_E_FORMAT, "m-zero-rows", NULL);
  free(b.p);
  /* A label out of range: 10 with 10 classes; and 6 when only 5 classes are declared. */
  b = idx_labels(N_IMG);
  b.p[8 + 4] = 10;
  cfg = idx_config(good_im, write_file("m-label10", &b, 0));
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-label10", "label 10 of example 4");
  free(b.p);
  cfg = idx_config(good_im, good_lb);
  cfg.num_classes = 6;
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "m-labels", "label 6 of example 6");
  cfg.num_classes = 7;
  rnnlab_dataset_destroy(open_ok(&cfg));
  free(im.p);
  free(lb.p);
}

/* ---------------------------------------------------------------------------------------------- */
/* CIFAR-10                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* Record k of the whole set (numbered across files). Channel c: 0 R, 1 G, 2 B. */
static unsigned cpix(int k, int c, int p) {
  static const int a[3] = {5, 7, 11}, m[3] = {1, 3, 7};
  return (unsigned)((k * a[c] + p * m[c] + c) % 256);
}
static unsigned clab(int k) { return (unsigned)((k * 3 + 1) % 10); }

static bytes cifar_records(int first, int n) {
  bytes b = {NULL, 0, 0};
  int k, c, p;
  for (k = first; k < first + n; ++k) {
    put_u8(&b, clab(k));
    for (c = 0; c < 3; ++c)
      for (p = 0; p < 1024; ++p) put_u8(&b, cpix(k, c, p));
  }
  return b;
}

static float gray(int k, int p) {
  return (0.299f * (float)cpix(k, 0, p) + 0.587f * (float)cpix(k, 1, p) + 0.114f * (float)cpix(k, 2, p)) / 255.0f;
}

static rnnlab_dataset_config cifar_config(const char *const *paths, int32_t n) {
  rnnlab_dataset_config cfg = RNNLAB_DATASET_CONFIG_INIT;
  cfg.format = RNNLAB_DATASET_CIFAR10;
  cfg.cifar_paths = paths;
  cfg.cifar_count = n;
  return cfg;
}

static void test_cifar(void **state) {
  bytes f1 = cifar_records(0, 3), f2 = cifar_records(3, 2);
  const char *paths[2];
  const int32_t idx[3] = {4, 0, 3}; /* 3 and 4 come from the second file */
  int32_t labels[3];
  rnnlab_dataset_config cfg;
  rnnlab_dataset *ds;
  rnnlab_dataset_info info;
  float *x;
  int t, b, c, j;
  (void)state;
  paths[0] = write_file("data_batch_1.bin", &f1, 0);
  paths[1] = write_file("data_batch_2.bin.gz", &f2, 1);
  cfg = cifar_config(paths, 2);

  /* Colour, pixels: 1024 steps of R, G, B. */
  ds = open_ok(&cfg);
  info = info_of(ds);
  assert_int_equal(info.count, 5);
  assert_int_equal(info.steps, 1024);
  assert_int_equal(info.input_size, 3);
  assert_int_equal(info.height, 32);
  assert_int_equal(info.width, 32);
  assert_int_equal(info.channels, 3);
  x = batch_of(ds, idx, 3, labels);
  for (b = 0; b < 3; ++b) assert_int_equal(labels[b], (int32_t)clab(idx[b]));
  for (t = 0; t < 1024; ++t)
    for (b = 0; b < 3; ++b)
      for (c = 0; c < 3; ++c) assert_float_equal(x[(t * 3 + b) * 3 + c], cpix(idx[b], c, t) / 255.0f, 1e-7);
  free(x);
  rnnlab_dataset_destroy(ds);

  /* Colour, rows: 32 steps of 96 = 32 pixels x (R, G, B). */
  cfg.mode = RNNLAB_DATASET_ROWS;
  ds = open_ok(&cfg);
  info = info_of(ds);
  assert_int_equal(info.steps, 32);
  assert_int_equal(info.input_size, 96);
  x = batch_of(ds, idx, 3, NULL);
  for (t = 0; t < 32; ++t)
    for (b = 0; b < 3; ++b)
      for (j = 0; j < 32; ++j)
        for (c = 0; c < 3; ++c)
          assert_float_equal(x[(t * 3 + b) * 96 + j * 3 + c], cpix(idx[b], c, t * 32 + j) / 255.0f, 1e-7);
  free(x);
  rnnlab_dataset_destroy(ds);

  /* Grayscale, rows: 32 steps of 32. */
  cfg.grayscale = 1;
  ds = open_ok(&cfg);
  info = info_of(ds);
  assert_int_equal(info.steps, 32);
  assert_int_equal(info.input_size, 32);
  assert_int_equal(info.channels, 1);
  x = batch_of(ds, idx, 3, NULL);
  for (t = 0; t < 32; ++t)
    for (b = 0; b < 3; ++b)
      for (j = 0; j < 32; ++j) assert_float_equal(x[(t * 3 + b) * 32 + j], gray(idx[b], t * 32 + j), 1e-6);
  free(x);
  rnnlab_dataset_destroy(ds);

  /* Grayscale, pixels (seed 000's sequential CIFAR): 1024 steps of 1, values in [0, 1]. */
  cfg.mode = RNNLAB_DATASET_PIXELS;
  ds = open_ok(&cfg);
  info = info_of(ds);
  assert_int_equal(info.steps, 1024);
  assert_int_equal(info.input_size, 1);
  x = batch_of(ds, idx, 3, NULL);
  for (t = 0; t < 1024; ++t)
    for (b = 0; b < 3; ++b) {
      assert_float_equal(x[t * 3 + b], gray(idx[b], t), 1e-6);
      assert_true(x[t * 3 + b] >= 0.0f && x[t * 3 + b] <= 1.0f);
    }
  free(x);
  rnnlab_dataset_destroy(ds);
  /* A hand-computed value: record 0, pixel 1: R 1, G 4, B 9 -> (0.299 + 2.348 + 1.026) / 255. */
  {
    const int32_t zero = 0;
    float xs[1024];
    ds = open_ok(&cfg);
    assert_int_equal(rnnlab_dataset_batch(xs, 1024, NULL, 0, ds, &zero, 1), RNNLAB_OK);
    assert_float_equal(xs[1], 3.673f / 255.0f, 1e-6);
    rnnlab_dataset_destroy(ds);
  }

  /* Per-channel normalisation of colour. */
  cfg.grayscale = 0;
  cfg.normalize = 1;
  cfg.mean[0] = 0.4f;
  cfg.mean[1] = 0.5f;
  cfg.mean[2] = 0.6f;
  cfg.std[0] = 0.2f;
  cfg.std[1] = 0.25f;
  cfg.std[2] = 0.5f;
  ds = open_ok(&cfg);
  x = batch_of(ds, idx, 3, NULL);
  for (t = 0; t < 1024; t += 7)
    for (b = 0; b < 3; ++b)
      for (c = 0; c < 3; ++c)
        assert_float_equal(x[(t * 3 + b) * 3 + c], (cpix(idx[b], c, t) / 255.0f - cfg.mean[c]) / cfg.std[c], 1e-5);
  free(x);
  rnnlab_dataset_destroy(ds);

  /* A limit that ends inside the first file, and one that spans both. */
  cfg = cifar_config(paths, 2);
  cfg.limit = 2;
  ds = open_ok(&cfg);
  assert_int_equal(info_of(ds).count, 2);
  rnnlab_dataset_destroy(ds);
  cfg.limit = 4;
  ds = open_ok(&cfg);
  assert_int_equal(info_of(ds).count, 4);
  {
    const int32_t three = 3;
    int32_t label = -1;
    x = batch_of(ds, &three, 1, &label);
    assert_int_equal(label, (int32_t)clab(3));
    assert_float_equal(x[5 * 3 + 1], cpix(3, 1, 5) / 255.0f, 1e-7);
    free(x);
  }
  rnnlab_dataset_destroy(ds);
  free(f1.p);
  free(f2.p);
}

static void test_cifar_malformed(void **state) {
  bytes good = cifar_records(0, 2), b;
  const char *paths[2];
  rnnlab_dataset_config cfg;
  (void)state;
  paths[0] = write_file("c-good.bin", &good, 0);

  paths[1] = tmp_path("c-missing.bin");
  cfg = cifar_config(paths, 2);
  expect_open_error(&cfg, RNNLAB_E_IO, "c-missing.bin", NULL);
  cfg.limit = 1; /* every listed file must exist, even past the limit */
  expect_open_error(&cfg, RNNLAB_E_IO, "c-missing.bin", NULL);

  b = cifar_records(0, 2);
  b.n -= 100;
  paths[1] = write_file("c-trunc.bin", &b, 0);
  cfg = cifar_config(paths, 2);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "c-trunc.bin", "truncated");
  assert_non_null(strstr(rnnlab_last_error(), "record 1"));
  free(b.p);

  b = cifar_records(0, 2);
  b.p[3073] = 10; /* label of record 1 */
  paths[1] = write_file("c-label.bin", &b, 0);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "c-label.bin", "label 10 of record 1");
  cfg.num_classes = 11;
  rnnlab_dataset_destroy(open_ok(&cfg));
  cfg.num_classes = 10;
  free(b.p);

  b.p = NULL;
  b.n = b.cap = 0;
  paths[1] = write_file("c-empty.bin", &b, 0);
  expect_open_error(&cfg, RNNLAB_E_CORRUPT, "c-empty.bin", "empty");

  paths[1] = paths[0];
  cfg.cifar_count = 2; /* the same file twice is a legitimate (if odd) set */
  {
    rnnlab_dataset *ds = open_ok(&cfg);
    assert_int_equal(info_of(ds).count, 4);
    rnnlab_dataset_destroy(ds);
  }
  free(good.p);
}

/* ---------------------------------------------------------------------------------------------- */
/* Arguments                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

static void test_config_errors(void **state) {
  bytes im = idx_images(N_IMG, 3, 4), lb = idx_labels(N_IMG);
  const char *pi = write_file("e-images", &im, 0), *pl = write_file("e-labels", &lb, 0);
  const char *paths[1];
  rnnlab_dataset_config cfg = idx_config(pi, pl);
  rnnlab_dataset *ds = NULL;
  (void)state;
  paths[0] = pi;
  cfg.struct_size += 8;
  expect_open_error(&cfg, RNNLAB_E_VERSION, NULL, "struct_size");
  cfg.struct_size = 4;
  expect_open_error(&cfg, RNNLAB_E_VERSION, NULL, "struct_size");
  cfg = idx_config(pi, pl);
  cfg.format = (rnnlab_dataset_format)2;
  expect_open_error(&cfg, RNNLAB_E_INVALID_ARGUMENT, NULL, "format");
  cfg = idx_config(pi, pl);
  cfg.mode = (rnnlab_dataset_mode)2;
  expect_open_error(&cfg, RNNLAB_E_INVALID_ARGUMENT, NULL, "mode");
  cfg = idx_config(pi, pl);
  cfg.num_classes = 0;
  expect_open_error(&cfg, RNNLAB_E_INVALID_ARGUMENT, NULL, "num_classes");
  cfg.num_classes = 257;
  expect_open_error(&cfg, RNNLAB_E_INVALID_ARGUMENT, NULL, "num_classes");
  cfg = idx_config(pi, pl);
  cfg.grayscale = 2;
  expect_open_error(&cfg, RNNLAB_E_INVALID_ARGUMENT, NULL, "grayscale");
  cfg = idx_config(pi, pl);
  cfg.normalize = 1;
  cfg.std[0] = 0.0f;
  expect_open_error(&cfg, RNNLAB_E_INVALID_CONFIG, NULL, "std[0]");
  cfg.std[0] = 1.0f;
  cfg.mean[0] = INFINITY;
  expect_open_error(&cfg, RNNLAB_E_INVALID_CONFIG, NULL, "mean[0]");
  cfg = idx_config(NULL, pl);
  expect_open_error(&cfg, RNNLAB_E_NULL, NULL, "images_path");
  cfg = idx_config(pi, NULL);
  expect_open_error(&cfg, RNNLAB_E_NULL, NULL, "labels_path");
  cfg = idx_config(pi, pl);
  cfg.cifar_paths = paths;
  cfg.cifar_count = 1;
  expect_open_error(&cfg, RNNLAB_E_INVALID_CONFIG, NULL, "cifar_paths");
  cfg = cifar_config(paths, 1);
  cfg.images_path = pi;
  expect_open_error(&cfg, RNNLAB_E_INVALID_CONFIG, NULL, "images_path");
  cfg = cifar_config(paths, 0);
  expect_open_error(&cfg, RNNLAB_E_INVALID_ARGUMENT, NULL, "cifar_count");
  cfg = cifar_config(NULL, 1);
  expect_open_error(&cfg, RNNLAB_E_NULL, NULL, "cifar_paths");
  paths[0] = NULL;
  cfg = cifar_config(paths, 1);
  expect_open_error(&cfg, RNNLAB_E_NULL, NULL, "cifar_paths[0]");
  /* Colour CIFAR normalisation reads all three std values. */
  paths[0] = pi;
  cfg = cifar_config(paths, 1);
  cfg.normalize = 1;
  cfg.std[2] = -1.0f;
  expect_open_error(&cfg, RNNLAB_E_INVALID_CONFIG, NULL, "std[2]");
  cfg = idx_config(pi, pl);
  assert_int_equal(rnnlab_dataset_create(NULL, &cfg), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_dataset_create(&ds, NULL), RNNLAB_E_NULL);
  assert_null(ds);
  free(im.p);
  free(lb.p);
}

static void test_batch_errors(void **state) {
  bytes im = idx_images(N_IMG, 3, 4), lb = idx_labels(N_IMG);
  rnnlab_dataset_config cfg = idx_config(write_file("be-images", &im, 0), write_file("be-labels", &lb, 0));
  rnnlab_dataset *ds;
  rnnlab_dataset_info info = RNNLAB_DATASET_INFO_INIT;
  int32_t idx[2] = {1, 7}, labels[2] = {-3, -3};
  float x[24];
  int i;
  (void)state;
  ds = open_ok(&cfg);
  for (i = 0; i < 24; ++i) x[i] = -9.0f;
  assert_int_equal(rnnlab_dataset_batch(x, 24, labels, 2, ds, idx, 2), RNNLAB_E_INVALID_ARGUMENT);
  assert_non_null(strstr(rnnlab_last_error(), "indices[1] = 7"));
  idx[1] = -1;
  assert_int_equal(rnnlab_dataset_batch(x, 24, labels, 2, ds, idx, 2), RNNLAB_E_INVALID_ARGUMENT);
  idx[1] = 6;
  assert_int_equal(rnnlab_dataset_batch(x, 23, labels, 2, ds, idx, 2), RNNLAB_E_SIZE_MISMATCH);
  assert_non_null(strstr(rnnlab_last_error(), "x_count = 23"));
  assert_int_equal(rnnlab_dataset_batch(x, 25, labels, 2, ds, idx, 2), RNNLAB_E_SIZE_MISMATCH);
  assert_int_equal(rnnlab_dataset_batch(x, 24, labels, 1, ds, idx, 2), RNNLAB_E_SIZE_MISMATCH);
  assert_int_equal(rnnlab_dataset_batch(x, 24, NULL, 2, ds, idx, 2), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_dataset_batch(x, 0, labels, 0, ds, idx, 0), RNNLAB_E_INVALID_ARGUMENT);
  assert_int_equal(rnnlab_dataset_batch(NULL, 24, labels, 2, ds, idx, 2), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_dataset_batch(x, 24, labels, 2, NULL, idx, 2), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_dataset_batch(x, 24, labels, 2, ds, NULL, 2), RNNLAB_E_NULL);
  /* Nothing was written by any refused call. */
  for (i = 0; i < 24; ++i) assert_true(x[i] == -9.0f);
  assert_int_equal(labels[0], -3);
  assert_int_equal(labels[1], -3);
  assert_int_equal(rnnlab_dataset_batch(x, 24, labels, 2, ds, idx, 2), RNNLAB_OK);
  assert_int_equal(labels[1], 6);
  info.struct_size += 4;
  assert_int_equal(rnnlab_dataset_get_info(&info, ds), RNNLAB_E_VERSION);
  assert_int_equal(rnnlab_dataset_get_info(NULL, ds), RNNLAB_E_NULL);
  info.struct_size = (uint32_t)sizeof info;
  assert_int_equal(rnnlab_dataset_get_info(&info, NULL), RNNLAB_E_NULL);
  rnnlab_dataset_destroy(ds);
  free(im.p);
  free(lb.p);
}

/* ---------------------------------------------------------------------------------------------- */
/* The real Fashion-MNIST test set                                                                */
/* ---------------------------------------------------------------------------------------------- */

static void test_fashion_mnist(void **state) {
  char images[1024], labels_path[1024];
  struct stat st;
  rnnlab_dataset_config cfg;
  rnnlab_dataset *ds;
  rnnlab_dataset_info info;
  int32_t *idx, *labels, class_count[10] = {0};
  float *x;
  const int32_t first_labels[12] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5};
  /* Row 14 of the first test image, as published. */
  const unsigned row14[28] = {0, 0, 0, 0, 0, 0, 2, 4, 1, 0, 0, 0, 98, 136, 110, 109, 110, 162, 135, 144, 149, 159, 167, 144, 158, 169, 119, 0};
  double sum0 = 0.0;
  size_t B = 10000, n, i;
  int t;
  (void)state;
  if (stat(RNNLAB_FASHION_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
    printf("test_fashion_mnist: skipped: %s is not a directory (install Debian's dataset-fashion-mnist or set "
           "RNNLAB_FASHION_DIR)\n",
           RNNLAB_FASHION_DIR);
    skip();
  }
  snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", RNNLAB_FASHION_DIR);
  snprintf(labels_path, sizeof labels_path, "%s/t10k-labels-idx1-ubyte.gz", RNNLAB_FASHION_DIR);
  cfg = idx_config(images, labels_path);
  ds = open_ok(&cfg);
  info = info_of(ds);
  assert_int_equal(info.count, 10000);
  assert_int_equal(info.steps, 784);
  assert_int_equal(info.input_size, 1);
  assert_int_equal(info.num_classes, 10);
  idx = (int32_t *)malloc(B * sizeof(int32_t));
  labels = (int32_t *)malloc(B * sizeof(int32_t));
  for (i = 0; i < B; ++i) idx[i] = (int32_t)i;
  n = 784 * B;
  x = (float *)malloc(n * sizeof(float));
  assert_non_null(x);
  assert_int_equal(rnnlab_dataset_batch(x, n, labels, B, ds, idx, B), RNNLAB_OK);
  for (i = 0; i < B; ++i) {
    assert_true(labels[i] >= 0 && labels[i] <= 9);
    class_count[labels[i]]++;
  }
  for (i = 0; i < 10; ++i) assert_int_equal(class_count[i], 1000);
  for (i = 0; i < 12; ++i) assert_int_equal(labels[i], first_labels[i]);
  for (i = 0; i < n; ++i) assert_true(x[i] >= 0.0f && x[i] <= 1.0f);
  for (t = 0; t < 784; ++t) sum0 += x[(size_t)t * B];
  assert_float_equal(sum0 * 255.0, 33456.0, 0.05);
  for (t = 0; t < 28; ++t) assert_float_equal(x[(size_t)(14 * 28 + t) * B], row14[t] / 255.0f, 1e-7);
  free(x);
  rnnlab_dataset_destroy(ds);

  /* Rows mode, and a subset of the training set (the limit stops reading early). */
  snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz", RNNLAB_FASHION_DIR);
  snprintf(labels_path, sizeof labels_path, "%s/train-labels-idx1-ubyte.gz", RNNLAB_FASHION_DIR);
  cfg = idx_config(images, labels_path);
  cfg.mode = RNNLAB_DATASET_ROWS;
  cfg.limit = 500;
  ds = open_ok(&cfg);
  info = info_of(ds);
  assert_int_equal(info.count, 500);
  assert_int_equal(info.steps, 28);
  assert_int_equal(info.input_size, 28);
  x = (float *)malloc(28 * 28 * 500 * sizeof(float));
  assert_int_equal(rnnlab_dataset_batch(x, 28 * 28 * 500, labels, 500, ds, idx, 500), RNNLAB_OK);
  assert_int_equal(labels[0], 9); /* the first training image is an ankle boot */
  for (i = 0; i < 500; ++i) assert_true(labels[i] >= 0 && labels[i] <= 9);
  free(x);
  rnnlab_dataset_destroy(ds);
  free(idx);
  free(labels);
}

static int make_tmpdir(void **state) {
  (void)state;
  mkdir(RNNLAB_TEST_TMPDIR, 0777); /* the test build creates it; a manual build may not have */
  return 0;
}

static int remove_files(void **state) {
  int i;
  (void)state;
  for (i = 0; i < g_n_written; ++i) {
    remove(g_written[i]);
    free(g_written[i]);
  }
  g_n_written = 0;
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idx_plain_and_gzip),
      cmocka_unit_test(test_idx_rows_and_normalize),
      cmocka_unit_test(test_permutation),
      cmocka_unit_test(test_limit),
      cmocka_unit_test(test_idx_malformed),
      cmocka_unit_test(test_cifar),
      cmocka_unit_test(test_cifar_malformed),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_batch_errors),
      cmocka_unit_test(test_fashion_mnist),
  };
  return cmocka_run_group_tests(tests, make_tmpdir, remove_files);
}
