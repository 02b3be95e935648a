"""rnnlab.Model: a GRU / vanilla RNN with its diagnostics, over the C library."""
import collections
import math
import os
from dataclasses import dataclass, fields

import numpy as np

from . import capi as _c
from . import _util as U

__all__ = ["Model", "Diagnostics", "Summary", "TensorInfo"]


@dataclass(frozen=True)
class Diagnostics:
    """Per-pass scalars of the last backward (``rnnlab_diag``).

    Attributes:
        steps, batch: T and B of the pass.
        level: the diagnostic level the pass ran at ("off", "summary", "full").
        loss: the batch loss (NaN when backward started from a caller's dL/dy).
        grad_norm: norm of the accumulated gradient over trainable entries, before clipping.
        grad_norm_post_clip: after the last update's clipping (= grad_norm until an update).
        omega: Pascanu's Omega (summary level and up; NaN when no (t, b) is valid or below summary).
        steps_in_past: fraction of (t, b) with ||dL/dh||^2 >= bound (summary and up).
        nonfinite: NaN/Inf entries in loss, activations, dL/dh and gradients.
        nonfinite_first_t: first step (0-based) with a non-finite activation or dL/dh; -1 if none.
    """
    steps: int
    batch: int
    level: str
    loss: float
    grad_norm: float
    grad_norm_post_clip: float
    omega: float
    steps_in_past: float
    nonfinite: int
    nonfinite_first_t: int

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Summary:
    """Mean, percentiles and histogram of a trace or of any values (``rnnlab_summary``).

    ``hist`` holds the counts of ``len(hist)`` equal bins over [lo, hi] (numpy.histogram's rule);
    ``edges`` are the bin edges. ``count`` is how many values were used (NaN values are left out)."""
    count: int
    mean: float
    min: float
    max: float
    p05: float
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    p95: float
    lo: float
    hi: float
    hist: np.ndarray

    @property
    def edges(self):
        return np.linspace(self.lo, self.hi, len(self.hist) + 1)


@dataclass(frozen=True)
class TensorInfo:
    """One parameter tensor: PyTorch name, shape, position in the flat buffer, trainable entries."""
    name: str
    shape: tuple
    offset: int
    count: int
    trainable: int


def _summary_from(s, hist):
    return Summary(s.count, s.mean, s.min, s.max, s.p05, s.p10, s.p25, s.p50, s.p75, s.p90, s.p95, s.lo, s.hi, hist)


def summarize(values, bins=20, lo=0.0, hi=0.0):
    """Mean, percentiles and a histogram of any values, computed by the C library.

    Args:
        values: array-like of numbers (converted to float64 C-contiguous, one copy if needed).
        bins: number of equal bins (>= 1).
        lo, hi: histogram range; lo == hi uses the data's own min..max.
    Returns: :class:`Summary`.
    """
    v = U.to_numpy(values, "values")
    if v.dtype.kind not in "fiu":
        raise TypeError(f"argument 'values': expected real numbers, got dtype {v.dtype}")
    v = np.ascontiguousarray(v, dtype=np.float64).reshape(-1)
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"argument 'bins': expected an int >= 1, got {bins!r}")
    s = _c.rnnlab_summary()
    hist = np.zeros(int(bins), dtype=np.int64)
    _c.rnnlab_summarize(s, hist, float(lo), float(hi), v)
    return _summary_from(s, hist)


class _hybridmethod:
    """A method that works on the class (``Model.load(path, **config)``: a new model) and on an
    instance (``m.load(path)``: into this model)."""

    def __init__(self, fclass, finstance):
        self.fclass, self.finstance = fclass, finstance
        self.__doc__ = finstance.__doc__

    def __get__(self, obj, cls):
        if obj is None:
            return self.fclass.__get__(None, cls)
        return self.finstance.__get__(obj, cls)


