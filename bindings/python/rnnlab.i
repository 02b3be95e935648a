/* The Python side of the SWIG description: typemaps that carry numpy (any PEP 3118 buffer) across
 * the C API's (pointer, count) pairs, rnnlab_status turned into exceptions, and the GIL released
 * while C runs (swig -threads). The C API itself is described once, language-neutrally, in
 * ../rnnlab_api.i; everything Python-specific lives here.
 *
 * Buffers: PyObject_GetBuffer with PyBUF_C_CONTIGUOUS | PyBUF_FORMAT (| PyBUF_WRITABLE for the
 * arrays C writes into). The element kind (signed / unsigned integer, float) and the item size are
 * checked against the C type, so a float64 array handed to a float* parameter is refused instead of
 * being reinterpreted. The view is held until after the C call returns and released in freearg (which
 * SWIG also runs on every error path). None gives (NULL, 0): the C call then decides whether that is
 * allowed (RNNLAB_E_NULL names the argument when it is not). */
%module(package="rnnlab") capi

%begin %{
#define PY_SSIZE_T_CLEAN
%}

%{
#include <stdlib.h>
#include <string.h>
#include <rnnlab/rnnlab.h>
%}

/* ---- errors ----------------------------------------------------------------------------------- */
%{
/* The rnnlab package registers a factory (status, message) -> exception instance at import time,
 * so the exception classes live in Python (rnnlab.errors) and this file does not hard-code them. */
static PyObject *pyrl_error_factory = NULL;

static void pyrl_raise_status(int status, const char *msg) {
  PyObject *text = PyUnicode_DecodeUTF8(msg ? msg : "", (Py_ssize_t)strlen(msg ? msg : ""), "replace");
  if (!text) return;
  if (pyrl_error_factory) {
    PyObject *exc = PyObject_CallFunction(pyrl_error_factory, "iO", status, text);
    if (exc) {
      PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
      Py_DECREF(exc);
    }
  } else {
    PyErr_Format(PyExc_RuntimeError, "rnnlab status %d (%s): %U", status,
                 rnnlab_status_string((rnnlab_status)status), text);
  }
  Py_DECREF(text);
}

/* The exception for a buffer that cannot be used, naming the function and the argument. The
 * original error (numpy's "ndarray is not C-contiguous", "buffer source array is read-only", ...)
 * is kept as the cause. */
static void pyrl_buffer_error(PyObject *type, const char *func, const char *arg, const char *what) {
  PyObject *cause_type = NULL, *cause = NULL, *tb = NULL;
  if (PyErr_Occurred()) {
    PyErr_Fetch(&cause_type, &cause, &tb);
    PyErr_NormalizeException(&cause_type, &cause, &tb);
  }
  if (cause) {
    PyErr_Format(type, "%s: argument '%s': %s (%S)", func, arg, what, cause);
  } else {
    PyErr_Format(type, "%s: argument '%s': %s", func, arg, what);
  }
  if (cause) {
    PyObject *t2, *v2, *tb2;
    PyErr_Fetch(&t2, &v2, &tb2);
    PyErr_NormalizeException(&t2, &v2, &tb2);
    PyException_SetCause(v2, cause); /* steals cause */
    PyErr_Restore(t2, v2, tb2);
  }
  Py_XDECREF(cause_type);
  Py_XDECREF(tb);
}

enum { PYRL_SINT = 0, PYRL_UINT = 1, PYRL_FLOAT = 2, PYRL_BYTES = 3 };

static const char *pyrl_kind_name(int kind, Py_ssize_t itemsize) {
  switch (kind) {
    case PYRL_SINT: return itemsize == 4 ? "int32" : "int64";
    case PYRL_UINT: return "uint8";
    case PYRL_FLOAT: return itemsize == 4 ? "float32" : "float64";
    default: return "bytes";
  }
}

/* Gets a C-contiguous view of obj whose elements are `kind` of `itemsize` bytes (PYRL_BYTES: any
 * contiguous bytes). Returns 0 and fills view (view->obj NULL for None), or -1 with an exception set. */
static int pyrl_get_buffer(PyObject *obj, Py_buffer *view, int writable, int kind, Py_ssize_t itemsize,
                           const char *func, const char *arg) {
  view->obj = NULL;
  view->buf = NULL;
  view->len = 0;
  if (obj == Py_None) return 0;
  if (!PyObject_CheckBuffer(obj)) {
    PyErr_Format(PyExc_TypeError, "%s: argument '%s': expected a %s array (buffer), got %s", func, arg,
                 pyrl_kind_name(kind, itemsize), Py_TYPE(obj)->tp_name);
    return -1;
  }
  int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(obj, view, flags) != 0) {
    view->obj = NULL;
    /* Tell the two usual reasons apart for the message; both are ValueErrors (the type is right). */
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);  /* the exporter's error, restored below as the cause */
    Py_buffer probe;
    const char *what = "cannot get a C-contiguous buffer";
    if (PyObject_GetBuffer(obj, &probe, PyBUF_FULL_RO) == 0) {
      if (writable && probe.readonly) what = "the output array is read-only";
      else if (!PyBuffer_IsContiguous(&probe, 'C')) what = "the array is not C-contiguous";
      PyBuffer_Release(&probe);
    } else {
      PyErr_Clear();
    }
    PyErr_Restore(et, ev, etb);
    pyrl_buffer_error(PyExc_ValueError, func, arg, what);
    return -1;
  }
  if (kind == PYRL_BYTES) return 0;
  const char *f = view->format ? view->format : "B";
  if (*f == '@' || *f == '=' || *f == '<') f++;
  int got = -1;
  if (f[0] && !f[1]) {
    if (strchr("bhilqn", f[0])) got = PYRL_SINT;
    else if (strchr("BHILQN", f[0])) got = PYRL_UINT;
    else if (strchr("efd", f[0])) got = PYRL_FLOAT;
  }
  if (got != kind || view->itemsize != itemsize) {
    PyErr_Format(PyExc_TypeError, "%s: argument '%s': expected %s elements, got format '%s' of %zd bytes", func,
                 arg, pyrl_kind_name(kind, itemsize), view->format ? view->format : "B", view->itemsize);
    PyBuffer_Release(view);
    view->obj = NULL;
    return -1;
  }
  return 0;
}

