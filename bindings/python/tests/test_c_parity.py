"""The same model driven from C (py_c_reference, built by CMake) and from Python gives bit-identical
numbers: the binding adds no arithmetic of its own."""
import os
import subprocess

import numpy as np
import pytest

import rnnlab


def test_bit_identical_to_the_c_api(tmp_path):
    exe = os.environ.get("RNNLAB_PY_CREF")
    if not exe:
        pytest.skip("RNNLAB_PY_CREF (the py_c_reference program) is not set: run through CTest")
    out = tmp_path / "c.npz"
    subprocess.run([exe, str(out)], check=True)
    ref = np.load(out)
    x, classes = ref["x"], ref["classes"]
    T, B, I = x.shape
    with rnnlab.Model(input_size=I, hidden_size=16, head="every_softmax", output_size=4, frozen_biases={"z": 0.5},
                      seed=11, diag_level="full") as m:
        y1 = m.forward(x)
        loss = m.backward(classes)
        d = m.diagnostics()
        grad_time, zmean = m.trace("grad_time"), m.trace("gate_z_mean_time")
        grads, dx = m.grads(), m.input_grad()
        m.set_optimizer("adam", lr=0.01, clip="rescale", cutoff=0.5)
        m.update()
        params = m.params()
        y2 = m.forward(x)

    def same(a, b):  # bit for bit (NaN included)
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()

    assert same(y1, ref["y1"])
    assert same(np.float64(loss), ref["loss"]) and same(np.float64(d.grad_norm), ref["grad_norm"])
    assert same(np.float64(d.omega), ref["omega"])
    assert same(grad_time, ref["grad_time"]) and same(zmean, ref["gate_z_mean_time"])
    assert same(grads, ref["grads"]) and same(dx, ref["dx"])
    assert same(params, ref["params"]) and same(y2, ref["y2"])
