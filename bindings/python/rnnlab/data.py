"""The synthetic tasks and sequential-image data sets of rnnlab_data.h, as numpy batch generators.

Batches are time-major, as Model.forward takes them: x is (T, B, I) float32. Every number comes from
the C library (its own seeded generator: a seed gives the same batches on every platform)."""
import os

import numpy as np

from . import capi as _c
from . import _util as U

__all__ = ["Task", "Dataset", "fashion_mnist"]


def _int(v, arg):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"argument '{arg}': expected an int, got {type(v).__name__}")
    return int(v)


class Task(U.OwnedHandle):
    """A synthetic task of Pascanu, Mikolov & Bengio (2013) (README, "Tasks"; tasks.md).

    Args:
        kind: "add", "mul", "mem" (CS728's default), "torder", "torder3", "perm".
        min_length, max_length: a batch's L is uniform on [min_length, max_length - 1].
        memvalues, mempos: mem's symbols and pattern length.
        seed: generator seed.
        mem_all: mem only: every draw is the batch of all memvalues^mempos patterns.

    Attributes (from rnnlab_task_get_info): input_size, output_size, head ("last_softmax",
    "every_softmax" or "last_linear": pass it to Model(head=...)), min_steps, max_steps, fixed_batch.
    """

    _destroy = "rnnlab_task_destroy"
    _what = "task"

    def __init__(self, kind="mem", *, min_length=50, max_length=200, memvalues=5, mempos=10, seed=0, mem_all=False):
        self._h = None
        cfg = _c.rnnlab_task_config()
        if isinstance(kind, str):
            cfg.kind = _c.rnnlab_task_kind_from_name(kind)
        else:
            cfg.kind = _int(kind, "kind")
        cfg.min_length = _int(min_length, "min_length")
        cfg.max_length = _int(max_length, "max_length")
        cfg.memvalues = _int(memvalues, "memvalues")
        cfg.mempos = _int(mempos, "mempos")
        cfg.seed = _int(seed, "seed")
        cfg.mem_all = 1 if mem_all else 0
        self._h = _c.rnnlab_task_create(cfg)
        info = _c.rnnlab_task_info()
        _c.rnnlab_task_get_info(info, self._h)
        self.kind = _c.rnnlab_task_kind_name(info.kind)
        self.input_size = info.input_size
        self.output_size = info.output_size
        self.head = U.enum_name(info.head, U.HEADS)
        self.min_steps = info.min_steps
        self.max_steps = info.max_steps
        self.fixed_batch = info.fixed_batch

    @property
    def regression(self):
        """True for add and mul (float targets, "last_linear" head)."""
        return self.head == "last_linear"

    def reseed(self, seed):
        """Restarts the generator from ``seed``."""
        _c.rnnlab_task_reseed(self.handle, _int(seed, "seed"))

    def steps(self, length=0):
        """(min T, max T) a draw with this length can give (0: the per-batch rule)."""
        return tuple(_c.rnnlab_task_steps(self.handle, _int(length, "length")))

    def draw(self, batch, length=0):
        """One batch: (x (T, B, I) float32, targets).

        targets: int32 classes (B,) for last-softmax tasks, (T, B) for mem; float32 (B, O) for add
        and mul. length 0 draws L by the per-batch rule; > 0 uses that L.
        """
        h = self.handle
        batch, length = _int(batch, "batch"), _int(length, "length")
        if batch < 1:
            raise ValueError(f"argument 'batch': expected >= 1, got {batch}")
        lo, hi = _c.rnnlab_task_steps(h, length)
        I, O = self.input_size, self.output_size
        x = np.empty(hi * batch * I, dtype=np.float32)
        if self.regression:
            values = np.empty(batch * O, dtype=np.float32)
            T = _c.rnnlab_task_draw(x, None, values, h, batch, length)
            return x[:T * batch * I].reshape(T, batch, I), values.reshape(batch, O)
        n = hi * batch if self.head == "every_softmax" else batch
        classes = np.empty(n, dtype=np.int32)
        T = _c.rnnlab_task_draw(x, classes, None, h, batch, length)
        x = x[:T * batch * I].reshape(T, batch, I)
        if self.head == "every_softmax":
            return x, classes[:T * batch].reshape(T, batch)
        return x, classes

    def batches(self, batch, n=None, length=0):
        """Yields ``n`` batches (forever when n is None) as draw(batch, length) gives them."""
        i = 0
        while n is None or i < n:
            yield self.draw(batch, length)
            i += 1

    def count_wrong(self, y, targets, err_abs=None):
        """Sequences of a batch the outputs y (T, B, O) got wrong, by the task's rule."""
        h = self.handle
        ya = U.float_input(y, "y", ndim=3, shape=(None, None, self.output_size))
        T, B = ya.shape[0], ya.shape[1]
        ea = float(_c.RNNLAB_TASK_ERR_ABS_DEFAULT if err_abs is None else err_abs)
        if self.regression:
            v = U.float_input(targets, "targets", ndim=2, shape=(B, self.output_size))
            return _c.rnnlab_task_count_wrong(h, ya, T, B, None, v, ea)
        shape = (T, B) if self.head == "every_softmax" else (B,)
        c = U.int_input(targets, "targets", shape=shape)
        return _c.rnnlab_task_count_wrong(h, ya, T, B, c, None, ea)


