"""The handout's seven command shapes (A1-A5, B1-B2), shortened: the npz holds exactly what tasks.md
requires (keys, dtypes, shapes, -1 / NaN padding, row indexing), the printed lines have tasks.md's
formats and agree with the file, and the handout's plotting snippet runs on the file."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import EXTRA_TRACES, PARAMS, SNIPPET, arg_value, expected_layout, handout_args

NUM = r"-?(?:\d+\.\d+|nan|inf)"
ITER_RE = re.compile(
    r"^Iter (\d{7}): train nll (\S+), valid error (\d{3}\.\d{3})%, best valid error (\d{3}\.\d{3})%, "
    r"avg grad norm +(\S+), avg grad norm \(post clip\) +(\S+), rho_Whh +(\S+), Omega +(\S+), "
    r"alpha +(\d+\.\d{3}), steps in the past (\S+), valid nll (\S+)"
    r"(, valid mae \S+, err@0\.05 \d{3}\.\d{2}%, err@0\.10 \d{3}\.\d{2}%, err@(\d+\.\d{2}) \d{3}\.\d{2}%, maxae \S+)?$")
DIAG_G_RE = re.compile(r"^  \[diag\] log10\|dL/dh_t\| hist bins=(\d+) range=\((%s),(%s)\) mean=(%s) p50=(%s) "
                       r"p05=(%s) p95=(%s)$" % ((NUM,) * 6))
DIAG_S_RE = re.compile(r"^  \[diag\] sat-dist hist bins=(\d+) sat<([0-9.e-]+)=(%s)%% mean=(%s) p10=(%s) p90=(%s)$"
                       % ((NUM,) * 4))
DIAG_Z_RE = re.compile(r"^  \[diag\] z-gate sat-dist hist bins=(\d+) mean=(%s) p10=(%s) p90=(%s)$" % ((NUM,) * 3))
DIAG_R_RE = re.compile(r"^  \[diag\] r-gate sat-dist hist bins=(\d+) mean=(%s) p10=(%s) p90=(%s)$" % ((NUM,) * 3))
DONE_RE = re.compile(r"^Done\. solved=([01]) steps=(\d+) best_valid_error=(\d+\.\d{4})%$")

# tasks.md's own example lines must match these patterns (so the patterns are the spec's).
SPEC_LINES = [
    "Iter 0000020: train nll 1.808, valid error 100.000%, best valid error 100.000%, avg grad norm   0.869, "
    "avg grad norm (post clip)   0.869, rho_Whh  0.08, Omega  0.00, alpha  0.000, steps in the past 1.000, "
    "valid nll 1.646",
    "  [diag] log10|dL/dh_t| hist bins=60 range=(-4.81,-3.20) mean=-4.10 p50=-4.05 p05=-4.70 p95=-3.40",
    "  [diag] sat-dist hist bins=60 sat<0.05=0.0% mean=0.992 p10=0.991 p90=0.993",
    "  [diag] z-gate sat-dist hist bins=60 mean=0.119 p10=0.119 p90=0.119",
    "  [diag] r-gate sat-dist hist bins=60 mean=0.498 p10=0.498 p90=0.498",
]


def test_patterns_match_the_spec_examples():
    for line, rx in zip(SPEC_LINES, (ITER_RE, DIAG_G_RE, DIAG_S_RE, DIAG_Z_RE, DIAG_R_RE)):
        assert rx.match(line), line


def check_lines(out, args, gru_gates, regression):
    """The per-check block structure: Iter, then its [diag] lines; Done last. Returns the Iter matches."""
    lines = out.splitlines()
    bins = arg_value(args, "--diagBins")
    iters = []
    k = 0
    while k < len(lines) and not lines[k].startswith("Iter "):
        assert "[diag]" not in lines[k] and not lines[k].startswith("Done."), lines[k]
        k += 1
    while k < len(lines) and lines[k].startswith("Iter "):
        m = ITER_RE.match(lines[k])
        assert m, "Iter line does not have tasks.md's format: %r" % lines[k]
        assert (m.group(12) is not None) == regression, lines[k]
        if regression:
            assert m.group(13) == "%.2f" % float(arg_value(args, "--err_abs") or 0.2)
        iters.append(m)
        k += 1
        g = DIAG_G_RE.match(lines[k])
        assert g and g.group(1) == bins, lines[k]
        s = DIAG_S_RE.match(lines[k + 1])
        assert s and s.group(1) == bins and s.group(2) == "0.05", lines[k + 1]
        k += 2
        if gru_gates:
            assert DIAG_Z_RE.match(lines[k]) and DIAG_R_RE.match(lines[k + 1]), lines[k:k + 2]
            k += 2
    assert k == len(lines) - 1, "unexpected lines after the checks: %r" % lines[k:]
    assert DONE_RE.match(lines[-1]), lines[-1]
    return iters


@pytest.mark.parametrize("key", ["A1", "A2", "A3", "A4", "A5", "B1", "B2"])
def test_handout_command(run, key, tmp_path):
    args = handout_args(key)
    r = run(args)
    assert r.rc == 0, r.err
    assert r.err == "", "stderr should stay empty (no progress bar when stdout is not a terminal): %r" % r.err
    name = arg_value(args, "--name")
    gru = arg_value(args, "--model") == "gru"
    regression = arg_value(args, "--task") == "mul"
    maxiters, cf = int(arg_value(args, "--maxiters")), int(arg_value(args, "--checkFreq"))

    # ---- printed lines
    iters = check_lines(r.out, args, gru and "--diagGates" in args, regression)
    checks = [n for n in range(1, maxiters) if n % cf == 0]
    assert [int(m.group(1)) for m in iters] == checks
    done = DONE_RE.match(r.out.splitlines()[-1])
    assert done.group(1) == "0" and int(done.group(2)) == maxiters - 1
    if gru:
        assert float(iters[0].group(9)) == 0.0  # alpha (the GRU ignores --alpha)

    # ---- the file: exactly tasks.md's layout for the required keys
    path = tmp_path / (name + "_final_state.npz")
    assert r.npz_files() == [str(path)], "only NAME_final_state.npz is written: %r" % r.npz_files()
    z = np.load(path)
    want, S, D = expected_layout(args)
    for k, (dt, shape) in want.items():
        assert k in z.files, "missing key %s" % k
        assert z[k].dtype == dt, (k, z[k].dtype)
        assert z[k].shape == shape, (k, z[k].shape, shape)
    assert int(z["diag_len"]) == int(arg_value(args, "--max_length"))
    assert int(z["diag_bs"]) == min(int(arg_value(args, "--bs")), int(arg_value(args, "--cbs")))
    assert int(z["checkFreq"]) == cf

    # Per iteration: every iteration ran.
    for k in ("train_nll", "gradient_norm", "Omega", "steps_in_past"):
        assert (z[k] != -1).all(), k
    assert (z["train_nll"] > 0).all()
    # Per check at row n // checkFreq (rows past S-1 do not exist; row 0 is never a check).
    rows = sorted({n // cf for n in checks if n // cf < S})
    for k in ("valid_error", "rho_Whh", "diag_loss", "diag_err"):
        for row in range(S):
            if row in rows:
                assert z[k][row] != -1 and np.isfinite(z[k][row]), (k, row)
            else:
                assert z[k][row] == -1, (k, row)
    assert ((z["diag_err"][rows] >= 0) & (z["diag_err"][rows] <= 1)).all()
    assert ((z["valid_error"][rows] >= 0) & (z["valid_error"][rows] <= 100)).all()
    # The Iter line of the check stored in row r shows the same numbers.
    for m in iters:
        n = int(m.group(1))
        if n // cf < S:
            assert m.group(3) == "%07.3f" % z["valid_error"][n // cf]
            assert m.group(7).strip() == "%.2f" % z["rho_Whh"][n // cf]
    first = np.mean(z["train_nll"][checks[0] - cf + 1:checks[0] + 1], dtype=np.float64)  # the last checkFreq
    assert abs(float(iters[0].group(2)) - first) <= 0.0015
    # Traces: NaN past the diagnostic batch's T; gate rows only for a GRU with --diagGates.
    T = int(z["diag_steps"])
    assert 0 < T <= D
    for k in ("grad_time", "act_time", "sat_time", "gate_z_sat_time", "gate_r_sat_time"):
        a = z[k]
        filled = gru or not k.startswith("gate_")
        for row in range(S):
            if row in rows and filled:
                assert np.isfinite(a[row, :T]).all(), (k, row)
                assert np.isnan(a[row, T:]).all(), (k, row)
            else:
                assert np.isnan(a[row]).all(), (k, row)
    assert (z["grad_time"][rows[0], :T] > 0).all()
    assert ((z["sat_time"][rows[0], :T] >= 0) & (z["sat_time"][rows[0], :T] <= 1)).all()

    # ---- rnnlab's additions
    for k in EXTRA_TRACES:
        assert z[k].dtype == np.float32 and z[k].shape == (S, D), k
    assert z["gradient_norm_post_clip"].shape == (maxiters,)
    assert z["seq_len"].dtype == np.int32 and (z["seq_len"] > 0).all()
    G, I, O, H = (3 if gru else 1), (2 if regression else 7), (1 if regression else 6), 50
    shapes = {"weight_ih": (G * H, I), "weight_hh": (G * H, H), "bias_ih": (G * H,), "bias_hh": (G * H,),
              "head.weight": (O, H), "head.bias": (O,)}
    for k in PARAMS:
        assert z[k].dtype == np.float32 and z[k].shape == shapes[k], (k, z[k].shape)
    assert (z["bias_hh"] == 0).all()  # single bias mode
    if arg_value(args, "--clipstyle") == "rescale":
        cutoff = float(arg_value(args, "--cutoff"))
        post = z["gradient_norm_post_clip"]
        assert (post <= cutoff * (1 + 1e-5)).all()

    # ---- the handout's plotting snippet, as tasks.md gives it, on this file
    snippet = SNIPPET.replace("A1_mem_rnn_tanh_noclip_final_state.npz", path.name)
    if gru:
        # "If --diagGates is enabled, also plot: gate_z_sat_time and gate_r_sat_time histograms."
        snippet = snippet.replace("plt.show()", "for key in ('gate_z_sat_time', 'gate_r_sat_time'):\n"
                                  "    v = z[key][-1]; v = v[np.isfinite(v)]\n"
                                  "    plt.figure(); plt.hist(v, bins=60, range=(0,1)); plt.title(key)\n"
                                  "plt.show()")
    snippet += "for i in plt.get_fignums():\n    plt.figure(i).savefig('fig%d.png' % i)\n"
    (tmp_path / "plot.py").write_text(snippet)
    env = dict(os.environ, MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, "plot.py"], cwd=tmp_path, capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    figs = sorted(tmp_path.glob("fig*.png"))
    assert len(figs) == (5 if gru else 3)
    assert all(f.stat().st_size > 1000 for f in figs)
