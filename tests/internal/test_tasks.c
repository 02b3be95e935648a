/* Synthetic tasks: every rule of spec/tasks.md checked on many drawn batches, recomputed from the
 * inputs alone; determinism per seed; refused calls that leave the task as it was; the wrong-count
 * rules on hand-made outputs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rnnlab/rnnlab.h>
#include <rnnlab/rnnlab_data.h>

#define N_BATCHES 400

typedef struct drawn {
  int32_t T, B, I, O;
  float *x;
  int32_t *classes;
  float *values;
  size_t x_cap, classes_cap, values_cap;
} drawn;

static rnnlab_task *make_task(rnnlab_task_kind kind, int32_t min_length, int32_t max_length, uint64_t seed) {
  rnnlab_task_config cfg = RNNLAB_TASK_CONFIG_INIT;
  rnnlab_task *task = NULL;
  cfg.kind = kind;
  cfg.min_length = min_length;
  cfg.max_length = max_length;
  cfg.seed = seed;
  assert_int_equal(rnnlab_task_create(&task, &cfg), RNNLAB_OK);
  assert_non_null(task);
  return task;
}

static rnnlab_task_info get_info(const rnnlab_task *task) {
  rnnlab_task_info info = RNNLAB_TASK_INFO_INIT;
  assert_int_equal(rnnlab_task_get_info(&info, task), RNNLAB_OK);
  return info;
}

/* Buffers sized once from info.max_steps, as the header tells callers to. */
static drawn alloc_drawn(const rnnlab_task *task, int32_t B) {
  rnnlab_task_info info = get_info(task);
  drawn d;
  memset(&d, 0, sizeof d);
  d.B = B;
  d.I = info.input_size;
  d.O = info.output_size;
  d.x_cap = (size_t)info.max_steps * (size_t)B * (size_t)info.input_size;
  d.classes_cap = (size_t)info.max_steps * (size_t)B;
  d.values_cap = (size_t)B * (size_t)info.output_size;
  /* Zeroed, so that buffers a task does not write compare equal between tasks. */
  d.x = (float *)calloc(d.x_cap, sizeof(float));
  d.classes = (int32_t *)calloc(d.classes_cap, sizeof(int32_t));
  d.values = (float *)calloc(d.values_cap, sizeof(float));
  assert_non_null(d.x);
  assert_non_null(d.classes);
  assert_non_null(d.values);
  return d;
}

static void free_drawn(drawn *d) {
  free(d->x);
  free(d->classes);
  free(d->values);
}

static void draw(drawn *d, rnnlab_task *task, int32_t length) {
  assert_int_equal(rnnlab_task_draw(&d->T, d->x, d->x_cap, d->classes, d->classes_cap, d->values, d->values_cap,
                                    task, d->B, length),
                   RNNLAB_OK);
}

static float X(const drawn *d, int32_t t, int32_t b, int32_t i) {
  return d->x[((size_t)t * (size_t)d->B + (size_t)b) * (size_t)d->I + (size_t)i];
}

/* The symbol of a one-hot row; fails the test unless the row is exactly one-hot. */
static int32_t symbol(const drawn *d, int32_t t, int32_t b) {
  int32_t sym = -1, i;
  for (i = 0; i < d->I; ++i) {
    float v = X(d, t, b, i);
    if (v == 1.0f) {
      assert_int_equal(sym, -1);
      sym = i;
    } else {
      assert_true(v == 0.0f);
    }
  }
  assert_true(sym >= 0);
  return sym;
}

/* ---------------------------------------------------------------------------------------------- */

static void test_kind_names(void **state) {
  static const char *names[] = {"add", "mul", "mem", "torder", "torder3", "perm"};
  int k;
  rnnlab_task_kind kind = RNNLAB_TASK_ADD;
  (void)state;
  for (k = 0; k < 6; ++k) {
    assert_string_equal(rnnlab_task_kind_name((rnnlab_task_kind)k), names[k]);
    assert_int_equal(rnnlab_task_kind_from_name(&kind, names[k]), RNNLAB_OK);
    assert_int_equal((int)kind, k);
  }
  assert_null(rnnlab_task_kind_name((rnnlab_task_kind)6));
  assert_null(rnnlab_task_kind_name((rnnlab_task_kind)-1));
  kind = RNNLAB_TASK_MUL;
  assert_int_equal(rnnlab_task_kind_from_name(&kind, "Add"), RNNLAB_E_NOT_FOUND);
  assert_non_null(strstr(rnnlab_last_error(), "Add"));
  assert_int_equal((int)kind, RNNLAB_TASK_MUL);
  assert_int_equal(rnnlab_task_kind_from_name(&kind, "torder33"), RNNLAB_E_NOT_FOUND);
  assert_int_equal(rnnlab_task_kind_from_name(NULL, "add"), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_task_kind_from_name(&kind, NULL), RNNLAB_E_NULL);
}

