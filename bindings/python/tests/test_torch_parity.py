"""Parity with torch.nn.GRU / nn.RNN in float64 on the same weights: outputs, loss, every gradient.

torch's own state_dict is loaded as it is (load_state_dict). The torch side runs in this interpreter
when `import torch` works here, otherwise in another interpreter that has it (RNNLAB_TORCH_PYTHON, or
Debian's /usr/bin/python3 with python3-torch), exchanging arrays through .npz files; when neither
has torch the tests are skipped and say why."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import rnnlab

HERE = os.path.dirname(os.path.abspath(__file__))


def _torch_route():
    try:
        import torch  # noqa: F401
        return "inprocess", None
    except ImportError:
        pass
    cands = [os.environ.get("RNNLAB_TORCH_PYTHON"), "/usr/bin/python3", shutil.which("python3")]
    for py in cands:
        if py and os.path.exists(py) and os.path.realpath(py) != os.path.realpath(sys.executable):
            r = subprocess.run([py, "-c", "import torch, numpy"], capture_output=True)
            if r.returncode == 0:
                return "subprocess", py
    return None, None


ROUTE, TORCH_PY = _torch_route()


CASES = [("gru", "every_softmax", "auto"), ("gru", "every_softmax", "reference"), ("gru", "last_softmax", "auto"),
         ("gru", "last_linear", "auto"), ("rnn_tanh", "every_softmax", "auto"), ("rnn_tanh", "last_softmax", "reference")]


def make_case(cell, head):
    rng = np.random.default_rng(7)
    T, B, I, H, O = 12, 5, 4, 9, 3
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    if head == "every_softmax":
        target = rng.integers(0, O, (T, B)).astype(np.int64)
    elif head == "last_softmax":
        target = rng.integers(0, O, B).astype(np.int64)
    else:
        target = rng.standard_normal((B, O)).astype(np.float32)
    return dict(cell=cell, head=head, x=x, target=target, H=H, O=O, seed=5)


@pytest.fixture(scope="module")
def torch_refs(tmp_path_factory):
    """{(cell, head): (torch state_dict, torch results)} for every case, computed once."""
    keys = sorted({(c, h) for c, h, _ in CASES})
    if ROUTE == "inprocess":
        sys.path.insert(0, HERE)
        try:
            import torch_side
        finally:
            sys.path.remove(HERE)
        return {k: torch_side.run(**make_case(*k)) for k in keys}  # states hold torch tensors
    d = tmp_path_factory.mktemp("torch")
    spec = {"ncases": len(keys)}
    for i, k in enumerate(keys):
        spec.update({f"{i}/{n}": v for n, v in make_case(*k).items()})
    np.savez(d / "spec.npz", **spec)
    subprocess.run([TORCH_PY, os.path.join(HERE, "torch_side.py"), str(d / "spec.npz"), str(d / "out.npz")], check=True)
    z = np.load(d / "out.npz")
    refs = {}
    for i, k in enumerate(keys):
        p = f"{i}/"
        state = {n[len(p) + 3:]: z[n] for n in z.files if n.startswith(p + "sd:")}
        res = {n[len(p):]: z[n] for n in z.files if n.startswith(p) and not n.startswith(p + "sd:")}
        refs[k] = (state, res)
    return refs


@pytest.mark.skipif(ROUTE is None, reason="no interpreter here can `import torch` (install python3-torch, or set "
                                          "RNNLAB_TORCH_PYTHON); parity with torch.nn.GRU not checked")
@pytest.mark.parametrize("cell,head,backend", CASES)
def test_parity_with_torch(torch_refs, cell, head, backend):
    print(f"torch route: {ROUTE} {TORCH_PY or sys.executable}")
    case = make_case(cell, head)
    x, target, H, O = case["x"], case["target"], case["H"], case["O"]
    I = x.shape[2]
    state, ref = torch_refs[(cell, head)]
    with rnnlab.Model(input_size=I, hidden_size=H, cell=cell, head=head, output_size=O, backend=backend) as m:
        m.load_state_dict(state)   # torch's names: rnn.weight_ih_l0, ..., fc.weight, fc.bias
        for k, v in state.items():
            assert np.array_equal(m.get_tensor(k), np.asarray(v)), k
        y = m.forward(x)
        loss = m.backward(target)
        tol = dict(rtol=1e-4, atol=2e-6)
        if head == "every_softmax":
            np.testing.assert_allclose(y, ref["y"], **tol)
        else:
            np.testing.assert_allclose(y[-1], ref["y"][-1], **tol)
        assert loss == pytest.approx(float(ref["loss"]), rel=1e-5)
        np.testing.assert_allclose(m.input_grad(), ref["dx"], rtol=1e-4, atol=1e-6)
        names = [k for k in ref if k.startswith("grad:")]
        assert len(names) == 6
        for k in names:
            np.testing.assert_allclose(m.get_grad(k[5:]), ref[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_torch_like_tensors_are_accepted():
    """Objects with torch's detach().cpu().numpy() protocol go through every array argument."""

    class FakeTensor:
        def __init__(self, a):
            self.a = np.asarray(a)

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    with rnnlab.Model(3, 4, head="last_softmax", output_size=2) as m:
        sd = {k: FakeTensor(v.astype(np.float64)) for k, v in m.state_dict().items()}
        m.load_state_dict(sd)
        y = m.forward(FakeTensor(np.ones((2, 1, 3))))
        assert y.shape == (2, 1, 2)
        assert np.isfinite(m.backward(FakeTensor(np.array([1]))))
