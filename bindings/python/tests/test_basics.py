"""Round trips of every tensor, diagnostics and traces, optimiser, files, tasks and data sets."""
import os

import numpy as np
import pytest

import rnnlab
from helpers import batch, gru


def test_config_keywords_round_trip():
    m = rnnlab.Model(input_size=2, hidden_size=5, cell="gru_reset_before", head="last_linear", output_size=3,
                     backend="reference", bias_mode="single", frozen_biases={"z": 0.25}, init="basic_tanh",
                     seed=9, threads=1, diag_level="summary", sat_thresh=0.1, bound=1e-10, max_batch=7,
                     max_tape=50, denormals="keep", cpu_isa="baseline")
    c = m.config
    assert c["cell"] == "gru_reset_before" and c["head"] == "last_linear" and c["output_size"] == 3
    assert c["backend"] == "reference" and c["bias_mode"] == "single" and c["init"] == "basic_tanh"
    assert c["frozen_bias_mask"] == rnnlab.capi.RNNLAB_GATE_Z and c["frozen_bias_value"][1] == 0.25
    assert c["diag_level"] == "summary" and c["max_batch"] == 7 and c["max_tape"] == 50 and c["seed"] == 9
    assert c["denormals"] == "keep"
    assert c["sat_thresh"] == pytest.approx(0.1) and c["bound"] == 1e-10
    m.close()
    # C field names work as well as the shorthands
    m2 = rnnlab.Model(input_size=2, hidden_size=5, frozen_bias_mask="rz", frozen_bias_value=(0.0, 1.0, 0.0),
                      bias_init="constant", bias_init_mask="n", bias_init_value=(0, 0, 0.5))
    c2 = m2.config
    assert c2["frozen_bias_mask"] == 3 and c2["bias_init"] == "constant" and c2["bias_init_mask"] == 4
    assert c2["cpu_isa"] in ("baseline", "avx2", "avx512")  # AUTO resolves to the level in use
    m2.close()


def test_every_tensor_round_trips(rng):
    with gru() as m:
        infos = m.tensor_infos()
        assert [t.name for t in infos] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "head.weight", "head.bias"]
        assert infos[0].shape == (24, 3) and infos[2].shape == (24,) and infos[4].shape == (4, 8)
        for t in infos:
            v = rng.standard_normal(t.shape).astype(np.float32)
            m.set_tensor(t.name, v)
            assert np.array_equal(m.get_tensor(t.name), v)
        total, trainable = m.param_count()
        assert total == sum(t.count for t in infos) and trainable == total
        flat = rng.standard_normal(total).astype(np.float32)
        m.set_params(flat)
        assert np.array_equal(m.params(), flat)
        sd = m.state_dict()
        assert list(sd) == [t.name for t in infos]
        assert np.array_equal(np.concatenate([a.reshape(-1) for a in sd.values()]), flat)
        # torch-style names with prefix and _l0, and a separate head module
        sd2 = m.state_dict(prefix="rnn.", head_prefix="fc.", l0=True)
        assert list(sd2) == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", "fc.weight", "fc.bias"]
        m.set_params(np.zeros(total, np.float32))
        m.load_state_dict(sd2)
        assert np.array_equal(m.params(), flat)
        m.set_params(np.zeros(total, np.float32))
        m.load_state_dict({("model." + k): v for k, v in sd2.items()} | {"other.thing": np.zeros(3)}, prefix="model.",
                          strict=False)
        assert np.array_equal(m.params(), flat)
        # h0 and the hidden state
        h0 = rng.standard_normal((4, 8)).astype(np.float32)
        m.set_h0(h0)
        x, c = batch(rng, T=1)
        m.forward(x, h0=h0)
        assert m.hidden().shape == (4, 8)
        m.backward(c)
        assert m.h0_grad().shape == (4, 8) and m.input_grad().shape == (1, 4, 3)
        # gradients by tensor and flat
        g = m.grads()
        for t in infos:
            assert np.array_equal(m.get_grad(t.name), g[t.offset:t.offset + t.count].reshape(t.shape))
        assert m.trainable_mask().sum() == trainable


def test_frozen_biases_are_held_and_reported():
    with gru(frozen_biases={"z": 1.0}) as m:
        mask = m.trainable_mask()
        total, trainable = m.param_count()
        assert mask.sum() == trainable < total
        b = m.get_tensor("bias_ih")
        assert np.all(b[8:16] == 1.0)
        b2 = b.copy()
        b2[8] = 0.0
        with pytest.raises(rnnlab.FrozenError) as e:
            m.set_tensor("bias_ih", b2)
        assert isinstance(e.value, ValueError) and e.value.status == rnnlab.capi.RNNLAB_E_FROZEN