static void pyrl_release(Py_buffer *view) {
  if (view->obj) PyBuffer_Release(view);
  view->obj = NULL;
}
%}

%inline %{
/* Called once by rnnlab/__init__.py: factory(status, message) returns the exception to raise. */
void pyrl_set_error_factory(PyObject *factory) {
  if (factory == Py_None) factory = NULL;
  Py_XINCREF(factory);
  Py_XDECREF(pyrl_error_factory);
  pyrl_error_factory = factory;
}
%}
%nothread pyrl_set_error_factory;

/* Every rnnlab_status return: OK becomes None (out-parameters are appended to it), anything else
 * raises. rnnlab_last_error() is per OS thread, and the call ran on this thread. */
%typemap(out) rnnlab_status {
  if ($1 != RNNLAB_OK) {
    pyrl_raise_status((int)$1, rnnlab_last_error());
    SWIG_fail;
  }
  $result = SWIG_Py_Void();
}

/* ---- (pointer, count) buffers ------------------------------------------------------------------ */
%define PYRL_BUFFER_PAIR(CTYPE, KIND)
%typemap(in) (const CTYPE *IN_ARRAY, size_t IN_COUNT) (Py_buffer view = {0}) {
  if (pyrl_get_buffer($input, &view, 0, KIND, (Py_ssize_t)sizeof(CTYPE), "$symname", "$1_name") != 0) SWIG_fail;
  $1 = ($1_ltype)view.buf;
  $2 = (size_t)(view.obj ? view.len / (Py_ssize_t)sizeof(CTYPE) : 0);
}
%typemap(freearg) (const CTYPE *IN_ARRAY, size_t IN_COUNT) { pyrl_release(&view$argnum); }
%typemap(in) (CTYPE *OUT_ARRAY, size_t OUT_COUNT) (Py_buffer view = {0}) {
  if (pyrl_get_buffer($input, &view, 1, KIND, (Py_ssize_t)sizeof(CTYPE), "$symname", "$1_name") != 0) SWIG_fail;
  $1 = ($1_ltype)view.buf;
  $2 = (size_t)(view.obj ? view.len / (Py_ssize_t)sizeof(CTYPE) : 0);
}
%typemap(freearg) (CTYPE *OUT_ARRAY, size_t OUT_COUNT) { pyrl_release(&view$argnum); }
%enddef