static void test_info(void **state) {
  struct {
    rnnlab_task_kind kind;
    int32_t I, O;
    rnnlab_head head;
    int32_t min_steps, max_steps; /* min_length 50, max_length 200 */
  } expect[] = {
      {RNNLAB_TASK_ADD, 2, 1, RNNLAB_HEAD_LAST_LINEAR, 50, 199 + 19 - 1},
      {RNNLAB_TASK_MUL, 2, 1, RNNLAB_HEAD_LAST_LINEAR, 50, 199 + 19 - 1},
      {RNNLAB_TASK_MEM, 7, 6, RNNLAB_HEAD_EVERY_SOFTMAX, 70, 219},
      {RNNLAB_TASK_TORDER, 6, 4, RNNLAB_HEAD_LAST_SOFTMAX, 50, 199},
      {RNNLAB_TASK_TORDER3, 6, 8, RNNLAB_HEAD_LAST_SOFTMAX, 50, 199},
      {RNNLAB_TASK_PERM, 100, 100, RNNLAB_HEAD_LAST_SOFTMAX, 50, 199},
  };
  size_t k;
  (void)state;
  for (k = 0; k < sizeof expect / sizeof expect[0]; ++k) {
    rnnlab_task *task = make_task(expect[k].kind, 50, 200, 1);
    rnnlab_task_info info = get_info(task);
    int32_t lo = -1, hi = -1;
    assert_int_equal(info.kind, expect[k].kind);
    assert_int_equal(info.input_size, expect[k].I);
    assert_int_equal(info.output_size, expect[k].O);
    assert_int_equal(info.head, expect[k].head);
    assert_int_equal(info.min_steps, expect[k].min_steps);
    assert_int_equal(info.max_steps, expect[k].max_steps);
    assert_int_equal(info.fixed_batch, 0);
    assert_int_equal(rnnlab_task_steps(&lo, &hi, task, 0), RNNLAB_OK);
    assert_int_equal(lo, info.min_steps);
    assert_int_equal(hi, info.max_steps);
    /* An explicit length: the CS728 diagnostic batch uses max_length itself. */
    assert_int_equal(rnnlab_task_steps(&lo, &hi, task, 200), RNNLAB_OK);
    if (expect[k].head == RNNLAB_HEAD_LAST_LINEAR) {
      assert_int_equal(lo, 200);
      assert_int_equal(hi, 200 + 20 - 1);
    } else {
      assert_int_equal(lo, expect[k].head == RNNLAB_HEAD_EVERY_SOFTMAX ? 220 : 200);
      assert_int_equal(hi, lo);
    }
    assert_int_equal(rnnlab_task_steps(NULL, &hi, task, 0), RNNLAB_OK);
    assert_int_equal(rnnlab_task_steps(NULL, NULL, task, 0), RNNLAB_E_NULL);
    assert_int_equal(rnnlab_task_steps(&lo, &hi, task, -1), RNNLAB_E_INVALID_ARGUMENT);
    assert_int_equal(rnnlab_task_steps(&lo, &hi, task, (1 << 24) + 1), RNNLAB_E_INVALID_ARGUMENT);
    rnnlab_task_destroy(task);
  }
  {
    /* max_length <= min_length: L is min_length. */
    rnnlab_task *task = make_task(RNNLAB_TASK_TORDER, 30, 30, 1);
    rnnlab_task_info info = get_info(task);
    assert_int_equal(info.min_steps, 30);
    assert_int_equal(info.max_steps, 30);
    rnnlab_task_destroy(task);
    task = make_task(RNNLAB_TASK_ADD, 30, 5, 1);
    info = get_info(task);
    assert_int_equal(info.min_steps, 30);
    assert_int_equal(info.max_steps, 32);
    assert_int_equal(rnnlab_task_steps(NULL, NULL, task, 9), RNNLAB_E_NULL);
    {
      int32_t hi = 0;
      assert_int_equal(rnnlab_task_steps(NULL, &hi, task, 9), RNNLAB_E_INVALID_ARGUMENT); /* add needs L >= 10 */
    }
    rnnlab_task_destroy(task);
  }
  {
    rnnlab_task *task = make_task(RNNLAB_TASK_MEM, 5, 6, 1);
    rnnlab_task_info info = RNNLAB_TASK_INFO_INIT;
    info.struct_size += 4;
    assert_int_equal(rnnlab_task_get_info(&info, task), RNNLAB_E_VERSION);
    info.struct_size = 4;
    assert_int_equal(rnnlab_task_get_info(&info, task), RNNLAB_E_VERSION);
    assert_int_equal(rnnlab_task_get_info(NULL, task), RNNLAB_E_NULL);
    info.struct_size = (uint32_t)sizeof info;
    assert_int_equal(rnnlab_task_get_info(&info, NULL), RNNLAB_E_NULL);
    rnnlab_task_destroy(task);
  }
  rnnlab_task_destroy(NULL);
}

/* Every L of [min_length, max_length - 1] shows up, and no other. */
static void check_length_coverage(const int *seen, int32_t min_length, int32_t max_length) {
  int32_t L;
  for (L = 0; L < 64; ++L) {
    if (L >= min_length && L < max_length)
      assert_true(seen[L] > 0);
    else
      assert_int_equal(seen[L], 0);
  }
}