def test_diagnostics_traces_summary_spectral_jacobian(rng):
    with gru() as m:
        x, c = batch(rng)
        y = m.forward(x)
        assert y.shape == (6, 4, 4) and y.dtype == np.float32
        J = m.jacobian(t=3, b=1)
        assert J.shape == (8, 8) and np.isfinite(J).all()
        loss = m.backward(c)
        d = m.diagnostics()
        assert d.loss == loss and d.steps == 6 and d.batch == 4 and d.level == "full"
        assert d.grad_norm > 0 and d.nonfinite == 0 and d.nonfinite_first_t == -1 and np.isfinite(d.omega)
        tr = m.traces()
        assert set(tr) == set(rnnlab.Model.trace_names())  # a GRU has every trace
        for name, v in tr.items():
            assert v.shape == (6,) and v.dtype == np.float64, name
        assert np.array_equal(tr["grad_time"], m.trace("grad_time"))
        blocks = m.grad_norm_blocks()
        assert "weight_hh.z" in blocks and blocks["head.weight"] > 0
        s = m.summary("gate_z_mean_time", bins=5)
        assert s.count == 6 and s.hist.sum() == 6 and len(s.edges) == 6
        assert s.min <= s.p50 <= s.max
        s2 = rnnlab.summarize(tr["gate_z_mean_time"], bins=5)
        assert s2.mean == pytest.approx(np.mean(tr["gate_z_mean_time"]))
        for block in ("W_hn", "W_hz", "W_hr"):
            rho, smax = m.spectral(block)
            assert 0 < rho <= smax + 1e-9
    with gru(cell="rnn_tanh") as r:
        assert not r.has_trace("gate_z_mean_time")
        r.forward(batch(rng)[0])
        r.backward(batch(rng)[1])
        assert "gate_z_mean_time" not in r.traces()
        with pytest.raises(rnnlab.NotFoundError) as e:
            r.trace("gate_z_mean_time")
        assert isinstance(e.value, KeyError) and "gate_z_mean_time" in str(e.value) or "trace" in str(e.value)
        with pytest.raises(rnnlab.NotFoundError):
            r.spectral("W_hz")
    with gru(diag_level="off") as m:
        m.forward(batch(rng)[0])
        m.backward(batch(rng)[1])
        with pytest.raises(rnnlab.UnavailableError) as e:
            m.trace("grad_time")
        assert isinstance(e.value, RuntimeError)
        m.set_diag_level("full")
        m.forward(batch(rng)[0])
        m.backward(batch(rng)[1])
        assert m.trace("grad_time").shape == (6,)


def test_loss_and_eval_mode(rng):
    with gru(head="last_softmax") as m:
        x, _ = batch(rng)
        labels = rng.integers(0, 4, size=4)
        m.eval()
        y = m.forward(x)
        loss, wrong = m.loss(labels, count_wrong=True)
        assert 0 <= wrong <= 4 and loss > 0
        assert wrong == int(np.sum(np.argmax(y[-1], axis=1) != labels))
        with pytest.raises(rnnlab.StateError):
            m.backward(labels)  # eval mode records nothing
        m.train()
        m.forward(x)
        assert m.backward(labels) == pytest.approx(loss, rel=1e-6)


def test_truncated_bptt_carries_state(rng):
    with gru() as m:
        x, c = batch(rng, T=8)
        full = m.forward(x)
        m.backward(c)
        m.zero_grad()
        a = m.forward(x[:4])
        b = m.forward(x[4:], reset=False)
        # the same values up to the rounding of a GEMM over 4 steps instead of 8
        assert np.allclose(np.concatenate([a, b]), full, rtol=1e-5, atol=1e-6)
        m.backward(c)  # the tape holds all 8 steps
        assert m.diagnostics().steps == 8


def test_optimizer_sgd_step_and_state(rng):
    with gru() as m:
        m.set_optimizer("sgd", lr=0.1)
        p0 = m.params()
        x, c = batch(rng)
        m.forward(x)
        m.backward(c)
        g = m.grads()
        m.update()
        assert np.allclose(m.params(), p0 - np.float32(0.1) * g, rtol=0, atol=1e-7)
        assert not m.grads().any()
        st = m.optimizer_state()
        assert st["step"] == 1 and st["last_lr"] == pytest.approx(0.1)
        m.set_optimizer("adamw", lr=5e-4, weight_decay=0.01, clip=1.0, schedule="cosine", schedule_steps=10,
                        schedule_period=0)
        o = m.optimizer()
        assert o["kind"] == "adamw" and o["clip"] == "rescale" and o["cutoff"] == 1.0 and o["schedule"] == "cosine"
        lr0 = m.optimizer_state()["lr"]
        m.schedule_step()
        assert m.optimizer_state()["lr"] < lr0
        m.forward(x)
        m.backward(c)
        m.update()
        assert m.diagnostics().grad_norm_post_clip <= 1.0 + 1e-6
        m.reset_optimizer()
        assert m.optimizer_state()["step"] == 0
    with gru() as m:
        with pytest.raises(rnnlab.StateError):
            m.update()  # no optimiser set


