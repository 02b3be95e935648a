"""Helpers of the binding's tests."""
import numpy as np

import rnnlab


def gru(**kw):
    """A small GRU with an every-step softmax head and full diagnostics."""
    args = dict(input_size=3, hidden_size=8, head="every_softmax", output_size=4, diag_level="full", seed=3)
    args.update(kw)
    return rnnlab.Model(**args)


def batch(rng, T=6, B=4, I=3, O=4):
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    c = rng.integers(0, O, size=(T, B)).astype(np.int64)
    return x, c


def snapshot(m):
    """Everything a failed call must leave unchanged that the API can read."""
    snap = {"params": m.params(), "grads": m.grads()}
    try:
        snap["hidden"] = m.hidden()
    except rnnlab.Error:
        snap["hidden"] = None
    try:
        snap["diag"] = m.diagnostics()
    except rnnlab.Error:
        snap["diag"] = None
    try:
        snap["opt"] = m.optimizer_state()
    except rnnlab.Error:
        snap["opt"] = None
    return snap


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]), k
        else:
            assert repr(a[k]) == repr(b[k]), k