static void test_torder(void **state) {
  int n_markers;
  (void)state;
  for (n_markers = 2; n_markers <= 3; ++n_markers) {
    const rnnlab_task_kind kind = n_markers == 2 ? RNNLAB_TASK_TORDER : RNNLAB_TASK_TORDER3;
    rnnlab_task *task = make_task(kind, 10, 60, 11);
    drawn d = alloc_drawn(task, 5);
    int seen_L[64] = {0}, class_count[8] = {0}, distractor[6] = {0};
    int n, k;
    for (n = 0; n < N_BATCHES; ++n) {
      const int32_t *base;
      int32_t base2[2], base3[3], L, tenth, b, t;
      draw(&d, task, 0);
      L = d.T; /* T = L for torder */
      assert_true(L >= 10 && L < 60);
      seen_L[L]++;
      tenth = L / 10;
      base2[0] = tenth;
      base2[1] = L / 2;
      base3[0] = tenth;
      base3[1] = 3 * L / 10;
      base3[2] = 6 * L / 10;
      base = n_markers == 2 ? base2 : base3;
      for (b = 0; b < d.B; ++b) {
        int32_t target = 0, m;
        int found[3] = {0, 0, 0};
        for (t = 0; t < L; ++t) {
          int32_t sym = symbol(&d, t, b);
          int in_window = -1;
          for (m = 0; m < n_markers; ++m)
            if (t >= base[m] && t < base[m] + tenth) in_window = m;
          if (sym < 2) {
            /* A marker (A = 0, B = 1): only inside its window, once per window. */
            assert_true(in_window >= 0);
            assert_int_equal(found[in_window], 0);
            found[in_window] = 1;
            target += sym << in_window;
          } else {
            assert_true(sym <= 5);
            distractor[sym]++;
          }
        }
        for (m = 0; m < n_markers; ++m) assert_int_equal(found[m], 1);
        assert_int_equal(d.classes[b], target);
        class_count[target]++;
      }
    }
    check_length_coverage(seen_L, 10, 60);
    for (k = 0; k < (1 << n_markers); ++k) assert_true(class_count[k] > 0);
    for (k = 2; k < 6; ++k) assert_true(distractor[k] > 0);
    free_drawn(&d);
    rnnlab_task_destroy(task);
  }
}

static void test_add_mul(void **state) {
  int which;
  (void)state;
  for (which = 0; which < 2; ++which) {
    const rnnlab_task_kind kind = which == 0 ? RNNLAB_TASK_ADD : RNNLAB_TASK_MUL;
    rnnlab_task *task = make_task(kind, 10, 50, 5);
    rnnlab_task_info info = get_info(task);
    drawn d = alloc_drawn(task, 4);
    int n, saw_extra = 0, saw_max = 0;
    double sum = 0.0;
    long count = 0;
    for (n = 0; n < N_BATCHES; ++n) {
      int32_t b, t;
      draw(&d, task, 0);
      assert_true(d.T >= 10 && d.T <= info.max_steps);
      /* T = L + randint(int(0.1 L)) with L < 50: at most 49 + 3. */
      assert_true(d.T <= 52);
      if (d.T >= 50) saw_extra = 1;
      if (d.T == info.max_steps) saw_max = 1;
      for (b = 0; b < d.B; ++b) {
        int32_t p[2], np = 0;
        float expect;
        for (t = 0; t < d.T; ++t) {
          float m = X(&d, t, b, 0), v = X(&d, t, b, 1);
          assert_true(m == 0.0f || m == 1.0f);
          if (m == 1.0f) {
            assert_true(np < 2);
            p[np++] = t;
          }
          assert_true(v >= 0.0f && v < 1.0f);
          sum += v;
          ++count;
        }
        assert_int_equal(np, 2);
        /* Windows of the actual T: p0 in [0, int(.1T)), p1 in [int(.1T), int(.1T) + int(.4T)). */
        assert_true(p[0] < d.T / 10);
        assert_true(p[1] >= d.T / 10 && p[1] < d.T / 10 + 4 * d.T / 10);
        expect = kind == RNNLAB_TASK_ADD ? (X(&d, p[0], b, 1) + X(&d, p[1], b, 1)) / 2.0f
                                         : X(&d, p[0], b, 1) * X(&d, p[1], b, 1);
        assert_float_equal(d.values[b], expect, 1e-6);
      }
    }
    assert_true(saw_extra);
    assert_true(saw_max);
    assert_float_equal(sum / (double)count, 0.5, 0.01);
    free_drawn(&d);
    rnnlab_task_destroy(task);
  }
}

static void test_perm(void **state) {
  rnnlab_task *task = make_task(RNNLAB_TASK_PERM, 1, 40, 3);
  drawn d = alloc_drawn(task, 6);
  int n, seen_L[64] = {0}, targets[2] = {0, 0}, low = 99, high = 2;
  (void)state;
  for (n = 0; n < N_BATCHES; ++n) {
    int32_t b, t;
    draw(&d, task, 0);
    assert_true(d.T >= 1 && d.T < 40);
    seen_L[d.T]++;
    for (b = 0; b < d.B; ++b) {
      int32_t first = symbol(&d, 0, b);
      assert_true(first == 0 || first == 1);
      assert_int_equal(d.classes[b], first);
      targets[first]++;
      for (t = 1; t < d.T; ++t) {
        int32_t sym = symbol(&d, t, b);
        assert_true(sym >= 2 && sym <= 99);
        if (sym < low) low = sym;
        if (sym > high) high = sym;
      }
    }
  }
  check_length_coverage(seen_L, 1, 40);
  assert_true(targets[0] > 0 && targets[1] > 0);
  assert_int_equal(low, 2);
  assert_int_equal(high, 99);
  free_drawn(&d);
  rnnlab_task_destroy(task);
}

static void check_mem_batch(const drawn *d, int32_t memvalues, int32_t mempos, int32_t L, const int32_t *patterns) {
  const int32_t blank = memvalues, cue = memvalues + 1;
  int32_t b, t;
  assert_int_equal(d->T, L + 2 * mempos);
  for (b = 0; b < d->B; ++b) {
    int32_t digits[16];
    for (t = 0; t < mempos; ++t) {
      digits[t] = symbol(d, t, b);
      assert_true(digits[t] < memvalues);
      if (patterns) {
        int32_t v = patterns[b], k;
        for (k = 0; k < t; ++k) v /= memvalues;
        assert_int_equal(digits[t], v % memvalues);
      }
    }
    for (t = mempos; t < d->T; ++t) assert_int_equal(symbol(d, t, b), t == L + mempos ? cue : blank);
    for (t = 0; t < d->T; ++t) {
      int32_t target = d->classes[(size_t)t * (size_t)d->B + (size_t)b];
      if (t < L + mempos)
        assert_int_equal(target, blank);
      else
        assert_int_equal(target, digits[t - L - mempos]); /* the first is due at the cue step */
    }
  }
}