PYRL_BUFFER_PAIR(float, PYRL_FLOAT)
PYRL_BUFFER_PAIR(double, PYRL_FLOAT)
PYRL_BUFFER_PAIR(int32_t, PYRL_SINT)
PYRL_BUFFER_PAIR(int64_t, PYRL_SINT)
PYRL_BUFFER_PAIR(uint8_t, PYRL_UINT)

/* Every (pointer, count) pair of the public headers. A pair added to a header must be added here
 * (tests/test_raw.py fails on a wrapper that still takes a raw SWIG pointer to numbers). */
%apply (const float *IN_ARRAY, size_t IN_COUNT) {
  (const float *x, size_t x_count), (const float *h0, size_t count), (const float *values, size_t count),
  (const float *values, size_t values_count), (const float *y, size_t y_count) }
%apply (const double *IN_ARRAY, size_t IN_COUNT) { (const double *values, size_t count) }
%apply (const int32_t *IN_ARRAY, size_t IN_COUNT) {
  (const int32_t *classes, size_t classes_count), (const int32_t *indices, size_t batch),
  (const int32_t *values, size_t count) }
%apply (const int64_t *IN_ARRAY, size_t IN_COUNT) { (const int64_t *values, size_t count) }
%apply (float *OUT_ARRAY, size_t OUT_COUNT) {
  (float *y, size_t y_count), (float *h, size_t count), (float *dx, size_t count), (float *dh0, size_t count),
  (float *J, size_t count), (float *out, size_t count), (float *x, size_t x_count),
  (float *values, size_t values_count) }
%apply (double *OUT_ARRAY, size_t OUT_COUNT) { (double *out, size_t count) }
%apply (int32_t *OUT_ARRAY, size_t OUT_COUNT) {
  (int32_t *classes, size_t classes_count), (int32_t *labels, size_t labels_count), (int32_t *out, size_t count) }
%apply (uint8_t *OUT_ARRAY, size_t OUT_COUNT) { (uint8_t *out, size_t count) }

/* Caller bytes of rnnlab_save_ex / rnnlab_load_ex: any contiguous buffer (bytes, bytearray, ...). */
%typemap(in) (const void *user, size_t user_size) (Py_buffer view = {0}) {
  if (pyrl_get_buffer($input, &view, 0, PYRL_BYTES, 1, "$symname", "$1_name") != 0) SWIG_fail;
  $1 = view.buf;
  $2 = (size_t)(view.obj ? view.len : 0);
}
%typemap(freearg) (const void *user, size_t user_size) { pyrl_release(&view$argnum); }
%typemap(in) (void *user, size_t capacity) (Py_buffer view = {0}) {
  if (pyrl_get_buffer($input, &view, 1, PYRL_BYTES, 1, "$symname", "$1_name") != 0) SWIG_fail;
  $1 = view.buf;
  $2 = (size_t)(view.obj ? view.len : 0);
}
%typemap(freearg) (void *user, size_t capacity) { pyrl_release(&view$argnum); }

/* rnnlab_trace_summary's histogram: bins = the array's length. */
%typemap(in) (int64_t *hist, int32_t bins) (Py_buffer view = {0}) {
  if (pyrl_get_buffer($input, &view, 1, PYRL_SINT, 8, "$symname", "$1_name") != 0) SWIG_fail;
  if (view.len / 8 > INT32_MAX) {
    PyErr_Format(PyExc_ValueError, "$symname: argument 'hist': more than INT32_MAX bins");
    SWIG_fail;
  }
  $1 = (int64_t *)view.buf;
  $2 = (int32_t)(view.obj ? view.len / 8 : 0);
}
%typemap(freearg) (int64_t *hist, int32_t bins) { pyrl_release(&view$argnum); }

/* rnnlab_npz_add_*'s shape: an int64 array; None (or an empty array) is a 0-d scalar. */
%typemap(in) (int32_t ndim, const int64_t *shape) (Py_buffer view = {0}) {
  if (pyrl_get_buffer($input, &view, 0, PYRL_SINT, 8, "$symname", "shape") != 0) SWIG_fail;
  if (view.len / 8 > INT32_MAX) {
    PyErr_Format(PyExc_ValueError, "$symname: argument 'shape': too many dimensions");
    SWIG_fail;
  }
  $1 = (int32_t)(view.obj ? view.len / 8 : 0);
  $2 = ($2_ltype)(view.obj && view.len ? view.buf : NULL);
}
%typemap(freearg) (int32_t ndim, const int64_t *shape) { pyrl_release(&view$argnum); }