def test_checkpoint_round_trip(tmp_path, rng):
    p = tmp_path / "run.ckpt"
    with gru() as m:
        m.set_optimizer("adam", lr=0.01)
        x, c = batch(rng)
        m.forward(x)
        m.backward(c)
        m.update()
        m.save(p, user=b"epoch=3")
        params = m.params()
        state = m.optimizer_state()
    with gru(seed=99) as m2:
        assert not np.array_equal(m2.params(), params)
        user = m2.load(p, with_user=True)
        assert user == b"epoch=3"
        assert np.array_equal(m2.params(), params) and m2.optimizer_state() == state
    m3 = rnnlab.Model.load(p)   # the configuration comes from the checkpoint
    assert np.array_equal(m3.params(), params) and m3.optimizer_state() == state
    assert m3.config["head"] == "every_softmax" and m3.config["diag_level"] == "full" and m3.config["seed"] == 3
    m3.close()
    m4, user = rnnlab.Model.load(p, backend="reference", diag_level="off", with_user=True)
    assert m4.config["backend"] == "reference" and m4.config["diag_level"] == "off" and user == b"epoch=3"
    assert np.array_equal(m4.params(), params)
    m4.close()
    with pytest.raises(rnnlab.FileIOError):
        rnnlab.Model.load(tmp_path / "missing.ckpt")
    with gru(hidden_size=9) as other:
        before = other.params()
        with pytest.raises(rnnlab.FileFormatError) as e:
            other.load(p)
        assert isinstance(e.value, OSError)
        assert np.array_equal(other.params(), before)
    with gru() as m4:
        with pytest.raises(rnnlab.FileIOError):
            m4.load(tmp_path / "missing.ckpt")
        (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint at all, no" * 4)
        with pytest.raises(rnnlab.CorruptFileError):
            m4.load(tmp_path / "junk.ckpt")


def test_npz_export_import_and_writer(tmp_path, rng):
    if not rnnlab.has_feature("npz"):
        pytest.skip("built without libzip (.npz)")
    with gru() as m:
        m.export_npz(tmp_path / "p.npz", cell_prefix="rnn.", head_prefix="fc.", l0=True)
        z = np.load(tmp_path / "p.npz")
        sd = m.state_dict(prefix="rnn.", head_prefix="fc.", l0=True)
        assert sorted(z.files) == sorted(sd)
        for k in sd:
            assert z[k].dtype == np.float32 and np.array_equal(z[k], sd[k])
        m.export_npz(tmp_path / "p64.npz", float64=True)
        assert np.load(tmp_path / "p64.npz")["weight_hh"].dtype == np.float64
        params = m.params()
    with gru(seed=5) as m2:
        m2.import_npz(tmp_path / "p.npz")
        assert np.array_equal(m2.params(), params)
        with rnnlab.NpzWriter() as w:
            w.add("grad_time", np.arange(5, dtype=np.float64))
            w.add("labels", np.arange(6, dtype=np.int32).reshape(2, 3))
            w.add("count", np.int64(7))
            w.add("f", np.ones((2, 2), np.float32))
            w.add_params(m2, prefix="model.")
            assert len(w) == 10 and "labels" in w and "nope" not in w
            with pytest.raises(TypeError):
                w.add("bad", np.ones(3, np.float16))
            with pytest.raises(rnnlab.InvalidArgumentError):
                w.add("labels", np.zeros(1, np.int32))  # duplicate key
            w.save(tmp_path / "log.npz")
        z = np.load(tmp_path / "log.npz")
        assert z["labels"].dtype == np.int32 and z["labels"].shape == (2, 3) and z["count"].shape == ()
        assert int(z["count"]) == 7 and np.array_equal(z["model.weight_ih"], m2.get_tensor("weight_ih"))


def test_tasks_batches():
    t = rnnlab.Task("mem", min_length=10, max_length=20, memvalues=5, mempos=3, seed=1)
    assert t.head == "every_softmax" and t.input_size == 7 and t.output_size == 6
    x, c = t.draw(16)
    T = x.shape[0]
    assert x.shape == (T, 16, 7) and c.shape == (T, 16) and c.dtype == np.int32
    assert t.min_steps <= T <= t.max_steps
    assert np.all(x.sum(axis=2) == 1.0)  # one-hot rows
    t.reseed(1)
    x2, c2 = t.draw(16)
    assert np.array_equal(x, x2) and np.array_equal(c, c2)
    n = 0
    for xb, cb in t.batches(4, n=3, length=12):
        assert xb.shape[1] == 4 and xb.shape[0] == 12 + 2 * 3
        n += 1
    assert n == 3
    # the count of wrong sequences, by the task's rule, against a perfect and a wrong prediction
    y = np.zeros((T, 16, 6), np.float32)
    y[np.arange(T)[:, None], np.arange(16)[None, :], c] = 5.0
    assert t.count_wrong(y, c) == 0
    y[0, 3, :] = 0
    y[0, 3, (c[0, 3] + 1) % 6] = 5.0
    assert t.count_wrong(y, c) == 1
    a = rnnlab.Task("add", min_length=20, max_length=30, seed=2)
    xa, va = a.draw(5)
    assert a.head == "last_linear" and va.shape == (5, 1) and va.dtype == np.float32 and xa.shape[2] == 2
    for kind, head in (("torder", "last_softmax"), ("perm", "last_softmax"), ("mul", "last_linear")):
        k = rnnlab.Task(kind, min_length=10, max_length=12)
        xk, tk = k.draw(3)
        assert k.head == head and xk.shape[1:] == (3, k.input_size)
    with pytest.raises(rnnlab.NotFoundError):
        rnnlab.Task("nope")
    # a task drives a model directly
    with rnnlab.Model(t.input_size, 16, head=t.head, output_size=t.output_size) as m:
        m.forward(x)
        assert np.isfinite(m.backward(c))


def test_dataset_batches():
    d = os.environ.get("RNNLAB_FASHION_DIR", "/usr/share/datasets/fashion-mnist")
    if not os.path.exists(os.path.join(d, "t10k-images-idx3-ubyte.gz")):
        pytest.skip(f"Fashion-MNIST not found in {d} (Debian package dataset-fashion-mnist)")
    ds = rnnlab.fashion_mnist(d, train=False, limit=50, mode="rows")
    assert len(ds) == 50 and ds.steps == 28 and ds.input_size == 28 and ds.num_classes == 10
    x, y = ds.batch([0, 1, 49])
    assert x.shape == (28, 3, 28) and y.shape == (3,) and 0 <= y.min() and y.max() < 10
    assert 0.0 <= x.min() and x.max() <= 1.0
    seen = 0
    for xb, yb in ds.batches(16, shuffle=True, seed=0):
        seen += len(yb)
    assert seen == 50
    with pytest.raises(rnnlab.InvalidArgumentError):
        ds.batch([50])
    p = rnnlab.fashion_mnist(d, train=False, limit=10, permute=True, permutation_seed=3)
    perm = p.permutation()
    assert p.steps == 784 and sorted(perm) == list(range(784))
    with pytest.raises(rnnlab.FileIOError):
        rnnlab.Dataset("/nonexistent/images", "/nonexistent/labels")


def test_module_functions():
    assert rnnlab.version() == rnnlab.__version__
    assert rnnlab.backend_available("reference")
    assert rnnlab.cpu_isa_best() in ("baseline", "avx2", "avx512")
    assert isinstance(rnnlab.has_feature("lapack"), bool)
    for obj in (rnnlab.Model, rnnlab.Task, rnnlab.Dataset, rnnlab.NpzWriter):
        for name, f in vars(obj).items():
            if callable(f) and not name.startswith("_"):
                assert f.__doc__, f"{obj.__name__}.{name} has no docstring"


def test_cifar_batches_from_files(tmp_path):
    """CIFAR-10 binary records (1 label byte + R, G, B planes of 32 x 32) through the list-of-paths
    argument, colour and grayscale."""
    rng = np.random.default_rng(0)
    paths = []
    for k in range(2):
        recs = bytearray()
        for label in (k, 9 - k):
            recs.append(label)
            recs += rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
        p = tmp_path / f"data_batch_{k}.bin"
        p.write_bytes(bytes(recs))
        paths.append(p)
    ds = rnnlab.Dataset(cifar_paths=paths, mode="rows")
    assert (len(ds), ds.steps, ds.input_size, ds.channels) == (4, 32, 96, 3)
    x, y = ds.batch([0, 3])
    assert x.shape == (32, 2, 96) and list(y) == [0, 8]
    raw = np.frombuffer(paths[0].read_bytes()[1:3073], np.uint8).reshape(3, 32, 32)
    # row 0 of image 0: 32 pixels, each R, G, B
    assert np.allclose(x[0, 0], raw[:, 0, :].T.reshape(-1) / 255.0, atol=1e-7)
    g = rnnlab.Dataset(cifar_paths=[str(p) for p in paths], grayscale=True)
    assert (g.steps, g.input_size) == (1024, 1)
    with pytest.raises(TypeError):
        rnnlab.Dataset(cifar_paths=[1, 2])
    with pytest.raises(rnnlab.FileIOError):
        rnnlab.Dataset(cifar_paths=[tmp_path / "missing.bin"])