static void test_mem(void **state) {
  rnnlab_task *task = make_task(RNNLAB_TASK_MEM, 1, 30, 9);
  drawn d = alloc_drawn(task, 8);
  int n, seen_L[64] = {0}, digit_count[5] = {0};
  (void)state;
  for (n = 0; n < N_BATCHES; ++n) {
    int32_t b, t;
    draw(&d, task, 0);
    seen_L[d.T - 20]++;
    check_mem_batch(&d, 5, 10, d.T - 20, NULL);
    for (b = 0; b < d.B; ++b)
      for (t = 0; t < 10; ++t) digit_count[symbol(&d, t, b)]++;
  }
  check_length_coverage(seen_L, 1, 30);
  for (n = 0; n < 5; ++n) assert_true(digit_count[n] > 0);
  free_drawn(&d);
  rnnlab_task_destroy(task);

  {
    /* Other memvalues / mempos, and an explicit length. */
    rnnlab_task_config cfg = RNNLAB_TASK_CONFIG_INIT;
    rnnlab_task_info info;
    cfg.memvalues = 3;
    cfg.mempos = 4;
    cfg.min_length = 5;
    cfg.max_length = 9;
    assert_int_equal(rnnlab_task_create(&task, &cfg), RNNLAB_OK);
    info = get_info(task);
    assert_int_equal(info.input_size, 5);
    assert_int_equal(info.output_size, 4);
    assert_int_equal(info.max_steps, 8 + 8);
    d = alloc_drawn(task, 3);
    for (n = 0; n < 50; ++n) {
      draw(&d, task, 0);
      check_mem_batch(&d, 3, 4, d.T - 8, NULL);
    }
    free_drawn(&d);
    d.x_cap = 9 * 3 * 5 + 100; /* explicit L = 1 gives T = 9 */
    d.x = (float *)malloc(d.x_cap * sizeof(float));
    d.classes_cap = 27;
    d.classes = (int32_t *)malloc(d.classes_cap * sizeof(int32_t));
    d.values = NULL;
    d.values_cap = 0;
    assert_int_equal(rnnlab_task_draw(&d.T, d.x, d.x_cap, d.classes, d.classes_cap, NULL, 0, task, 3, 1), RNNLAB_OK);
    check_mem_batch(&d, 3, 4, 1, NULL);
    free_drawn(&d);
    rnnlab_task_destroy(task);
  }
  {
    /* mem_all: the batch of every pattern, sequence b holding pattern b. */
    rnnlab_task_config cfg = RNNLAB_TASK_CONFIG_INIT;
    rnnlab_task_info info;
    int32_t patterns[8], b, T = 0;
    cfg.memvalues = 2;
    cfg.mempos = 3;
    cfg.min_length = 4;
    cfg.max_length = 8;
    cfg.mem_all = 1;
    assert_int_equal(rnnlab_task_create(&task, &cfg), RNNLAB_OK);
    info = get_info(task);
    assert_int_equal(info.fixed_batch, 8);
    d = alloc_drawn(task, 8);
    for (b = 0; b < 8; ++b) patterns[b] = b;
    for (n = 0; n < 20; ++n) {
      draw(&d, task, 0);
      check_mem_batch(&d, 2, 3, d.T - 6, patterns);
    }
    assert_int_equal(rnnlab_task_draw(&T, d.x, d.x_cap, d.classes, d.classes_cap, NULL, 0, task, 7, 0),
                     RNNLAB_E_INVALID_ARGUMENT);
    assert_non_null(strstr(rnnlab_last_error(), "mem_all"));
    free_drawn(&d);
    rnnlab_task_destroy(task);
  }
}

/* ---------------------------------------------------------------------------------------------- */

static int same_batches(rnnlab_task *a, rnnlab_task *b, int n_draws) {
  drawn da = alloc_drawn(a, 3), db = alloc_drawn(b, 3);
  int n, same = 1;
  for (n = 0; n < n_draws; ++n) {
    draw(&da, a, 0);
    draw(&db, b, 0);
    if (da.T != db.T ||
        memcmp(da.x, db.x, (size_t)da.T * (size_t)da.B * (size_t)da.I * sizeof(float)) != 0 ||
        memcmp(da.classes, db.classes, da.classes_cap * sizeof(int32_t)) != 0 ||
        memcmp(da.values, db.values, da.values_cap * sizeof(float)) != 0)
      same = 0;
  }
  free_drawn(&da);
  free_drawn(&db);
  return same;
}

static void test_determinism(void **state) {
  int k;
  (void)state;
  for (k = 0; k < 6; ++k) {
    rnnlab_task *a = make_task((rnnlab_task_kind)k, 10, 80, 1234);
    rnnlab_task *b = make_task((rnnlab_task_kind)k, 10, 80, 1234);
    rnnlab_task *c = make_task((rnnlab_task_kind)k, 10, 80, 1235);
    assert_true(same_batches(a, b, 10));
    assert_false(same_batches(a, c, 10));
    /* Reseeding restarts the stream: a, reseeded, matches a fresh task of that seed. */
    assert_int_equal(rnnlab_task_reseed(a, 1235), RNNLAB_OK);
    rnnlab_task_destroy(c);
    c = make_task((rnnlab_task_kind)k, 10, 80, 1235);
    assert_true(same_batches(a, c, 5));
    rnnlab_task_destroy(a);
    rnnlab_task_destroy(b);
    rnnlab_task_destroy(c);
  }
  assert_int_equal(rnnlab_task_reseed(NULL, 1), RNNLAB_E_NULL);
}

