"""rnnlab-train images / ablation (seed 000's experiment) and tools/rnnlab_plot.py.

A short ablation on a tiny Fashion-MNIST subset runs end to end and writes the documented keys; the
plot tool turns it (and a CS728-style file) into PNGs; the CIFAR-10 reader path runs on files in that
format written here; a missing or damaged data set and bad flags fail with one line and no npz.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

FASHION = "/usr/share/datasets/fashion-mnist"
PLOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "rnnlab_plot.py")

# Per-epoch arrays (row 0 = at initialisation), per-update arrays and per-step traces of one model.
EPOCH_KEYS = ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "grad_norm_mean", "grad_norm_max",
              "grad_norm_post_clip_mean", "clip_frac", "guard_count", "nonfinite", "z_mean", "z_preact", "r_mean",
              "z_sat_frac", "diag_loss", "diag_grad_norm", "W_hz_norm", "W_hr_norm", "W_hn_norm", "b_z_mean",
              "b_r_mean", "rho_Whn", "rho_Whz", "train_seconds", "eval_seconds")
STEP_KEYS = ("step_loss", "step_grad_norm", "step_grad_norm_post_clip", "step_lr")
TRACES = ("grad_time", "sat_time", "act_time", "cand_act_time", "gate_z_sat_time", "gate_r_sat_time",
          "gate_z_mean_time", "gate_r_mean_time", "gate_z_preact_time", "sat_frac_time", "gate_z_sat_frac_time",
          "gate_r_sat_frac_time", "transfer_time")
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "head.weight", "head.bias")
SCALARS = ("rnnlab_images_format", "hidden_size", "input_size", "steps", "num_classes", "train_count", "test_count",
           "epochs", "batch_size", "updates_per_epoch", "diag_batch", "seed", "lr_max", "lr_min", "weight_decay", "clip")

SMALL = ["--train-limit", "256", "--test-limit", "128", "--hidden", "8", "--epochs", "1", "--mode", "rows",
         "--threads", "1", "--batch", "64"]

needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION), reason=FASHION + " missing (dataset-fashion-mnist)")


def no_npz(path):
    found = [os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs if f.endswith(".npz")]
    return not found


def one_line_error(run):
    lines = [l for l in run.err.splitlines() if l.strip()]
    assert len(lines) == 1, run.err
    assert lines[0].startswith("rnnlab-train "), lines[0]
    return lines[0]


def check_model_keys(z, p, epochs, updates, T, H):
    for k in EPOCH_KEYS:
        assert z[p + k].shape == (epochs + 1,), (p + k, z[p + k].shape)
        assert z[p + k].dtype == np.float64
    for k in STEP_KEYS:
        assert z[p + k].shape == (updates,), (p + k, z[p + k].shape)
    for k in TRACES:
        assert z[p + k].shape == (epochs + 1, T), (p + k, z[p + k].shape)
        assert z[p + k].dtype == np.float32
    for k in PARAMS:
        assert z[p + k].dtype == np.float32
    assert z[p + "weight_hh"].shape == (3 * H, H)
    assert z[p + "head.weight"].shape == (10, H)
    # Training-side values do not exist before the first epoch; everything else is measured at init.
    assert np.isnan(z[p + "train_loss"][0]) and np.isfinite(z[p + "train_loss"][1:]).all()
    for k in ("test_acc", "z_mean", "z_preact", "W_hz_norm", "diag_loss"):
        assert np.isfinite(z[p + k]).all(), p + k
    assert np.isfinite(z[p + "grad_time"]).all()
    assert np.isfinite(z[p + "step_loss"]).all()


@needs_fashion
def test_ablation_end_to_end(run, tmp_path):
    out = tmp_path / "out"
    r = run(["ablation"] + SMALL + ["--out", str(out), "--name", "abl"])
    assert r.rc == 0, r.err
    # The configuration states what the paper leaves open.
    assert "seed 000 gives none" in r.out  # batch size
    assert "PyTorch's AdamW default" in r.out  # weight decay
    assert "CosineAnnealingLR(T_max=1)" in r.out
    # The side-by-side table: a header with both models, then rows for epoch 0 (init) and 1.
    assert "train loss" in r.out and "||W_hz||" in r.out and "base" in r.out and "abl" in r.out
    rows = [l for l in r.out.splitlines() if l.strip().split(" ")[0] in ("0", "1") and "|" in l]
    assert len(rows) == 2, r.out

    z = np.load(out / "abl.npz")
    for k in SCALARS:
        assert z[k].shape == (), k
    T, H, E, U = int(z["steps"]), int(z["hidden_size"]), int(z["epochs"]), int(z["updates_per_epoch"])
    assert (T, H, E, U) == (28, 8, 1, 4)
    assert int(z["input_size"]) == 28 and int(z["train_count"]) == 256 and int(z["test_count"]) == 128
    assert list(z["epoch"]) == [0, 1]
    for p in ("baseline_", "ablated_"):
        check_model_keys(z, p, E, E * U, T, H)

    # Same seed, same initial weights: only the biases differ.
    assert z["baseline_W_hz_norm"][0] == z["ablated_W_hz_norm"][0]
    assert z["baseline_W_hn_norm"][0] == z["ablated_W_hn_norm"][0]
    # Baseline: effective b_z, b_r start at +1.0 and are trainable; ablated: held at 0 throughout.
    assert abs(z["baseline_b_z_mean"][0] - 1.0) < 1e-6 and abs(z["baseline_b_r_mean"][0] - 1.0) < 1e-6
    assert z["baseline_b_z_mean"][1] != z["baseline_b_z_mean"][0]
    assert int(z["ablated_frozen_bias_mask"]) == 3 and int(z["baseline_frozen_bias_mask"]) == 0
    for key in ("ablated_bias_ih", "ablated_bias_hh"):
        assert (z[key][: 2 * H] == 0).all(), key  # gate order r, z, n
    assert z["ablated_b_z_mean"][1] == 0.0
    assert int(z["ablated_trainable_params"]) == int(z["baseline_trainable_params"]) - 4 * H
    # The diagnostic the ablation is about: E[z] starts higher with b_z = +1 than with b_z = 0.
    assert z["baseline_z_mean"][0] > z["ablated_z_mean"][0] + 0.1
    # Cosine over 1 epoch: that epoch runs at the full rate.
    assert z["baseline_lr"][1] == pytest.approx(5e-4)
    assert (z["baseline_step_grad_norm_post_clip"] <= 1.0 + 1e-5).all()

    # The plot tool turns it into PNGs and prints their paths.
    plots = tmp_path / "plots"
    p = subprocess.run([sys.executable, PLOT, str(out / "abl.npz"), "--out", str(plots)], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, MPLBACKEND="Agg"))
    assert p.returncode == 0, p.stderr
    written = p.stdout.split()
    assert {os.path.basename(w) for w in written} >= {"abl_curves.png", "abl_steps.png", "abl_grad_time.png",
                                                       "abl_z_time.png"}
    for w in written:
        with open(w, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@needs_fashion
def test_images_single_model_frozen_z(run, tmp_path):
    r = run(["images"] + SMALL + ["--freeze-bias", "z=0.5", "--bias-init", "r=1.0", "--out", str(tmp_path),
                                  "--name", "one", "--diag-batch", "32"])
    assert r.rc == 0, r.err
    z = np.load(tmp_path / "one.npz")
    check_model_keys(z, "", 1, 4, 28, 8)
    assert "baseline_test_acc" not in z.files
    H = 8
    assert (z["bias_ih"][H:2 * H] == np.float32(0.5)).all() and (z["bias_hh"][H:2 * H] == 0).all()
    assert z["b_z_mean"][0] == pytest.approx(0.5) and z["b_z_mean"][1] == pytest.approx(0.5)
    assert z["b_r_mean"][0] == pytest.approx(1.0)
    assert int(z["diag_batch"]) == 32


def write_cifar(path, n, seed):
    rng = np.random.default_rng(seed)
    rec = np.zeros((n, 3073), np.uint8)
    rec[:, 0] = rng.integers(0, 10, n)
    rec[:, 1:] = rng.integers(0, 256, (n, 3072))
    rec.tofile(path)


def test_cifar10_format(run, tmp_path):
    data = tmp_path / "cifar-10-batches-bin"
    data.mkdir()
    for i in range(1, 6):
        write_cifar(data / f"data_batch_{i}.bin", 12, i)
    write_cifar(data / "test_batch.bin", 10, 9)
    r = run(["images", "--dataset", "cifar10", "--data-dir", str(data), "--mode", "rows", "--hidden", "4",
             "--epochs", "2", "--batch", "16", "--threads", "1", "--out", str(tmp_path), "--name", "c"])
    assert r.rc == 0, r.err
    z = np.load(tmp_path / "c.npz")
    # Grayscale rows: 32 steps of 32 inputs; all five training batches loaded as one set.
    assert (int(z["steps"]), int(z["input_size"]), int(z["train_count"]), int(z["test_count"])) == (32, 32, 60, 10)
    assert z["step_loss"].shape == (2 * 4,)
    # The seed000 preset takes the CIFAR path; without the files it fails in one line.
    r = run(["ablation", "--preset", "seed000", "--data-dir", str(tmp_path / "nowhere")])
    assert r.rc == 1 and "missing data directory" in one_line_error(r)


def test_missing_data_dir(run, tmp_path):
    r = run(["ablation", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert r.rc == 1
    assert "missing data directory" in one_line_error(r)
    assert no_npz(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run(["images", "--data-dir", str(empty), "--out", str(tmp_path)])
    assert r.rc == 1
    assert "train-images-idx3-ubyte" in one_line_error(r)
    assert no_npz(tmp_path)


@needs_fashion
def test_damaged_data_file(run, tmp_path):
    data = tmp_path / "fm"
    data.mkdir()
    for f in os.listdir(FASHION):
        shutil.copy(os.path.join(FASHION, f), data / f)
    # A test-image file cut short: a gzip stream that ends early.
    name = "t10k-images-idx3-ubyte.gz"
    blob = (data / name).read_bytes()
    (data / name).write_bytes(blob[:200])
    r = run(["ablation", "--data-dir", str(data), "--out", str(tmp_path)] + SMALL)
    assert r.rc == 1
    assert name in one_line_error(r)
    assert no_npz(tmp_path)


@pytest.mark.parametrize("args,needle", [
    (["--bogus", "1"], "unknown flag --bogus"),
    (["--hidden", "abc"], "bad value 'abc' for --hidden"),
    (["--mode", "columns"], "bad value 'columns' for --mode"),
    (["--freeze-bias", "q"], "bad gate 'q'"),
    (["--preset", "huge"], "unknown --preset"),
    (["--lr", "1e-4", "--lr-min", "1e-3"], "--lr-min"),
    (["--epochs"], "--epochs needs a value"),
])
def test_bad_flags(run, tmp_path, args, needle):
    r = run(["ablation"] + args + ["--out", str(tmp_path)])
    assert r.rc == 2
    assert needle in one_line_error(r)
    assert no_npz(tmp_path)


def test_plot_tool_cs728_file(tmp_path):
    # A CS728-style file whose run stopped early: the last rows are NaN / -1, so the handout's
    # grad_time[-1] would plot nothing; the tool must use the last filled row.
    S, D = 5, 30
    grad = np.full((S, D), np.nan, np.float32)
    sat = np.full((S, D), np.nan, np.float32)
    grad[:3, :20] = np.logspace(-8, -1, 20)
    sat[:3, :20] = np.linspace(0.1, 0.9, 20)
    valid = np.array([80, 50, 0, -1, -1], np.float32)
    f = tmp_path / "run_final_state.npz"
    np.savez(f, grad_time=grad, sat_time=sat, gate_z_sat_time=sat, gate_r_sat_time=np.full((S, D), np.nan, np.float32),
             valid_error=valid, rho_Whh=np.array([0.9, 1.0, 1.1, -1, -1], np.float32), checkFreq=np.int64(20),
             train_nll=np.where(np.arange(100) < 60, 1.0, -1.0).astype(np.float32))
    p = subprocess.run([sys.executable, PLOT, str(f)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MPLBACKEND="Agg"))
    assert p.returncode == 0, p.stderr
    names = {os.path.basename(w) for w in p.stdout.split()}
    assert names == {"run_final_state_grad_hist.png", "run_final_state_grad_time.png", "run_final_state_saturation.png",
                     "run_final_state_valid_error.png", "run_final_state_rho.png", "run_final_state_train_nll.png"}
    for w in p.stdout.split():
        assert os.path.dirname(w) == str(tmp_path)
        assert os.path.getsize(w) > 1000


def test_plot_tool_bad_file(tmp_path):
    f = tmp_path / "nope.npz"
    f.write_bytes(b"not a zip")
    p = subprocess.run([sys.executable, PLOT, str(f)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "cannot read" in p.stderr


@needs_fashion
def test_ablation_side_by_side_matches_taking_turns(run, tmp_path):
    # --threads 2 trains the two models on their own threads, one backend thread each; --threads 1
    # makes them take turns on one thread. Same arithmetic, so the same numbers, bit for bit.
    common = ["ablation", "--train-limit", "192", "--test-limit", "64", "--hidden", "8", "--epochs", "2",
              "--mode", "rows", "--batch", "64", "--out", str(tmp_path)]
    a = run(common + ["--threads", "2", "--name", "side"])
    b = run(common + ["--threads", "1", "--name", "turns"])
    assert a.rc == 0 and b.rc == 0, a.err + b.err
    assert "side by side" in a.out and "take turns" in b.out
    za, zb = np.load(tmp_path / "side.npz"), np.load(tmp_path / "turns.npz")
    for k in ("baseline_step_loss", "ablated_step_loss", "baseline_weight_hh", "ablated_weight_hh", "ablated_grad_time"):
        assert np.array_equal(za[k], zb[k], equal_nan=True), k