class Model(U.OwnedHandle):
    """A recurrent network (GRU or vanilla RNN) with an optional output head, trained and measured by
    the rnnlab C library.

    Every keyword is a field of the C ``rnnlab_config`` (enums by their lower-case names):

    Args:
        input_size (int): I, features per step.
        hidden_size (int): H, hidden units.
        cell (str): "gru" (PyTorch nn.GRU, linear before reset), "gru_reset_before" (Cho et al.,
            CS728), "rnn_tanh", "rnn_sigmoid", "rnn_relu", "rnn_linear".
        head (str): "none" (outputs are h), "last_softmax", "every_softmax", "last_linear".
        output_size (int): O, classes or outputs of the head (0 without a head).
        backend (str): "auto" (the CPU backend when built in), "reference", "cpu", "cuda".
        bias_mode (str): "double" (bias_ih and bias_hh trainable, PyTorch) or "single" (bias_hh held 0).
        frozen_bias_mask (int | str): gates whose biases are held ("z", "rz", or RNNLAB_GATE_* bits).
        frozen_bias_value (3 floats): held effective bias per gate r, z, n.
        frozen_biases (dict): shorthand for the two above, e.g. ``{"z": 0.0, "r": 0.0}``.
        init (str): "pytorch", "orthogonal", "orthogonal_stacked", "sigmoid", "basic_tanh",
            "smart_tanh", "test", "cs728_gru".
        bias_init (str): "scheme", "constant", "chrono".
        bias_init_mask (int | str), bias_init_value (3 floats): gates set by the constant bias init.
        bias_init_values (dict): shorthand, e.g. ``{"z": 1.0}`` (sets bias_init="constant").
        chrono_tmax (int): T_max of the chrono init (>= 3 when used).
        seed (int): initialisation seed.
        threads (int): threads the backend may use inside one call.
        diag_level (str): "off", "summary" or "full" (every per-step trace). ``diag`` is an alias.
        sat_thresh (float): threshold of the *_sat_frac_time traces.
        bound (float): validity bound of omega / steps_in_past on ||dL/dh||^2.
        max_batch, max_tape (int): largest B / recorded steps accepted (0 = no limit).
        denormals (str): "flush" (FTZ/DAZ inside the CPU backend's passes) or "keep".
        cpu_isa (str): highest kernel ISA of the CPU backend: "auto", "baseline", "avx2", "avx512".

    Tensors are time-major: x is (T, B, I). Inputs are converted to float32 C-contiguous arrays (one
    copy when they are not already); numpy arrays and torch tensors are accepted. Outputs are fresh
    numpy arrays the C call writes into (or the caller's ``out=`` arrays).

    A model is used by one thread at a time; distinct models may run in different threads at once
    (the GIL is released while C runs). ``close()`` frees it at once; ``with Model(...) as m:``
    closes it on exit. Any failed call raises a :class:`rnnlab.Error` subclass and leaves the model
    as it was.
    """

    _destroy = "rnnlab_destroy"
    _what = "model"

    def __init__(self, input_size, hidden_size, *, cell="gru", head="none", output_size=0, backend="auto",
                 bias_mode="double", frozen_bias_mask=0, frozen_bias_value=(0.0, 0.0, 0.0), frozen_biases=None,
                 init="pytorch", bias_init="scheme", bias_init_mask=0, bias_init_value=(0.0, 0.0, 0.0),
                 bias_init_values=None, chrono_tmax=0, seed=0, threads=1, diag_level="off", diag=None,
                 sat_thresh=0.05, bound=1e-20, max_batch=0, max_tape=0, denormals="flush", cpu_isa="auto"):
        self._h = None
        cfg = _c.rnnlab_config()
        cfg.cell = U.enum_value(cell, U.CELLS, "cell")
        cfg.input_size = _int_arg(input_size, "input_size")
        cfg.hidden_size = _int_arg(hidden_size, "hidden_size")
        cfg.head = U.enum_value(head, U.HEADS, "head")
        cfg.output_size = _int_arg(output_size, "output_size")
        cfg.backend = U.enum_value(backend, U.BACKENDS, "backend")
        cfg.bias_mode = U.enum_value(bias_mode, U.BIAS_MODES, "bias_mode")
        mask, vals = U.gate_mask(frozen_bias_mask, "frozen_bias_mask"), _three(frozen_bias_value, "frozen_bias_value")
        if frozen_biases is not None:
            mask, vals = U.gate_values(frozen_biases, "frozen_biases")
        cfg.frozen_bias_mask, cfg.frozen_bias_value = mask, vals
        cfg.init = U.enum_value(init, U.INITS, "init")
        bmask, bvals = U.gate_mask(bias_init_mask, "bias_init_mask"), _three(bias_init_value, "bias_init_value")
        binit = U.enum_value(bias_init, U.BIAS_INITS, "bias_init")
        if bias_init_values is not None:
            bmask, bvals = U.gate_values(bias_init_values, "bias_init_values")
            binit = U.BIAS_INITS["constant"]
        cfg.bias_init, cfg.bias_init_mask, cfg.bias_init_value = binit, bmask, bvals
        cfg.chrono_tmax = _int_arg(chrono_tmax, "chrono_tmax")
        if not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2**64:
            raise ValueError(f"argument 'seed': expected an int in [0, 2^64), got {seed!r}")
        cfg.seed = int(seed)
        cfg.threads = _int_arg(threads, "threads")
        cfg.diag_level = U.enum_value(diag if diag is not None else diag_level, U.DIAG_LEVELS, "diag_level")
        cfg.sat_thresh = float(sat_thresh)
        cfg.bound = float(bound)
        cfg.max_batch = _int_arg(max_batch, "max_batch")
        cfg.max_tape = _int_arg(max_tape, "max_tape")
        cfg.denormals = U.enum_value(denormals, U.DENORMALS, "denormals")
        cfg.cpu_isa = U.enum_value(cpu_isa, U.CPU_ISAS, "cpu_isa")
        self._h = _c.rnnlab_create(cfg)
        self._cache_shape()

    # ---- life cycle -----------------------------------------------------------------------------
    def _cache_shape(self):
        cfg = self._config_struct()
        self._I, self._H, self._O = cfg.input_size, cfg.hidden_size, cfg.output_size
        self._head = cfg.head
        self._cell = cfg.cell
        self._tape = 0        # steps recorded since the last reset/backward (training mode)
        self._batch = 0       # B of the current sequence (0: free)
        self._last_T = 0      # T of the last forward call
        self._training = True
        total, _ = _c.rnnlab_param_count(self._h)
        self._total = total
        self._infos = None

    def __repr__(self):
        if self._h is None:
            return "rnnlab.Model(closed)"
        c = self.config
        return (f"rnnlab.Model(cell={c['cell']!r}, input_size={c['input_size']}, hidden_size={c['hidden_size']}, "
                f"head={c['head']!r}, output_size={c['output_size']}, backend={c['backend']!r})")

    # ---- configuration ---------------------------------------------------------------------------
    def _config_struct(self):
        cfg = _c.rnnlab_config()
        _c.rnnlab_get_config(cfg, self.handle)
        return cfg

    @property
    def config(self):
        """The configuration as the C library reports it (rnnlab_get_config): a dict of the C field
        names, enums by name; backend is the resolved backend, cpu_isa the level in use."""
        c = self._config_struct()
        return {
            "cell": U.enum_name(c.cell, U.CELLS), "input_size": c.input_size, "hidden_size": c.hidden_size,
            "head": U.enum_name(c.head, U.HEADS), "output_size": c.output_size,
            "backend": U.enum_name(c.backend, U.BACKENDS), "bias_mode": U.enum_name(c.bias_mode, U.BIAS_MODES),
            "frozen_bias_mask": c.frozen_bias_mask, "frozen_bias_value": tuple(c.frozen_bias_value),
            "init": U.enum_name(c.init, U.INITS), "bias_init": U.enum_name(c.bias_init, U.BIAS_INITS),
            "bias_init_mask": c.bias_init_mask, "bias_init_value": tuple(c.bias_init_value),
            "chrono_tmax": c.chrono_tmax, "seed": c.seed, "threads": c.threads,
            "diag_level": U.enum_name(c.diag_level, U.DIAG_LEVELS), "sat_thresh": c.sat_thresh,
            "bound": c.bound, "max_batch": c.max_batch, "max_tape": c.max_tape,
            "denormals": U.enum_name(c.denormals, U.DENORMALS), "cpu_isa": U.enum_name(c.cpu_isa, U.CPU_ISAS),
        }

    input_size = property(lambda self: self._I, doc="I")
    hidden_size = property(lambda self: self._H, doc="H")
    output_size = property(lambda self: self._O, doc="O (0 without a head)")

    def set_diag_level(self, level):
        """Sets the diagnostic level ("off", "summary", "full") for the next passes."""
        _c.rnnlab_set_diag_level(self.handle, U.enum_value(level, U.DIAG_LEVELS, "level"))

    def set_sat_thresh(self, sat_thresh):
        """Sets the saturation threshold of the *_sat_frac_time traces."""
        _c.rnnlab_set_sat_thresh(self.handle, float(sat_thresh))

    def set_bound(self, bound):
        """Sets the validity bound of omega / steps_in_past."""
        _c.rnnlab_set_bound(self.handle, float(bound))

    # ---- state, mode -----------------------------------------------------------------------------
    def reset(self):
        """Clears the recorded tape and sets the hidden state back to h0 (zero unless set)."""
        _c.rnnlab_reset(self.handle)
        self._tape, self._batch = 0, 0

    def set_h0(self, h0):
        """Sets the initial hidden state (B, H) for the next sequence (then resets). None: zero h0."""
        h = self.handle
        if h0 is None:
            _c.rnnlab_set_h0(h, None, 0)
            self._tape, self._batch = 0, 0
            return
        a = U.float_input(h0, "h0", ndim=2, shape=(None, self._H))
        _c.rnnlab_set_h0(h, a, a.shape[0])
        self._tape, self._batch = 0, a.shape[0]

    def hidden(self, out=None):
        """The current hidden state, (B, H) float32."""
        h = self.handle
        if self._batch == 0:
            from .errors import StateError
            raise StateError(_c.RNNLAB_E_STATE, "hidden: no sequence has been run since the last reset")
        y = U.output_array(out, "out", (self._batch, self._H), np.float32)
        _c.rnnlab_get_hidden(y, h)
        return y

    def train(self, mode=True):
        """Training mode (steps are recorded for backward), as torch's Module.train(). Returns self."""
        _c.rnnlab_set_training(self.handle, 1 if mode else 0)
        self._training = bool(mode)
        self._tape = 0
        return self

    def eval(self):
        """Eval mode: nothing is recorded (the tape is cleared, the hidden state kept). Returns self."""
        return self.train(False)

    @property
    def training(self):
        return self._training

    # ---- forward, backward -----------------------------------------------------------------------
    def forward(self, x, h0=None, *, reset=True, out=None):
        """Runs the sequence x (T, B, I) and returns the outputs of every step.

        Args:
            x: array-like (T, B, I), time-major. float32 C-contiguous arrays pass without a copy.
            h0: optional initial hidden state (B, H); None starts from zero (with reset=True).
            reset: True (default) starts a new sequence first, as torch.nn.GRU does; False carries
                the hidden state and tape on (streaming, truncated BPTT).
            out: optional float32 array (T, B, O) (or (T, B, H) without a head) to write into.
        Returns: y (T, B, O) logits / outputs, or (T, B, H) hidden states without a head.
        """
        h = self.handle
        a = U.float_input(x, "x", ndim=3, shape=(None, None, self._I))
        T, B = a.shape[0], a.shape[1]
        width = self._O if self._head != U.HEADS["none"] else self._H
        y = U.output_array(out, "out", (T, B, width), np.float32)
        h0a = None if h0 is None else U.float_input(h0, "h0", ndim=2, shape=(B, self._H))
        if not reset and h0 is not None:
            raise ValueError("argument 'h0': only with reset=True (h0 starts a new sequence)")
        if T == 0 or B == 0:
            raise ValueError(f"argument 'x': T and B must be >= 1, got shape {a.shape}")
        if not reset and self._batch and B != self._batch:
            raise ValueError(f"argument 'x': batch {B} differs from the running sequence's {self._batch} "
                             "(use reset=True)")
        if reset:
            # what the C step would refuse after the reset, refused before it (the model stays as it was)
            if not np.isfinite(a).all():
                bad = np.argwhere(~np.isfinite(a))[0]
                raise ValueError(f"argument 'x': NaN or Inf at (t, b, i) = {tuple(int(v) for v in bad)}")
            if h0a is not None:
                _c.rnnlab_set_h0(h, h0a, B)
            else:
                _c.rnnlab_reset(h)
            self._tape, self._batch = 0, 0
        _c.rnnlab_step(y, h, a, T, B)
        self._batch = B
        self._last_T = T
        if self._training:
            self._tape += T
        return y

    __call__ = forward

    def _targets(self, target, classes, values, dy, arg_T):
        given = [n for n, v in (("classes", classes), ("values", values), ("dy", dy)) if v is not None]
        if target is not None:
            if given:
                raise TypeError("give either the positional target or one of classes=, values=, dy=")
            if self._head in (U.HEADS["last_softmax"], U.HEADS["every_softmax"]):
                classes = target
            elif self._head == U.HEADS["last_linear"]:
                values = target
            else:
                dy = target
        elif len(given) != 1:
            raise TypeError("expected exactly one target: classes=, values= or dy= (or a positional target)")
        B = self._batch
        if classes is not None:
            if self._head == U.HEADS["every_softmax"]:
                # nothing recorded (eval mode, or no forward yet): the C call reports that (STATE)
                c = U.int_input(classes, "classes", ndim=2, shape=(arg_T or None, B or None))
            else:
                c = U.int_input(classes, "classes", ndim=1, shape=(B or None,))
            return (c, None, None)
        if values is not None:
            v = U.float_input(values, "values", ndim=2, shape=(B or None, self._O))
            return (None, v, None)
        width = self._O if self._head != U.HEADS["none"] else self._H
        d = U.float_input(dy, "dy", ndim=3, shape=(arg_T or None, B or None, width))
        return (None, None, d)

    def backward(self, target=None, *, classes=None, values=None, dy=None):
        """Back-propagates through every recorded step and accumulates the parameter gradients.

        The target is by head: int class indices (B,) for "last_softmax" or (T, B) for
        "every_softmax" (any integer dtype; floats are refused); float targets (B, O) for
        "last_linear"; a caller-supplied dL/dy shaped like the outputs (T, B, O or H) for any head
        (``dy=``). Gradients accumulate until update() or zero_grad(); the tape is then cleared and
        the hidden state kept. Diagnostics of the model's level are computed in the same pass.

        Returns: the batch loss (float; NaN when starting from dy).
        """
        h = self.handle
        tg = self._targets(target, classes, values, dy, self._tape)
        _c.rnnlab_backward(h, tg)
        self._tape = 0
        d = _c.rnnlab_diag()
        _c.rnnlab_diagnostics(d, h)
        return d.loss

    def loss(self, target=None, *, classes=None, values=None, err_abs=None, count_wrong=False):
        """The loss of the last forward call's outputs against targets, recording nothing.

        Targets as in backward() (for "every_softmax": the steps of the last forward call).
        With count_wrong=True returns (loss, n_wrong): sequences whose argmax differs from the class
        (any step for "every_softmax"), or with |y - t| > err_abs in any output ("last_linear";
        err_abs defaults to 0.2, the tasks' tolerance).
        """
        h = self.handle
        tg = self._targets(target, classes, values, None, self._last_T)
        ea = float(_c.RNNLAB_TASK_ERR_ABS_DEFAULT if err_abs is None else err_abs)
        loss, n_wrong = _c.rnnlab_loss(h, tg, ea)
        return (loss, n_wrong) if count_wrong else loss

    def input_grad(self):
        """dL/dx of the last backward, (T, B, I) float32."""
        h = self.handle
        d = _c.rnnlab_diag()
        _c.rnnlab_diagnostics(d, h)
        out = np.empty((d.steps, d.batch, self._I), dtype=np.float32)
        _c.rnnlab_get_input_grad(out, h)
        return out

    def h0_grad(self):
        """dL/dh0 of the last backward, (B, H) float32."""
        h = self.handle
        d = _c.rnnlab_diag()
        _c.rnnlab_diagnostics(d, h)
        out = np.empty((d.batch, self._H), dtype=np.float32)
        _c.rnnlab_get_h0_grad(out, h)
        return out

    # ---- diagnostics -----------------------------------------------------------------------------
    def diagnostics(self):
        """The scalars of the last backward (and update): a :class:`Diagnostics`."""
        d = _c.rnnlab_diag()
        _c.rnnlab_diagnostics(d, self.handle)
        return Diagnostics(d.steps, d.batch, U.enum_name(d.level, U.DIAG_LEVELS), d.loss, d.grad_norm,
                           d.grad_norm_post_clip, d.omega, d.steps_in_past, d.nonfinite, d.nonfinite_first_t)

    @staticmethod
    def trace_names():
        """Every trace key of the C library ("grad_time", "sat_time", ...)."""
        return [_c.rnnlab_trace_name(i) for i in range(_c.RNNLAB_TRACE_COUNT)]

    def _trace_id(self, name):
        if isinstance(name, str):
            return _c.rnnlab_trace_from_name(name)
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            return int(name)
        raise TypeError(f"argument 'name': expected a trace key (str) or an int, got {type(name).__name__}")

    def has_trace(self, name):
        """True if this model's cell has the trace (gate traces exist only for GRUs)."""
        return bool(_c.rnnlab_has_trace(self.handle, self._trace_id(name)))

    def trace(self, name):
        """One per-step trace of the last backward (diag level "full"): float64 array (T,), index
        t - 1. Keys: see trace_names() (README, "Diagnostics")."""
        h = self.handle
        tid = self._trace_id(name)
        n = _c.rnnlab_get_trace(None, h, tid)
        out = np.empty(n, dtype=np.float64)
        _c.rnnlab_get_trace(out, h, tid)
        return out

    def traces(self):
        """Every trace this cell has, as {key: float64 array (T,)} (diag level "full")."""
        return {name: self.trace(name) for name in self.trace_names() if self.has_trace(name)}

    def grad_norm_blocks(self):
        """grad_norm per tensor and per gate block (summary level and up): {name: norm}."""
        h = self.handle
        n, _ = _c.rnnlab_grad_norm_blocks(0, h)
        n2, pairs = _c.rnnlab_grad_norm_blocks(n, h)
        return collections.OrderedDict(pairs)

    def summary(self, name, bins=20, lo=0.0, hi=0.0):
        """Mean, percentiles and histogram of a trace of the last backward (grad_time is taken as
        log10(g + 1e-12)). lo == hi uses the data's own range. Returns :class:`Summary`."""
        h = self.handle
        tid = self._trace_id(name)
        if not isinstance(bins, (int, np.integer)) or bins < 1:
            raise ValueError(f"argument 'bins': expected an int >= 1, got {bins!r}")
        s = _c.rnnlab_summary()
        hist = np.zeros(int(bins), dtype=np.int64)
        _c.rnnlab_trace_summary(s, hist, float(lo), float(hi), h, tid)
        return _summary_from(s, hist)

    def spectral(self, block="W_hn"):
        """(spectral radius, largest singular value) of a recurrent block: "W_hn" (W_hh of a vanilla
        RNN), "W_hz", "W_hr"."""
        b = U.enum_value(block, U.BLOCKS, "block")
        rho, smax = _c.rnnlab_spectral(self.handle, b)
        return rho, smax

    def jacobian(self, t, b=0, out=None):
        """The H x H Jacobian d h_t / d h_{t-1} of step t (0-based, in the last forward's tape) and
        sequence b, float32."""
        h = self.handle
        J = U.output_array(out, "out", (self._H, self._H), np.float32)
        _c.rnnlab_jacobian(J, h, _int_arg(t, "t"), _int_arg(b, "b"))
        return J

    # ---- parameters ------------------------------------------------------------------------------
    def tensor_infos(self):
        """Every parameter tensor in flat order: a list of :class:`TensorInfo`."""
        h = self.handle
        if self._infos is None:
            infos = []
            info = _c.rnnlab_tensor_info()
            for i in range(_c.rnnlab_tensor_count(h)):
                _c.rnnlab_tensor_info_at(info, h, i)
                shape = (info.rows,) if info.cols == 1 and info.name.split(".")[-1].startswith("bias") else (info.rows, info.cols)
                infos.append(TensorInfo(info.name, shape, info.offset, info.count, info.trainable))
            self._infos = infos
        return list(self._infos)

    def param_count(self):
        """(total, trainable) parameter counts."""
        return tuple(_c.rnnlab_param_count(self.handle))

    def _info(self, name, arg="name"):
        if not isinstance(name, str):
            raise TypeError(f"argument '{arg}': expected a tensor name (str), got {type(name).__name__}")
        info = _c.rnnlab_tensor_info()
        _c.rnnlab_tensor_info_by_name(info, self.handle, name)
        for ti in self.tensor_infos():
            if ti.offset == info.offset:
                return ti
        raise AssertionError("tensor info lookup")  # the C library returned an offset it does not list

    def params(self, out=None):
        """The flat parameter buffer (float32, total entries, in tensor_infos() order)."""
        h = self.handle
        y = U.output_array(out, "out", (self._total,), np.float32)
        _c.rnnlab_get_params(y, h)
        return y

    def set_params(self, values):
        """Replaces every parameter from a flat array of total entries (frozen entries must keep
        their values)."""
        h = self.handle
        a = U.float_input(values, "values", ndim=1, shape=(self._total,))
        _c.rnnlab_set_params(h, a)

    def grads(self, out=None):
        """The flat accumulated gradient (float32, total entries; frozen entries are 0)."""
        h = self.handle
        y = U.output_array(out, "out", (self._total,), np.float32)
        _c.rnnlab_get_grads(y, h)
        return y

    def trainable_mask(self):
        """uint8 (total,): 1 where the flat entry is trainable, 0 where frozen or held."""
        h = self.handle
        y = np.empty(self._total, dtype=np.uint8)
        _c.rnnlab_get_trainable_mask(y, h)
        return y

    def zero_grad(self):
        """Sets the accumulated gradients to zero."""
        _c.rnnlab_zero_grad(self.handle)

    def get_tensor(self, name):
        """One tensor by PyTorch name ("weight_ih", "rnn.weight_hh_l0", "head.weight", "fc.bias"...),
        in PyTorch's shape, float32."""
        ti = self._info(name)
        y = np.empty(ti.shape, dtype=np.float32)
        _c.rnnlab_get_tensor(y, self.handle, name)
        return y

    def set_tensor(self, name, values):
        """Sets one tensor (PyTorch name and shape)."""
        ti = self._info(name)
        a = U.float_input(values, name, shape=ti.shape)
        _c.rnnlab_set_tensor(self.handle, name, a)

    def get_grad(self, name):
        """The accumulated gradient of one tensor, PyTorch shape, float32."""
        ti = self._info(name)
        y = np.empty(ti.shape, dtype=np.float32)
        _c.rnnlab_get_grad(y, self.handle, name)
        return y

    def named_parameters(self):
        """(name, array) pairs of every tensor, as torch's Module.named_parameters()."""
        flat = self.params()
        return [(ti.name, flat[ti.offset:ti.offset + ti.count].reshape(ti.shape).copy()) for ti in self.tensor_infos()]

    def state_dict(self, prefix="", head_prefix=None, l0=False):
        """The parameters as an OrderedDict {name: float32 array} in PyTorch's names and shapes.

        Args:
            prefix: put in front of the cell tensors' names (e.g. "rnn.").
            head_prefix: put in front of the head's "weight"/"bias" (default: prefix + "head.").
            l0: add nn.GRU / nn.RNN's "_l0" suffix to the cell tensors ("weight_ih_l0").
        """
        hp = prefix + "head." if head_prefix is None else head_prefix
        sd = collections.OrderedDict()
        for name, arr in self.named_parameters():
            if name.startswith("head."):
                sd[hp + name[len("head."):]] = arr
            else:
                sd[prefix + name + ("_l0" if l0 else "")] = arr
        return sd

    def load_state_dict(self, state_dict, prefix="", strict=True):
        """Loads parameters from a mapping of names to numpy arrays or torch tensors.

        Names are resolved by the C library: PyTorch's nn.GRUCell / nn.GRU names ("weight_ih",
        "weight_ih_l0"), any module prefix ("rnn.weight_hh_l0"), "head.weight" or a head module's
        "fc.weight". With ``prefix``, only keys starting with it are read (e.g. prefix="rnn." loads the
        nn.GRU of a larger module and ignores its other entries). Arrays must have PyTorch's shapes;
        any float or integer dtype is converted to float32.

        strict=True: every tensor of the model must be given and every key read must name one.
        All values are checked first, then set in one C call: on any error nothing changes.
        """
        h = self.handle
        if not hasattr(state_dict, "items"):
            raise TypeError(f"argument 'state_dict': expected a mapping, got {type(state_dict).__name__}")
        flat = self.params()
        seen, unknown = {}, []
        info = _c.rnnlab_tensor_info()
        from .errors import NotFoundError
        for key, value in state_dict.items():
            if not isinstance(key, str):
                raise TypeError(f"argument 'state_dict': keys must be str, got {key!r}")
            if prefix and not key.startswith(prefix):
                continue
            name = key[len(prefix):]
            try:
                _c.rnnlab_tensor_info_by_name(info, h, name)
            except NotFoundError:
                unknown.append(key)
                continue
            ti = next(t for t in self.tensor_infos() if t.offset == info.offset)
            if ti.name in seen:
                raise ValueError(f"argument 'state_dict': '{key}' and '{seen[ti.name]}' both name tensor '{ti.name}'")
            arr = U.float_input(value, key, shape=ti.shape)
            flat[ti.offset:ti.offset + ti.count] = arr.reshape(-1)
            seen[ti.name] = key
        if strict:
            missing = [t.name for t in self.tensor_infos() if t.name not in seen]
            if missing or unknown:
                raise KeyError(f"load_state_dict: missing tensors {missing}, unexpected keys {unknown}")
        _c.rnnlab_set_params(h, flat)

    # ---- optimiser -------------------------------------------------------------------------------
    def set_optimizer(self, kind="sgd", *, lr=0.01, momentum=0.0, beta1=0.9, beta2=0.999, betas=None, eps=1e-8,
                      weight_decay=0.0, schedule="constant", lr_min=0.0, schedule_steps=0, warmup_steps=0,
                      schedule_period=1, clip="nothing", cutoff=1.0, clip_value=0.0, alpha=0.0):
        """Sets the optimiser (README, "Training"; the fields of rnnlab_optimizer_config).

        Args:
            kind: "sgd" (momentum, dampening 0), "adam" (L2 weight decay) or "adamw" (decoupled).
            lr, momentum, beta1, beta2 (or betas=(b1, b2)), eps, weight_decay: as torch.optim.
            schedule: "constant" or "cosine" (lr -> lr_min over schedule_steps schedule steps);
                warmup_steps: linear warm-up; schedule_period: updates per schedule step (0: only
                schedule_step() advances it).
            clip: "nothing", "rescale" (norm clipping at ``cutoff`` with the exploding-gradient
                guard), or a number: rescale with that cutoff.
            clip_value: > 0 clamps every gradient entry to [-clip_value, clip_value].
            alpha: Pascanu's Omega regulariser weight (vanilla RNNs).
        A later call with the same kind keeps the moments and counters (hyper-parameters change).
        """
        oc = _c.rnnlab_optimizer_config()
        oc.kind = U.enum_value(kind, U.OPTIMIZERS, "kind")
        if betas is not None:
            beta1, beta2 = betas
        if isinstance(clip, (int, float, np.integer, np.floating)) and not isinstance(clip, bool):
            cutoff, clip = float(clip), "rescale"
        oc.lr, oc.momentum, oc.beta1, oc.beta2, oc.eps = float(lr), float(momentum), float(beta1), float(beta2), float(eps)
        oc.weight_decay = float(weight_decay)
        oc.schedule = U.enum_value(schedule, U.SCHEDULES, "schedule")
        oc.lr_min = float(lr_min)
        oc.schedule_steps = _int_arg(schedule_steps, "schedule_steps", 64)
        oc.warmup_steps = _int_arg(warmup_steps, "warmup_steps", 64)
        oc.schedule_period = _int_arg(schedule_period, "schedule_period", 64)
        oc.clip = U.enum_value(clip, U.CLIPS, "clip")
        oc.cutoff, oc.clip_value, oc.alpha = float(cutoff), float(clip_value), float(alpha)
        _c.rnnlab_set_optimizer(self.handle, oc)

    def optimizer(self):
        """The optimiser's configuration as a dict (rnnlab_get_optimizer)."""
        oc = _c.rnnlab_optimizer_config()
        _c.rnnlab_get_optimizer(oc, self.handle)
        return {"kind": U.enum_name(oc.kind, U.OPTIMIZERS), "lr": oc.lr, "momentum": oc.momentum,
                "beta1": oc.beta1, "beta2": oc.beta2, "eps": oc.eps, "weight_decay": oc.weight_decay,
                "schedule": U.enum_name(oc.schedule, U.SCHEDULES), "lr_min": oc.lr_min,
                "schedule_steps": oc.schedule_steps, "warmup_steps": oc.warmup_steps,
                "schedule_period": oc.schedule_period, "clip": U.enum_name(oc.clip, U.CLIPS),
                "cutoff": oc.cutoff, "clip_value": oc.clip_value, "alpha": oc.alpha}

    def optimizer_state(self):
        """Counters and rates of the optimiser as a dict (rnnlab_get_optimizer_state)."""
        st = _c.rnnlab_optimizer_state()
        _c.rnnlab_get_optimizer_state(st, self.handle)
        return {"step": st.step, "moment_step": st.moment_step, "schedule_pos": st.schedule_pos,
                "guard_count": st.guard_count, "lr": st.lr, "last_lr": st.last_lr,
                "last_clipped": bool(st.last_clipped), "last_guard": bool(st.last_guard)}

    def reset_optimizer(self):
        """Zeroes the moments and every counter of the optimiser."""
        _c.rnnlab_reset_optimizer(self.handle)

    def update(self):
        """Clips the accumulated gradient, takes one optimiser step and zeroes the gradients."""
        _c.rnnlab_update(self.handle)

    def schedule_step(self):
        """Advances the learning-rate schedule by one step (torch's scheduler.step())."""
        _c.rnnlab_schedule_step(self.handle)

    # ---- files -----------------------------------------------------------------------------------
    def save(self, path, user=None):
        """Writes a checkpoint (config, parameters, optimiser; atomically). ``user``: optional bytes
        stored with it (read back by load(..., with_user=True))."""
        h = self.handle
        p = _path(path)
        if user is None:
            _c.rnnlab_save(h, p)
        else:
            _c.rnnlab_save_ex(h, p, _bytes_arg(user))

    def _load_into(self, path, with_user=False):
        h = self.handle
        p = _path(path)
        if not with_user:
            _c.rnnlab_load(h, p)
            user = None
        else:
            # capacity 0 loads and reports the stored length; a second load with a buffer of that
            # size (the same file, so the same result) copies the bytes
            size = _c.rnnlab_load_ex(None, h, p)
            buf = bytearray(size)
            if size:
                size = _c.rnnlab_load_ex(buf, h, p)
            user = bytes(buf[:size])
        self._tape, self._batch = 0, 0
        return user

    def _load_instance(self, path, with_user=False):
        """Loads a checkpoint into this model (same cell, sizes, head, bias mode and frozen biases;
        backend, threads, seed and init may differ). The file is checked whole before anything
        changes; gradients are zeroed and the sequence reset. With with_user=True returns the caller
        bytes saved with it (b"" when none)."""
        return self._load_into(path, with_user)

    def _load_class(cls, path, *, with_user=False, **overrides):
        """Model.load(path, **overrides): a new model built from the configuration stored in the
        checkpoint (rnnlab_checkpoint_config), with the checkpoint loaded into it. ``overrides`` are
        Model(...) keywords that replace stored values (e.g. backend="reference", threads=4,
        diag_level="full"); the shape must stay the checkpoint's. With with_user=True returns
        (model, user bytes)."""
        c = _c.rnnlab_config()
        _c.rnnlab_checkpoint_config(c, _path(path))
        config = {
            "input_size": c.input_size, "hidden_size": c.hidden_size, "cell": c.cell, "head": c.head,
            "output_size": c.output_size, "backend": c.backend, "bias_mode": c.bias_mode,
            "frozen_bias_mask": c.frozen_bias_mask, "frozen_bias_value": c.frozen_bias_value, "init": c.init,
            "bias_init": c.bias_init, "bias_init_mask": c.bias_init_mask, "bias_init_value": c.bias_init_value,
            "chrono_tmax": c.chrono_tmax, "seed": c.seed, "threads": c.threads, "diag_level": c.diag_level,
            "sat_thresh": c.sat_thresh, "bound": c.bound, "max_batch": c.max_batch, "max_tape": c.max_tape,
            "denormals": c.denormals, "cpu_isa": c.cpu_isa,
        }
        if "diag" in overrides:
            overrides["diag_level"] = overrides.pop("diag")
        config.update(overrides)
        m = cls(**config)
        try:
            user = m._load_into(path, with_user)
        except BaseException:
            m.close()
            raise
        return (m, user) if with_user else m

    load = _hybridmethod(classmethod(_load_class), _load_instance)

    def export_npz(self, path, cell_prefix="", head_prefix="head.", l0=False, float64=False):
        """Writes the parameters as a NumPy .npz in PyTorch's names and shapes (atomically).
        cell_prefix="rnn.", head_prefix="fc.", l0=True give the state_dict of a module
        Model(rnn=nn.GRU, fc=nn.Linear)."""
        flags = (_c.RNNLAB_NPZ_L0 if l0 else 0) | (_c.RNNLAB_NPZ_FLOAT64 if float64 else 0)
        _c.rnnlab_export_npz(self.handle, _path(path), cell_prefix, head_prefix, flags)

    def import_npz(self, path):
        """Reads every parameter from an .npz (float32 or float64; names as load_state_dict takes
        them). Everything is checked before anything changes; the optimiser state is kept."""
        _c.rnnlab_import_npz(self.handle, _path(path))


def _int_arg(v, arg, bits=32):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"argument '{arg}': expected an int, got {type(v).__name__}")
    lim = 2 ** (bits - 1)
    if not -lim <= int(v) < lim:
        raise ValueError(f"argument '{arg}': {v} does not fit in int{bits}")
    return int(v)


def _three(v, arg):
    try:
        vals = [float(x) for x in v]
    except TypeError:
        raise TypeError(f"argument '{arg}': expected 3 numbers (gates r, z, n)") from None
    if len(vals) != 3:
        raise ValueError(f"argument '{arg}': expected 3 numbers (gates r, z, n), got {len(vals)}")
    return vals


def _path(p):
    if p is None:
        raise TypeError("argument 'path': expected a path, got None")
    return os.fsdecode(os.fspath(p))


def _bytes_arg(b):
    if isinstance(b, str):
        raise TypeError("argument 'user': expected bytes, got str (encode it)")
    return memoryview(b).cast("B") if not isinstance(b, (bytes, bytearray)) else b