/* Pinned values: a seed gives these batches on every platform. They were computed by an
 * independent Python model of the generator (xoshiro256** seeded by splitmix64, rejection
 * sampling, 24-bit floats) and of the draw order documented in the header, not by this library. */
static void test_pinned_stream(void **state) {
  rnnlab_task *task = make_task(RNNLAB_TASK_TORDER, 50, 200, 52);
  drawn d = alloc_drawn(task, 2);
  long checksum = 0;
  int32_t t, b;
  (void)state;
  draw(&d, task, 0);
  assert_int_equal(d.T, 183);
  assert_int_equal(d.classes[0], 0);
  assert_int_equal(d.classes[1], 0);
  for (t = 0; t < d.T; ++t)
    for (b = 0; b < 2; ++b) checksum += (long)symbol(&d, t, b) * (t + 1) * (b + 1);
  assert_int_equal(checksum, 179089);
  /* The next two draws continue the same stream. */
  draw(&d, task, 0);
  assert_int_equal(d.T, 115);
  assert_int_equal(d.classes[0], 2);
  assert_int_equal(d.classes[1], 1);
  for (checksum = 0, t = 0; t < d.T; ++t)
    for (b = 0; b < 2; ++b) checksum += (long)symbol(&d, t, b) * (t + 1) * (b + 1);
  assert_int_equal(checksum, 68187);
  draw(&d, task, 0);
  assert_int_equal(d.T, 77);
  assert_int_equal(d.classes[0], 0);
  assert_int_equal(d.classes[1], 1);
  for (checksum = 0, t = 0; t < d.T; ++t)
    for (b = 0; b < 2; ++b) checksum += (long)symbol(&d, t, b) * (t + 1) * (b + 1);
  assert_int_equal(checksum, 30500);
  free_drawn(&d);
  rnnlab_task_destroy(task);

  task = make_task(RNNLAB_TASK_ADD, 50, 200, 52);
  d = alloc_drawn(task, 2);
  draw(&d, task, 0);
  assert_int_equal(d.T, 186);
  assert_true(X(&d, 12, 0, 0) == 1.0f && X(&d, 77, 0, 0) == 1.0f);
  assert_true(X(&d, 9, 1, 0) == 1.0f && X(&d, 76, 1, 0) == 1.0f);
  assert_true(X(&d, 12, 0, 1) == 0x1.850e4p-3f);
  assert_true(X(&d, 77, 0, 1) == 0x1.d72204p-2f);
  assert_true(X(&d, 9, 1, 1) == 0x1.c95584p-2f);
  assert_true(X(&d, 76, 1, 1) == 0x1.cd79b4p-2f);
  assert_true(d.values[0] == (0x1.850e4p-3f + 0x1.d72204p-2f) * 0.5f);
  free_drawn(&d);
  rnnlab_task_destroy(task);
}

