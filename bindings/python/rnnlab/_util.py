"""Argument conversion shared by the package: enum names, gate masks, arrays in and out."""
import numpy as np

from . import capi as _c


def enum_table(prefix, names):
    return {n: int(getattr(_c, prefix + n.upper())) for n in names}


CELLS = enum_table("RNNLAB_CELL_", ["gru", "gru_reset_before", "rnn_tanh", "rnn_sigmoid", "rnn_relu", "rnn_linear"])
HEADS = enum_table("RNNLAB_HEAD_", ["none", "last_softmax", "every_softmax", "last_linear"])
BACKENDS = enum_table("RNNLAB_BACKEND_", ["auto", "reference", "cpu", "cuda"])
BIAS_MODES = enum_table("RNNLAB_BIAS_", ["double", "single"])
INITS = enum_table("RNNLAB_INIT_", ["pytorch", "orthogonal", "orthogonal_stacked", "sigmoid", "basic_tanh",
                                    "smart_tanh", "test", "cs728_gru"])
BIAS_INITS = enum_table("RNNLAB_BIAS_INIT_", ["scheme", "constant", "chrono"])
DENORMALS = enum_table("RNNLAB_DENORMALS_", ["flush", "keep"])
CPU_ISAS = enum_table("RNNLAB_ISA_", ["auto", "baseline", "avx2", "avx512"])
DIAG_LEVELS = enum_table("RNNLAB_DIAG_", ["off", "summary", "full"])
OPTIMIZERS = enum_table("RNNLAB_OPTIMIZER_", ["sgd", "adam", "adamw"])
SCHEDULES = enum_table("RNNLAB_SCHEDULE_", ["constant", "cosine"])
CLIPS = enum_table("RNNLAB_CLIP_", ["nothing", "rescale"])
BLOCKS = {"hn": _c.RNNLAB_BLOCK_HN, "w_hn": _c.RNNLAB_BLOCK_HN, "w_hh": _c.RNNLAB_BLOCK_HN,
          "hz": _c.RNNLAB_BLOCK_HZ, "w_hz": _c.RNNLAB_BLOCK_HZ,
          "hr": _c.RNNLAB_BLOCK_HR, "w_hr": _c.RNNLAB_BLOCK_HR}
FEATURES = enum_table("RNNLAB_FEATURE_", ["onednn", "cuda", "lapack", "npz"])
DATASET_FORMATS = enum_table("RNNLAB_DATASET_", ["idx", "cifar10"])
DATASET_MODES = enum_table("RNNLAB_DATASET_", ["pixels", "rows"])
GATES = {"r": _c.RNNLAB_GATE_R, "z": _c.RNNLAB_GATE_Z, "n": _c.RNNLAB_GATE_N}
GATE_INDEX = {"r": 0, "z": 1, "n": 2}