/* rnnlab_grad_norm_blocks: the Python argument is the capacity; the call returns *n and a list of
 * up to `capacity` (name, norm) pairs. */
%typemap(in) (double *norms, const char **names, size_t count, int32_t *n)
    (double *tnorms = NULL, const char **tnames = NULL, int32_t tn = 0) {
  Py_ssize_t cap = PyLong_AsSsize_t($input);
  if (cap < 0) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "$symname: argument 'count' must be >= 0");
    SWIG_fail;
  }
  if (cap > 0) {
    tnorms = (double *)calloc((size_t)cap, sizeof(double));
    tnames = (const char **)calloc((size_t)cap, sizeof(const char *));
    if (!tnorms || !tnames) { PyErr_NoMemory(); SWIG_fail; }
  }
  $1 = tnorms; $2 = ($2_ltype)tnames; $3 = (size_t)cap; $4 = &tn;
}
%typemap(argout) (double *norms, const char **names, size_t count, int32_t *n) {
  PyObject *list = PyList_New(0);
  if (!list) SWIG_fail;
  for (size_t i = 0; i < $3 && i < (size_t)tn$argnum; ++i) {
    PyObject *pair = Py_BuildValue("(sd)", tnames$argnum[i] ? tnames$argnum[i] : "", tnorms$argnum[i]);
    if (!pair || PyList_Append(list, pair) != 0) { Py_XDECREF(pair); Py_DECREF(list); SWIG_fail; }
    Py_DECREF(pair);
  }
  $result = SWIG_Python_AppendOutput($result, PyLong_FromLong((long)tn$argnum));
  $result = SWIG_Python_AppendOutput($result, list);
}
%typemap(freearg) (double *norms, const char **names, size_t count, int32_t *n) {
  free(tnorms$argnum);
  free((void *)tnames$argnum);
}
/* rnnlab_tensor_count's *n */
%typemap(in, numinputs=0) int32_t *n (int32_t temp = 0) { $1 = &temp; }
%typemap(argout) int32_t *n { $result = SWIG_Python_AppendOutput($result, PyLong_FromLong((long)*$1)); }

/* rnnlab_targets: a tuple (classes, values, dy), each an array or None; exactly one is set for
 * backward (the C call checks that). The views are held through the call. */
%typemap(in) const rnnlab_targets *targets (rnnlab_targets tg, Py_buffer vc = {0}, Py_buffer vv = {0}, Py_buffer vd = {0}) {
  rnnlab_targets init = RNNLAB_TARGETS_INIT;
  tg = init;
  vc.obj = vv.obj = vd.obj = NULL;
  if ($input == Py_None) {
    $1 = NULL;
  } else {
    if (!PyTuple_Check($input) || PyTuple_GET_SIZE($input) != 3) {
      PyErr_Format(PyExc_TypeError, "$symname: argument 'targets' must be a tuple (classes, values, dy)");
      SWIG_fail;
    }
    if (pyrl_get_buffer(PyTuple_GET_ITEM($input, 0), &vc, 0, PYRL_SINT, 4, "$symname", "classes") != 0) SWIG_fail;
    if (pyrl_get_buffer(PyTuple_GET_ITEM($input, 1), &vv, 0, PYRL_FLOAT, 4, "$symname", "values") != 0) SWIG_fail;
    if (pyrl_get_buffer(PyTuple_GET_ITEM($input, 2), &vd, 0, PYRL_FLOAT, 4, "$symname", "dy") != 0) SWIG_fail;
    tg.classes = (const int32_t *)vc.buf;
    tg.values = (const float *)vv.buf;
    tg.dy = (const float *)vd.buf;
    tg.count = (size_t)(vc.obj ? vc.len / 4 : vv.obj ? vv.len / 4 : vd.obj ? vd.len / 4 : 0);
    $1 = &tg;
  }
}
%typemap(freearg) const rnnlab_targets *targets { pyrl_release(&vc$argnum); pyrl_release(&vv$argnum); pyrl_release(&vd$argnum); }

/* rnnlab_dataset_create's paths: rnnlab_dataset_config's pointer fields are not exposed (a Python
 * string assigned to a C struct would have to outlive it); pyrl_dataset_create below takes them as
 * arguments, held for the duration of the call. */