static void test_refused_draw_keeps_state(void **state) {
  int k;
  (void)state;
  for (k = 0; k < 6; ++k) {
    const rnnlab_task_kind kind = (rnnlab_task_kind)k;
    const int regression = kind == RNNLAB_TASK_ADD || kind == RNNLAB_TASK_MUL;
    rnnlab_task *a = make_task(kind, 20, 100, 77);
    rnnlab_task *fresh = make_task(kind, 20, 100, 77);
    drawn da = alloc_drawn(a, 4), df = alloc_drawn(fresh, 4);
    int32_t T = -5;
    size_t i;
    for (i = 0; i < da.x_cap; ++i) da.x[i] = -7.0f;
    /* x one element short of what any draw could need at the smallest T: always refused. */
    assert_int_equal(rnnlab_task_draw(&T, da.x, 4 * 20 * (size_t)da.I - 1, da.classes, da.classes_cap, da.values,
                                      da.values_cap, a, 4, 0),
                     RNNLAB_E_SIZE_MISMATCH);
    assert_non_null(strstr(rnnlab_last_error(), "x_count"));
    assert_int_equal(T, -5);
    for (i = 0; i < da.x_cap; ++i) assert_true(da.x[i] == -7.0f);
    /* Targets too small. */
    if (regression) {
      assert_int_equal(rnnlab_task_draw(&T, da.x, da.x_cap, NULL, 0, da.values, 3, a, 4, 0), RNNLAB_E_SIZE_MISMATCH);
      assert_non_null(strstr(rnnlab_last_error(), "values_count"));
      assert_int_equal(rnnlab_task_draw(&T, da.x, da.x_cap, da.classes, da.classes_cap, NULL, 0, a, 4, 0),
                       RNNLAB_E_NULL);
    } else {
      assert_int_equal(rnnlab_task_draw(&T, da.x, da.x_cap, da.classes, 3, NULL, 0, a, 4, 0),
                       RNNLAB_E_SIZE_MISMATCH);
      assert_non_null(strstr(rnnlab_last_error(), "classes_count"));
      assert_int_equal(rnnlab_task_draw(&T, da.x, da.x_cap, NULL, 0, da.values, da.values_cap, a, 4, 0),
                       RNNLAB_E_NULL);
    }
    for (i = 0; i < da.x_cap; ++i) assert_true(da.x[i] == -7.0f);
    assert_int_equal(rnnlab_task_draw(&T, da.x, da.x_cap, da.classes, da.classes_cap, da.values, da.values_cap, a, 0, 0),
                     RNNLAB_E_INVALID_ARGUMENT);
    assert_int_equal(rnnlab_task_draw(&T, da.x, da.x_cap, da.classes, da.classes_cap, da.values, da.values_cap, a, 4, -3),
                     RNNLAB_E_INVALID_ARGUMENT);
    assert_int_equal(rnnlab_task_draw(NULL, da.x, da.x_cap, da.classes, da.classes_cap, da.values, da.values_cap, a, 4, 0),
                     RNNLAB_E_NULL);
    assert_int_equal(rnnlab_task_draw(&T, NULL, da.x_cap, da.classes, da.classes_cap, da.values, da.values_cap, a, 4, 0),
                     RNNLAB_E_NULL);
    assert_int_equal(rnnlab_task_draw(&T, da.x, da.x_cap, da.classes, da.classes_cap, da.values, da.values_cap, NULL, 4, 0),
                     RNNLAB_E_NULL);
    if (kind != RNNLAB_TASK_MEM && kind != RNNLAB_TASK_PERM)
      assert_int_equal(rnnlab_task_draw(&T, da.x, da.x_cap, da.classes, da.classes_cap, da.values, da.values_cap, a, 4, 9),
                       RNNLAB_E_INVALID_ARGUMENT);
    assert_int_equal(T, -5);
    /* After all that, the task draws exactly what a fresh one does. */
    draw(&da, a, 0);
    draw(&df, fresh, 0);
    assert_int_equal(da.T, df.T);
    assert_memory_equal(da.x, df.x, (size_t)da.T * 4 * (size_t)da.I * sizeof(float));
    if (regression)
      assert_memory_equal(da.values, df.values, 4 * sizeof(float));
    else
      assert_memory_equal(da.classes, df.classes, (kind == RNNLAB_TASK_MEM ? (size_t)da.T : 1) * 4 * sizeof(int32_t));
    free_drawn(&da);
    free_drawn(&df);
    rnnlab_task_destroy(a);
    rnnlab_task_destroy(fresh);
  }
}

/* A buffer that fits this draw's T (not max_steps) is enough; one short of it is refused, and the
 * retry with the exact size draws that same batch. */
static void test_exact_buffer(void **state) {
  rnnlab_task *a = make_task(RNNLAB_TASK_ADD, 10, 100, 8);
  rnnlab_task *b = make_task(RNNLAB_TASK_ADD, 10, 100, 8);
  drawn db = alloc_drawn(b, 2);
  float *x;
  float values[2];
  int32_t T = 0;
  (void)state;
  draw(&db, b, 0);
  x = (float *)malloc((size_t)db.T * 2 * 2 * sizeof(float));
  assert_int_equal(rnnlab_task_draw(&T, x, (size_t)db.T * 4 - 1, NULL, 0, values, 2, a, 2, 0), RNNLAB_E_SIZE_MISMATCH);
  assert_int_equal(rnnlab_task_draw(&T, x, (size_t)db.T * 4, NULL, 0, values, 2, a, 2, 0), RNNLAB_OK);
  assert_int_equal(T, db.T);
  assert_memory_equal(x, db.x, (size_t)T * 4 * sizeof(float));
  assert_memory_equal(values, db.values, 2 * sizeof(float));
  free(x);
  free_drawn(&db);
  rnnlab_task_destroy(a);
  rnnlab_task_destroy(b);
}

static void test_config_errors(void **state) {
  rnnlab_task_config cfg = RNNLAB_TASK_CONFIG_INIT;
  rnnlab_task *sentinel = (rnnlab_task *)&cfg; /* never dereferenced: must stay untouched */
  rnnlab_task *task = sentinel;
  (void)state;
#define EXPECT_CREATE(status)                                   \
  do {                                                          \
    task = sentinel;                                            \
    assert_int_equal(rnnlab_task_create(&task, &cfg), (status)); \
    assert_ptr_equal(task, sentinel);                           \
    assert_true(strlen(rnnlab_last_error()) > 0);              \
  } while (0)
  cfg.struct_size += 8;
  EXPECT_CREATE(RNNLAB_E_VERSION);
  assert_non_null(strstr(rnnlab_last_error(), "struct_size"));
  cfg.struct_size = 4;
  EXPECT_CREATE(RNNLAB_E_VERSION);
  cfg.struct_size = (uint32_t)sizeof cfg;
  cfg.kind = (rnnlab_task_kind)6;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  assert_non_null(strstr(rnnlab_last_error(), "kind"));
  cfg.kind = RNNLAB_TASK_ADD;
  cfg.min_length = 9;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  assert_non_null(strstr(rnnlab_last_error(), "min_length = 9"));
  cfg.kind = RNNLAB_TASK_TORDER3;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  cfg.kind = RNNLAB_TASK_PERM; /* perm and mem accept short sequences */
  assert_int_equal(rnnlab_task_create(&task, &cfg), RNNLAB_OK);
  rnnlab_task_destroy(task);
  cfg.min_length = 0;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  cfg.min_length = 50;
  cfg.max_length = 0;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  cfg.max_length = (1 << 24) + 1;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  cfg.max_length = 200;
  cfg.memvalues = 0;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  assert_non_null(strstr(rnnlab_last_error(), "memvalues"));
  cfg.memvalues = 5;
  cfg.mempos = 0;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  cfg.mempos = 10;
  cfg.mem_all = 2;
  EXPECT_CREATE(RNNLAB_E_INVALID_ARGUMENT);
  cfg.mem_all = 1;
  EXPECT_CREATE(RNNLAB_E_INVALID_CONFIG); /* perm */
  cfg.kind = RNNLAB_TASK_MEM;
  cfg.mempos = 20; /* 5^20 patterns cannot be one batch */
  EXPECT_CREATE(RNNLAB_E_INVALID_CONFIG);
  cfg.mempos = 10; /* 5^10 = 9765625 fits */
  assert_int_equal(rnnlab_task_create(&task, &cfg), RNNLAB_OK);
  assert_int_equal(get_info(task).fixed_batch, 9765625);
  rnnlab_task_destroy(task);
  assert_int_equal(rnnlab_task_create(NULL, &cfg), RNNLAB_E_NULL);
  task = sentinel;
  assert_int_equal(rnnlab_task_create(&task, NULL), RNNLAB_E_NULL);
  assert_ptr_equal(task, sentinel);
#undef EXPECT_CREATE
}

