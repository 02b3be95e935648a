"""Whole runs beyond the handout's shapes: early stop on a solved task, determinism, the periodic state
file, the other tasks and inits, rnnlab's own flags."""
import re

import numpy as np
import pytest

from conftest import EXTRA_TRACES, PARAMS, expected_layout

# A mem task small enough to be solved in a few hundred iterations: one symbol of two to recall
# after one blank step.
SOLVABLE = ["--task", "mem", "--model", "gru", "--alpha", "0", "--memvalues", "2", "--mempos", "1", "--min_length", "1",
            "--max_length", "3", "--nhid", "8", "--lr", "0.5", "--maxiters", "3000", "--checkFreq", "50", "--ebs", "200",
            "--cbs", "100", "--collectDiags", "--diagGates", "--diagBins", "10", "--name", "solve"]


def test_stops_when_solved(run, tmp_path):
    r = run(SOLVABLE)
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert "!!!!! STOPPING - Problem solved" in lines
    m = re.match(r"^Done\. solved=1 steps=(\d+) best_valid_error=0\.0000%$", lines[-1])
    assert m, lines[-1]
    N = int(m.group(1))
    assert N < 3000 - 1 and N % 50 == 0
    last_iter = [l for l in lines if l.startswith("Iter ")][-1]
    assert last_iter.startswith("Iter %07d: " % N) and "valid error 000.000%" in last_iter
    z = np.load(tmp_path / "solve_final_state.npz")
    S = 3000 // 50
    assert (z["train_nll"][:N + 1] != -1).all() and (z["train_nll"][N + 1:] == -1).all()
    assert z["valid_error"][N // 50] == 0
    assert (z["valid_error"][N // 50 + 1:] == -1).all() and (z["rho_Whh"][N // 50 + 1:] == -1).all()
    # tasks.md's note: the last row stays NaN when the run stopped early.
    assert np.isnan(z["grad_time"][-1]).all() and np.isfinite(z["grad_time"][N // 50, :int(z["diag_steps"])]).all()
    assert int(z["solved"]) == 1 and int(z["steps"]) == N and float(z["best_valid_error"]) == 0
    assert z["grad_time"].shape == (S, 3 + 2)
    assert not (tmp_path / "solve_state.npz").exists()


def test_deterministic(run, tmp_path):
    # The same command twice gives the same file and lines; so does another --threads (validation
    # chunks on 3 threads, each on its own model handle, reduced in chunk order).
    args = ["--task", "torder", "--nhid", "16", "--min_length", "20", "--max_length", "40", "--maxiters", "61",
            "--checkFreq", "20", "--ebs", "150", "--cbs", "50", "--collectDiags", "--name", "det"]
    a = run(args + ["--threads", "1"])
    assert a.rc == 0, a.err
    first = dict(np.load(tmp_path / "det_final_state.npz"))
    b = run(args + ["--threads", "3"])
    assert b.rc == 0, b.err
    second = np.load(tmp_path / "det_final_state.npz")
    assert sorted(first) == sorted(second.files)
    for k in first:
        assert np.array_equal(first[k], second[k], equal_nan=True), k
    strip = [l for l in a.out.splitlines() if l.startswith(("Iter", "  [diag]", "Done"))]
    assert strip == [l for l in b.out.splitlines() if l.startswith(("Iter", "  [diag]", "Done"))]


def test_periodic_state_file_and_out_dir(run, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    # --saveFreq 0: the state file is written at every check (atomically, so it is always whole).
    r = run(["--nhid", "8", "--min_length", "10", "--max_length", "20", "--maxiters", "61", "--checkFreq", "20",
             "--ebs", "20", "--cbs", "10", "--saveFreq", "0", "--out_dir", str(out), "--name", "p"])
    assert r.rc == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["p_final_state.npz", "p_state.npz"]
    state, final = np.load(out / "p_state.npz"), np.load(out / "p_final_state.npz")
    assert state.files == final.files
    # The state file was written at the last check (n = 60), before the final one.
    assert (state["train_nll"][:61] != -1).all()


@pytest.mark.parametrize("task, init, extra", [
    ("torder", "smart_tanh", []),
    ("torder3", "sigmoid", []),
    ("add", "basic_tanh", ["--alpha", "2.0"]),
    ("perm", "test", []),
    ("mul", "basic_tanh", ["--err_abs", "0.1"]),
])
def test_tasks_and_inits(run, tmp_path, task, init, extra):
    args = ["--task", task, "--init", init, "--nhid", "16", "--min_length", "20", "--max_length", "30", "--maxiters",
            "41", "--checkFreq", "20", "--ebs", "40", "--cbs", "20", "--collectDiags", "--diagBins", "20",
            "--name", "t"] + extra
    r = run(args)
    assert r.rc == 0, r.err
    z = np.load(tmp_path / "t_final_state.npz")
    want, S, D = expected_layout(args)
    for k, (dt, shape) in want.items():
        assert z[k].dtype == dt and z[k].shape == shape, (k, z[k].dtype, z[k].shape)
    for k in EXTRA_TRACES + PARAMS:
        assert k in z.files, k
    assert np.isnan(z["gate_z_sat_time"]).all()  # a vanilla RNN has no gates
    if task in ("add", "mul"):
        assert ", err@%.2f " % float(dict(zip(extra[::2], extra[1::2])).get("--err_abs", 0.2)) in r.out
        assert z["valid_mae"][1] >= 0
    if task == "add":
        assert "alpha  2.000" in r.out


def test_rnnlab_flags(run, tmp_path):
    base = ["--task", "mem", "--model", "gru", "--alpha", "0", "--nhid", "8", "--min_length", "10", "--max_length",
            "20", "--maxiters", "21", "--checkFreq", "10", "--ebs", "20", "--cbs", "10", "--collectDiags",
            "--diagGates"]
    for extra in (["--gru_variant", "linear_before_reset"], ["--backend", "reference"], ["--threads", "2"],
                  ["--timing"]):
        r = run(base + extra + ["--name", "f"])
        assert r.rc == 0, (extra, r.err)
        assert (tmp_path / "f_final_state.npz").exists()
        if extra == ["--timing"]:
            t = [l for l in r.out.splitlines() if l.startswith("[time] ")]
            assert len(t) == 1 and "validation" in t[0] and "training" in t[0] and "I/O" in t[0]
            assert r.out.splitlines()[-1].startswith("Done.")
    # A small --memall fits: every batch is all 2^3 patterns.
    r = run(["--task", "mem", "--memall", "--memvalues", "2", "--mempos", "3", "--nhid", "8", "--min_length", "10",
             "--max_length", "20", "--maxiters", "21", "--checkFreq", "10", "--collectDiags", "--name", "all"])
    assert r.rc == 0, r.err
    z = np.load(tmp_path / "all_final_state.npz")
    assert int(z["diag_bs"]) == 8