%typemap(in) (const char *const *paths, int32_t npaths) (char **tpaths = NULL, Py_ssize_t tn = 0) {
  if ($input != Py_None) {
    PyObject *seq = PySequence_Fast($input, "pyrl_dataset_create: argument 'cifar_paths' must be a sequence of str");
    if (!seq) SWIG_fail;
    tn = PySequence_Fast_GET_SIZE(seq);
    tpaths = (char **)calloc((size_t)(tn > 0 ? tn : 1), sizeof(char *));
    if (!tpaths) { Py_DECREF(seq); PyErr_NoMemory(); SWIG_fail; }
    for (Py_ssize_t i = 0; i < tn; ++i) {
      PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
      PyObject *b = PyUnicode_Check(item) ? PyUnicode_EncodeFSDefault(item) : NULL;
      if (!b) {
        if (!PyErr_Occurred())
          PyErr_Format(PyExc_TypeError, "pyrl_dataset_create: argument 'cifar_paths'[%zd] must be str", i);
        Py_DECREF(seq);
        tn = i;
        SWIG_fail;
      }
      tpaths[i] = strdup(PyBytes_AS_STRING(b));
      Py_DECREF(b);
      if (!tpaths[i]) { Py_DECREF(seq); tn = i; PyErr_NoMemory(); SWIG_fail; }
    }
    Py_DECREF(seq);
  }
  $1 = ($1_ltype)tpaths;
  $2 = (int32_t)tn;
}
%typemap(freearg) (const char *const *paths, int32_t npaths) {
  if (tpaths$argnum) {
    for (Py_ssize_t i = 0; i < tn$argnum; ++i) free(tpaths$argnum[i]);
    free(tpaths$argnum);
  }
}

/* ---- scalar and handle out-parameters ---------------------------------------------------------- */
%define PYRL_OUT_SCALAR(CTYPE, NAME, CONVERT)
%typemap(in, numinputs=0) CTYPE *NAME (CTYPE temp = 0) { $1 = &temp; }
%typemap(argout) CTYPE *NAME { $result = SWIG_Python_AppendOutput($result, CONVERT(*$1)); }
%enddef
PYRL_OUT_SCALAR(double, loss, PyFloat_FromDouble)
PYRL_OUT_SCALAR(double, rho, PyFloat_FromDouble)
PYRL_OUT_SCALAR(double, sigma_max, PyFloat_FromDouble)
PYRL_OUT_SCALAR(int32_t, n_wrong, PyLong_FromLong)
PYRL_OUT_SCALAR(int32_t, len, PyLong_FromLong)
PYRL_OUT_SCALAR(int32_t, steps, PyLong_FromLong)
PYRL_OUT_SCALAR(int32_t, min_steps, PyLong_FromLong)
PYRL_OUT_SCALAR(int32_t, max_steps, PyLong_FromLong)
PYRL_OUT_SCALAR(size_t, total, PyLong_FromSize_t)
PYRL_OUT_SCALAR(size_t, trainable, PyLong_FromSize_t)
PYRL_OUT_SCALAR(size_t, user_size, PyLong_FromSize_t)
PYRL_OUT_SCALAR(size_t, count, PyLong_FromSize_t)
%typemap(in, numinputs=0) rnnlab_trace *out (rnnlab_trace temp = RNNLAB_TRACE_GRAD_TIME) { $1 = &temp; }
%typemap(argout) rnnlab_trace *out { $result = SWIG_Python_AppendOutput($result, PyLong_FromLong((long)*$1)); }
%typemap(in, numinputs=0) rnnlab_task_kind *out (rnnlab_task_kind temp = RNNLAB_TASK_ADD) { $1 = &temp; }
%typemap(argout) rnnlab_task_kind *out { $result = SWIG_Python_AppendOutput($result, PyLong_FromLong((long)*$1)); }

/* Handles: `rnnlab_model **out` and the like come back as the new handle. */
%define PYRL_OUT_HANDLE(CTYPE)
%typemap(in, numinputs=0) CTYPE **out (CTYPE *temp = NULL) { $1 = &temp; }
%typemap(argout) CTYPE **out { $result = SWIG_Python_AppendOutput($result, SWIG_NewPointerObj(*$1, $descriptor(CTYPE *), 0)); }
%enddef
PYRL_OUT_HANDLE(rnnlab_model)
PYRL_OUT_HANDLE(rnnlab_task)
PYRL_OUT_HANDLE(rnnlab_dataset)
PYRL_OUT_HANDLE(rnnlab_npz)