class Dataset(U.OwnedHandle):
    """Sequential images loaded into memory by the C library (IDX: MNIST / Fashion-MNIST; CIFAR-10
    binary batches).

    Args:
        images, labels: IDX files (plain or gzip) for format "idx".
        cifar_paths: list of CIFAR-10 batch files for format "cifar10".
        format: "idx" (default when images is given) or "cifar10".
        num_classes: labels lie in [0, num_classes).
        mode: "pixels" (one step per pixel, T = H*W) or "rows" (one step per row).
        grayscale: CIFAR only, one luma channel.
        normalize, mean, std: (v / 255 - mean[c]) / std[c] per channel.
        permute, permutation_seed: a fixed pixel permutation (psMNIST), pixels mode only.
        limit: load only the first ``limit`` examples (0 = all).

    Attributes: count, steps (T), input_size (I), num_classes, height, width, channels.
    Any number of threads may read batches from one Dataset at once.
    """

    _destroy = "rnnlab_dataset_destroy"
    _what = "data set"

    def __init__(self, images=None, labels=None, *, cifar_paths=None, format=None, num_classes=10, mode="pixels",
                 grayscale=False, normalize=False, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), permute=False,
                 permutation_seed=0, limit=0):
        self._h = None
        cfg = _c.rnnlab_dataset_config()
        if format is None:
            format = "cifar10" if cifar_paths is not None else "idx"
        cfg.format = U.enum_value(format, U.DATASET_FORMATS, "format")
        cfg.num_classes = _int(num_classes, "num_classes")
        cfg.grayscale = 1 if grayscale else 0
        cfg.mode = U.enum_value(mode, U.DATASET_MODES, "mode")
        cfg.normalize = 1 if normalize else 0
        cfg.mean = [float(v) for v in mean]
        cfg.std = [float(v) for v in std]
        cfg.permute = 1 if permute else 0
        cfg.permutation_seed = _int(permutation_seed, "permutation_seed")
        cfg.limit = _int(limit, "limit")
        img = None if images is None else os.fsdecode(os.fspath(images))
        lab = None if labels is None else os.fsdecode(os.fspath(labels))
        paths = None if cifar_paths is None else [os.fsdecode(os.fspath(p)) for p in cifar_paths]
        self._h = _c.pyrl_dataset_create(cfg, img, lab, paths)
        info = _c.rnnlab_dataset_info()
        _c.rnnlab_dataset_get_info(info, self._h)
        self.count, self.steps, self.input_size = info.count, info.steps, info.input_size
        self.num_classes, self.height, self.width, self.channels = info.num_classes, info.height, info.width, info.channels

    def __len__(self):
        return self.count

    def batch(self, indices):
        """The examples ``indices`` (B,) as (x (T, B, I) float32, labels (B,) int32)."""
        h = self.handle
        idx = U.int_input(indices, "indices", ndim=1)
        B = idx.shape[0]
        if B < 1:
            raise ValueError("argument 'indices': expected at least one index")
        x = np.empty((self.steps, B, self.input_size), dtype=np.float32)
        labels = np.empty(B, dtype=np.int32)
        _c.rnnlab_dataset_batch(x, labels, h, idx)
        return x, labels

    def batches(self, batch_size, *, shuffle=True, seed=0, drop_last=False):
        """Yields (x, labels) batches over the whole set once (an epoch), in an order shuffled by
        numpy's default_rng(seed) when shuffle is True."""
        batch_size = _int(batch_size, "batch_size")
        if batch_size < 1:
            raise ValueError(f"argument 'batch_size': expected >= 1, got {batch_size}")
        order = np.random.default_rng(seed).permutation(self.count) if shuffle else np.arange(self.count)
        for start in range(0, self.count, batch_size):
            idx = order[start:start + batch_size]
            if drop_last and len(idx) < batch_size:
                break
            yield self.batch(idx)

    def permutation(self):
        """The pixel permutation: step t reads pixel out[t] (identity without permute)."""
        out = np.empty(self.height * self.width, dtype=np.int32)
        _c.rnnlab_dataset_permutation(out, self.handle)
        return out


def fashion_mnist(directory="/usr/share/datasets/fashion-mnist", train=True, **kwargs):
    """Fashion-MNIST from its four IDX files in ``directory`` (Debian's dataset-fashion-mnist puts
    them in /usr/share/datasets/fashion-mnist). Keywords as Dataset's (mode, limit, normalize...)."""
    stem = "train" if train else "t10k"
    d = os.fspath(directory)
    return Dataset(os.path.join(d, f"{stem}-images-idx3-ubyte.gz"), os.path.join(d, f"{stem}-labels-idx1-ubyte.gz"),
                   **kwargs)
