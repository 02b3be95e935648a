"""rnnlab: train GRUs and vanilla RNNs and see inside them while they train (Python binding).

A thin layer over the C library (every number comes from a C call):

    import rnnlab
    m = rnnlab.Model(input_size=1, hidden_size=64, head="last_softmax", output_size=10,
                     frozen_biases={"z": 0.0}, diag_level="full", seed=0)
    m.set_optimizer("adam", lr=1e-3, clip=1.0)
    y = m.forward(x)                 # x (T, B, I) float32, time-major
    loss = m.backward(labels)        # int classes (B,)
    g = m.trace("grad_time")         # ||dL/dh_t|| over t
    m.update()

Classes: Model, Task, Dataset, NpzWriter; errors in rnnlab.errors (rnnlab.Error and subclasses that
are also ValueError, KeyError, OSError, RuntimeError, ...). The generated C API is rnnlab.capi (SWIG; every function, enum and struct of the headers).
"""
from . import capi as _rnnlab  # noqa: F401  (short name used below)
from . import capi
from . import errors
from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import Error, error_for_status

_rnnlab.pyrl_set_error_factory(error_for_status)

from .model import Model, Diagnostics, Summary, TensorInfo, summarize  # noqa: E402
from .data import Task, Dataset, fashion_mnist  # noqa: E402
from .io import NpzWriter  # noqa: E402
from . import _util  # noqa: E402

__version__ = _rnnlab.rnnlab_version()


def version():
    """The version string of the linked C library ("MAJOR.MINOR.PATCH")."""
    return _rnnlab.rnnlab_version()


def has_feature(name):
    """True if the library was built with a feature: "onednn", "cuda", "lapack", "npz"."""
    return bool(_rnnlab.rnnlab_has_feature(_util.enum_value(name, _util.FEATURES, "name")))


def backend_available(name):
    """True if a model of that backend ("reference", "cpu", "cuda", "auto") can be created here."""
    return bool(_rnnlab.rnnlab_backend_available(_util.enum_value(name, _util.BACKENDS, "name")))


def cpu_isa_best():
    """The best CPU kernel level here ("baseline", "avx2", "avx512"), capped by RNNLAB_CPU_ISA."""
    return _rnnlab.rnnlab_cpu_isa_name(_rnnlab.rnnlab_cpu_isa_best())


__all__ = ["Model", "Diagnostics", "Summary", "TensorInfo", "summarize", "Task", "Dataset", "fashion_mnist",
           "NpzWriter", "Error", "errors", "version", "has_feature", "backend_available", "cpu_isa_best"]
__all__ += errors.__all__