/* Fixed-size float arrays in the config structs: a sequence of exactly that many numbers in, a
 * tuple out. */
%typemap(in) float [ANY] (float temp[$1_dim0]) {
  PyObject *seq = PySequence_Fast($input, "expected a sequence of $1_dim0 numbers");
  if (!seq) SWIG_fail;
  if (PySequence_Fast_GET_SIZE(seq) != $1_dim0) {
    Py_DECREF(seq);
    PyErr_Format(PyExc_ValueError, "$symname: expected a sequence of $1_dim0 numbers");
    SWIG_fail;
  }
  for (Py_ssize_t i = 0; i < $1_dim0; ++i) {
    double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
    if (v == -1.0 && PyErr_Occurred()) { Py_DECREF(seq); SWIG_fail; }
    temp[i] = (float)v;
  }
  Py_DECREF(seq);
  $1 = temp;
}
%typemap(out) float [ANY] {
  $result = PyTuple_New($1_dim0);
  if (!$result) SWIG_fail;
  for (Py_ssize_t i = 0; i < $1_dim0; ++i) PyTuple_SET_ITEM($result, i, PyFloat_FromDouble((double)$1[i]));
}

/* Pointer fields that a Python assignment could not keep alive: set through pyrl_dataset_create's
 * arguments, and through the targets tuple above. */
%ignore rnnlab_dataset_config::images_path;
%ignore rnnlab_dataset_config::labels_path;
%ignore rnnlab_dataset_config::cifar_paths;
%ignore rnnlab_targets;
%immutable rnnlab_tensor_info::name;

/* Cheap calls keep the GIL (releasing it costs more than they do); everything else runs without it. */
%nothread rnnlab_version;
%nothread rnnlab_version_number;
%nothread rnnlab_status_string;
%nothread rnnlab_last_error;
%nothread rnnlab_trace_name;
%nothread rnnlab_backend_name;
%nothread rnnlab_cpu_isa_name;
%nothread rnnlab_task_kind_name;
%nothread rnnlab_has_feature;

%include "../rnnlab_api.i"

/* Python-only helper: rnnlab_dataset_create with its path fields given as arguments. */
%inline %{
rnnlab_status pyrl_dataset_create(rnnlab_dataset **out, const rnnlab_dataset_config *cfg, const char *images_path,
                                  const char *labels_path, const char *const *paths, int32_t npaths) {
  if (!cfg) return rnnlab_dataset_create(out, NULL);
  rnnlab_dataset_config c = *cfg;
  c.images_path = images_path;
  c.labels_path = labels_path;
  c.cifar_paths = paths;
  c.cifar_count = paths ? npaths : cfg->cifar_count;
  return rnnlab_dataset_create(out, &c);
}
%}

/* Config and info structs start as their _INIT macros say (struct_size set, defaults in place). */
%define PYRL_INIT_CTOR(CTYPE, INIT)
%extend CTYPE {
  CTYPE() {
    CTYPE init = INIT;
    CTYPE *p = (CTYPE *)malloc(sizeof(CTYPE));
    if (p) *p = init;
    return p;
  }
}
%enddef
PYRL_INIT_CTOR(rnnlab_config, RNNLAB_CONFIG_INIT)
PYRL_INIT_CTOR(rnnlab_diag, RNNLAB_DIAG_INIT)
PYRL_INIT_CTOR(rnnlab_summary, RNNLAB_SUMMARY_INIT)
PYRL_INIT_CTOR(rnnlab_optimizer_config, RNNLAB_OPTIMIZER_CONFIG_INIT)
PYRL_INIT_CTOR(rnnlab_optimizer_state, RNNLAB_OPTIMIZER_STATE_INIT)
PYRL_INIT_CTOR(rnnlab_task_config, RNNLAB_TASK_CONFIG_INIT)
PYRL_INIT_CTOR(rnnlab_task_info, RNNLAB_TASK_INFO_INIT)
PYRL_INIT_CTOR(rnnlab_dataset_config, RNNLAB_DATASET_CONFIG_INIT)
PYRL_INIT_CTOR(rnnlab_dataset_info, RNNLAB_DATASET_INFO_INIT)