def enum_value(value, table, arg):
    """An enum given by name (case-insensitive) or by its int value."""
    if isinstance(value, str):
        key = value.lower()
        if key in table:
            return table[key]
        raise ValueError(f"argument '{arg}': unknown value {value!r}; expected one of {sorted(set(table))}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"argument '{arg}': expected a name (str) or an int, got {type(value).__name__}")
    if int(value) not in table.values():
        raise ValueError(f"argument '{arg}': unknown value {value!r}; expected one of {sorted(set(table))}")
    return int(value)


def enum_name(value, table):
    for k, v in table.items():
        if v == value:
            return k
    return int(value)


def gate_mask(value, arg):
    """RNNLAB_GATE_* bits from an int, a string of gate letters ("zr"), or an iterable of them."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 0 or value > 7:
            raise ValueError(f"argument '{arg}': a gate mask is 0..7, got {value}")
        return int(value)
    if isinstance(value, str):
        value = [ch for ch in value.lower() if ch not in " ,|+"]
    mask = 0
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"argument '{arg}': expected an int mask, a string of gates ('rz') or a list of them") from None
    for g in items:
        g = str(g).lower()
        if g not in GATES:
            raise ValueError(f"argument '{arg}': unknown gate {g!r}; gates are 'r', 'z', 'n'")
        mask |= GATES[g]
    return mask


def gate_values(value, arg):
    """(mask, [r, z, n]) from a dict {gate: value}."""
    if not isinstance(value, dict):
        raise TypeError(f"argument '{arg}': expected a dict {{gate: value}} such as {{'z': 0.0}}")
    mask, vals = 0, [0.0, 0.0, 0.0]
    for g, v in value.items():
        g = str(g).lower()
        if g not in GATES:
            raise ValueError(f"argument '{arg}': unknown gate {g!r}; gates are 'r', 'z', 'n'")
        mask |= GATES[g]
        vals[GATE_INDEX[g]] = float(v)
    return mask, vals


def to_numpy(x, arg):
    """numpy view of an array-like; torch tensors are detached and moved to the CPU first."""
    if x is None:
        raise TypeError(f"argument '{arg}': expected an array, got None")
    if not isinstance(x, np.ndarray) and hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"argument '{arg}': cannot be read as an array ({e})") from e


def float_input(x, arg, ndim=None, shape=None):
    """A C-contiguous float32 array (one copy when x is not one already).

    Integer, unsigned, bool-free float inputs of any width are converted; complex, object, string
    and bool arrays are refused (TypeError naming the argument)."""
    a = to_numpy(x, arg)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"argument '{arg}': expected real numbers, got dtype {a.dtype}")
    check_shape(a, arg, ndim, shape)
    return np.ascontiguousarray(a, dtype=np.float32)


def int_input(x, arg, ndim=None, shape=None):
    """A C-contiguous int32 array of integer values; floats are refused (no silent truncation)."""
    a = to_numpy(x, arg)
    if a.dtype.kind not in "iu":
        raise TypeError(f"argument '{arg}': expected integers, got dtype {a.dtype}")
    check_shape(a, arg, ndim, shape)
    if a.size and a.dtype.itemsize > 4 or a.dtype == np.uint32:
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < -2**31 or hi > 2**31 - 1:
            raise ValueError(f"argument '{arg}': values outside the int32 range")
    return np.ascontiguousarray(a, dtype=np.int32)


def check_shape(a, arg, ndim=None, shape=None):
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"argument '{arg}': expected {ndim} dimensions, got shape {a.shape}")
    if shape is not None:
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"argument '{arg}': expected shape {want}, got {a.shape}")


def output_array(out, arg, shape, dtype):
    """A fresh array of shape/dtype, or the caller's `out` after its shape and dtype are checked (the
    extension checks contiguity and writability)."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"argument '{arg}': expected a numpy array, got {type(out).__name__}")
    if out.dtype != np.dtype(dtype):
        raise TypeError(f"argument '{arg}': expected dtype {np.dtype(dtype)}, got {out.dtype}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"argument '{arg}': expected shape {tuple(shape)}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"argument '{arg}': the array is not C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"argument '{arg}': the output array is read-only")
    return out


class OwnedHandle:
    """Owns one handle of the C library in ``self._h`` (None once freed). Subclasses name the capi
    function that frees it (``_destroy``) and what they are (``_what``, for the error once closed).
    ``close()`` frees it at once and only once; ``with`` closes it on leaving; ``__del__`` is the
    fallback."""

    _destroy = None
    _what = "object"
    _h = None

    @property
    def handle(self):
        """The raw C handle, for the generated module (rnnlab.capi)."""
        if self._h is None:
            raise ValueError(f"the {self._what} is closed")
        return self._h

    @property
    def closed(self):
        """True once close() was called."""
        return self._h is None

    def close(self):
        """Frees the C object now (idempotent). Any later call raises ValueError."""
        h, self._h = self._h, None
        if h is not None:
            getattr(_c, self._destroy)(h)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
