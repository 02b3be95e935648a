"""NumPy .npz archives written by the C library's writer (rnnlab_io.h)."""
import os

import numpy as np

from . import capi as _c
from . import _util as U

__all__ = ["NpzWriter"]


class NpzWriter(U.OwnedHandle):
    """Collects named arrays (copied when added) and writes them as one .npz, atomically.

    Supported dtypes: float32, float64, int32, int64 (other real dtypes are refused; convert first).
    ``deflate=True`` compresses the members (numpy.savez_compressed). numpy.load reads the file back
    with exactly the dtypes and shapes given.
    """

    _destroy = "rnnlab_npz_destroy"
    _what = "writer"

    _ADD = {np.dtype(np.float32): "rnnlab_npz_add_float32", np.dtype(np.float64): "rnnlab_npz_add_float64",
            np.dtype(np.int32): "rnnlab_npz_add_int32", np.dtype(np.int64): "rnnlab_npz_add_int64"}

    def __init__(self, deflate=False):
        self._h = None
        self._h = _c.rnnlab_npz_create(_c.RNNLAB_NPZ_DEFLATE if deflate else 0)

    def add(self, key, array):
        """Adds ``array`` (any shape, 0-d included) under ``key`` (must be new)."""
        if not isinstance(key, str):
            raise TypeError(f"argument 'key': expected str, got {type(key).__name__}")
        a = U.to_numpy(array, key)
        fn = self._ADD.get(a.dtype)
        if fn is None:
            raise TypeError(f"argument '{key}': dtype {a.dtype} is not one of float32, float64, int32, int64")
        shape = np.asarray(a.shape, dtype=np.int64)
        flat = np.ascontiguousarray(a).reshape(-1)  # (ascontiguousarray makes a 0-d array 1-d)
        getattr(_c, fn)(self.handle, key, flat, shape if a.ndim else None)

    def add_params(self, model, prefix="", l0=False, float64=False):
        """Adds every parameter tensor of ``model`` under its PyTorch name with ``prefix``."""
        flags = (_c.RNNLAB_NPZ_L0 if l0 else 0) | (_c.RNNLAB_NPZ_FLOAT64 if float64 else 0)
        _c.rnnlab_npz_add_params(self.handle, model.handle, prefix, flags)

    def __len__(self):
        return _c.rnnlab_npz_count(self.handle)

    def __contains__(self, key):
        return bool(_c.rnnlab_npz_contains(self.handle, key))

    def save(self, path):
        """Writes the archive (the writer is kept and can be saved again)."""
        _c.rnnlab_npz_save(self.handle, os.fsdecode(os.fspath(path)))