/* ---------------------------------------------------------------------------------------------- */

static void test_count_wrong_last_softmax(void **state) {
  /* torder: O = 4, T = 3, B = 5. Only step T - 1 counts. */
  rnnlab_task *task = make_task(RNNLAB_TASK_TORDER, 10, 20, 1);
  float y[3 * 5 * 4];
  int32_t classes[5] = {0, 1, 2, 3, 1}, n_wrong = -1, b;
  size_t i;
  (void)state;
  for (i = 0; i < sizeof y / sizeof y[0]; ++i) y[i] = (float)((i * 7) % 5); /* junk at steps 0, 1 */
  for (b = 0; b < 5; ++b) {
    float *row = y + (2 * 5 + b) * 4;
    row[0] = row[1] = row[2] = row[3] = -1.0f;
    row[classes[b]] = 2.0f;
  }
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 60, 3, 5, classes, 5, NULL, 0, 0.0f), RNNLAB_OK);
  assert_int_equal(n_wrong, 0);
  y[(2 * 5 + 1) * 4 + 3] = 5.0f; /* sequence 1 now predicts 3 */
  y[(2 * 5 + 4) * 4 + 3] = NAN;  /* sequence 4: a NaN anywhere in the row counts as wrong */
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 60, 3, 5, classes, 5, NULL, 0, 0.0f), RNNLAB_OK);
  assert_int_equal(n_wrong, 2);
  /* A tie resolves to the first largest entry. */
  y[(2 * 5 + 2) * 4 + 1] = 2.0f; /* sequence 2: tie between 1 and 2 -> argmax 1, target 2 */
  y[(2 * 5 + 3) * 4 + 3] = 2.0f; /* sequence 3: target 3 alone at the max, unchanged */
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 60, 3, 5, classes, 5, NULL, 0, 0.0f), RNNLAB_OK);
  assert_int_equal(n_wrong, 3);
  /* Errors. */
  n_wrong = -1;
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 59, 3, 5, classes, 5, NULL, 0, 0.0f),
                   RNNLAB_E_SIZE_MISMATCH);
  assert_non_null(strstr(rnnlab_last_error(), "y_count"));
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 60, 3, 5, classes, 4, NULL, 0, 0.0f),
                   RNNLAB_E_SIZE_MISMATCH);
  classes[2] = 4;
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 60, 3, 5, classes, 5, NULL, 0, 0.0f),
                   RNNLAB_E_INVALID_ARGUMENT);
  assert_non_null(strstr(rnnlab_last_error(), "classes[2] = 4"));
  classes[2] = 2;
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 60, 0, 5, classes, 5, NULL, 0, 0.0f),
                   RNNLAB_E_INVALID_ARGUMENT);
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, NULL, 60, 3, 5, classes, 5, NULL, 0, 0.0f), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 60, 3, 5, NULL, 5, NULL, 0, 0.0f), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_task_count_wrong(NULL, task, y, 60, 3, 5, classes, 5, NULL, 0, 0.0f), RNNLAB_E_NULL);
  assert_int_equal(n_wrong, -1);
  rnnlab_task_destroy(task);
}

static void test_count_wrong_mem(void **state) {
  /* mem with memvalues 5: O = 6; T = 3, B = 4, classes [T][B]. A wrong blank step counts. */
  rnnlab_task *task = make_task(RNNLAB_TASK_MEM, 1, 2, 1);
  float y[3 * 4 * 6];
  int32_t classes[3 * 4], n_wrong = -1, t, b;
  (void)state;
  for (t = 0; t < 3; ++t)
    for (b = 0; b < 4; ++b) {
      float *row = y + (t * 4 + b) * 6;
      int o;
      classes[t * 4 + b] = t < 2 ? 5 : b;
      for (o = 0; o < 6; ++o) row[o] = 0.0f;
      row[classes[t * 4 + b]] = 1.0f;
    }
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 72, 3, 4, classes, 12, NULL, 0, 0.0f), RNNLAB_OK);
  assert_int_equal(n_wrong, 0);
  y[(0 * 4 + 1) * 6 + 0] = 3.0f; /* sequence 1 wrong at blank step 0 only */
  y[(2 * 4 + 2) * 6 + 4] = 3.0f; /* sequence 2 wrong at its recall step only */
  y[(1 * 4 + 3) * 6 + 0] = 3.0f; /* sequence 3 wrong twice: still one sequence */
  y[(2 * 4 + 3) * 6 + 0] = 3.0f;
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 72, 3, 4, classes, 12, NULL, 0, 0.0f), RNNLAB_OK);
  assert_int_equal(n_wrong, 3);
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 72, 3, 4, classes, 4, NULL, 0, 0.0f),
                   RNNLAB_E_SIZE_MISMATCH);
  rnnlab_task_destroy(task);
}

static void test_count_wrong_regression(void **state) {
  rnnlab_task *task = make_task(RNNLAB_TASK_ADD, 10, 20, 1);
  float y[2 * 4], values[4] = {0.5f, 0.5f, 0.25f, 0.75f};
  int32_t n_wrong = -1;
  (void)state;
  /* step 0 is junk; step 1 (the last) is scored */
  y[0] = 100.0f; y[1] = -100.0f; y[2] = 100.0f; y[3] = -100.0f;
  y[4] = 0.75f;   /* |d| = 0.25 */
  y[5] = 0.625f;  /* 0.125 */
  y[6] = 0.25f;   /* 0 */
  y[7] = NAN;     /* wrong whatever err_abs is */
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 8, 2, 4, NULL, 0, values, 4, RNNLAB_TASK_ERR_ABS_DEFAULT),
                   RNNLAB_OK);
  assert_int_equal(n_wrong, 2);
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 8, 2, 4, NULL, 0, values, 4, 0.1f), RNNLAB_OK);
  assert_int_equal(n_wrong, 3);
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 8, 2, 4, NULL, 0, values, 4, 0.25f), RNNLAB_OK);
  assert_int_equal(n_wrong, 1); /* strict >: 0.25 is not wrong at 0.25 */
  n_wrong = -1;
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 8, 2, 4, NULL, 0, values, 4, -0.1f),
                   RNNLAB_E_INVALID_ARGUMENT);
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 8, 2, 4, NULL, 0, values, 4, NAN),
                   RNNLAB_E_INVALID_ARGUMENT);
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 8, 2, 4, NULL, 0, values, 3, 0.2f),
                   RNNLAB_E_SIZE_MISMATCH);
  values[3] = INFINITY;
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 8, 2, 4, NULL, 0, values, 4, 0.2f), RNNLAB_E_NONFINITE);
  assert_non_null(strstr(rnnlab_last_error(), "values[3]"));
  assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, 8, 2, 4, NULL, 0, NULL, 4, 0.2f), RNNLAB_E_NULL);
  assert_int_equal(n_wrong, -1);
  rnnlab_task_destroy(task);
}

/* Round trip: perfect logits built from a draw's own targets score 0 wrong; damaging k sequences
 * scores k. */
static void test_count_wrong_on_draws(void **state) {
  int k;
  (void)state;
  for (k = 0; k < 6; ++k) {
    const rnnlab_task_kind kind = (rnnlab_task_kind)k;
    rnnlab_task *task = make_task(kind, 10, 30, 4);
    drawn d = alloc_drawn(task, 6);
    const int regression = kind == RNNLAB_TASK_ADD || kind == RNNLAB_TASK_MUL;
    const int every = kind == RNNLAB_TASK_MEM;
    float *y;
    size_t n_y;
    int32_t t, b, n_wrong = -1;
    draw(&d, task, 0);
    n_y = (size_t)d.T * 6 * (size_t)d.O;
    y = (float *)calloc(n_y, sizeof(float));
    for (t = 0; t < d.T; ++t)
      for (b = 0; b < 6; ++b) {
        float *row = y + ((size_t)t * 6 + (size_t)b) * (size_t)d.O;
        if (regression)
          row[0] = d.values[b] + 0.1f;
        else
          row[every ? d.classes[t * 6 + b] : d.classes[b]] = 1.0f;
      }
    assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, n_y, d.T, 6, d.classes,
                                             every ? (size_t)d.T * 6 : (regression ? 0 : 6), d.values,
                                             regression ? 6 : 0, RNNLAB_TASK_ERR_ABS_DEFAULT),
                     RNNLAB_OK);
    assert_int_equal(n_wrong, 0);
    /* Damage sequences 0 and 3 at the last step. */
    for (b = 0; b < 6; b += 3) {
      float *row = y + ((size_t)(d.T - 1) * 6 + (size_t)b) * (size_t)d.O;
      if (regression)
        row[0] = d.values[b] + 0.3f;
      else
        row[((every ? d.classes[(d.T - 1) * 6 + b] : d.classes[b]) + 1) % d.O] = 2.0f;
    }
    assert_int_equal(rnnlab_task_count_wrong(&n_wrong, task, y, n_y, d.T, 6, d.classes,
                                             every ? (size_t)d.T * 6 : (regression ? 0 : 6), d.values,
                                             regression ? 6 : 0, RNNLAB_TASK_ERR_ABS_DEFAULT),
                     RNNLAB_OK);
    assert_int_equal(n_wrong, 2);
    free(y);
    free_drawn(&d);
    rnnlab_task_destroy(task);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_info),
      cmocka_unit_test(test_torder),
      cmocka_unit_test(test_add_mul),
      cmocka_unit_test(test_perm),
      cmocka_unit_test(test_mem),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_pinned_stream),
      cmocka_unit_test(test_refused_draw_keeps_state),
      cmocka_unit_test(test_exact_buffer),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_count_wrong_last_softmax),
      cmocka_unit_test(test_count_wrong_mem),
      cmocka_unit_test(test_count_wrong_regression),
      cmocka_unit_test(test_count_wrong_on_draws),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
