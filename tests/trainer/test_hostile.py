"""Hostile command lines and faults: contradictory flags are refused before any work (exit 2, one
line on stderr, nothing on stdout, no npz), and a trainer killed with SIGKILL while it writes its
periodic state file leaves a state file that loads whole."""
import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest

from test_cli import TINY, assert_failed


@pytest.mark.parametrize("args, needles", [
    (["--min_length", "300", "--max_length", "200"], ["--min_length 300", "--max_length 200"]),
    (["--cbs", "50", "--ebs", "20"], ["--cbs 50", "--ebs 20"]),
    (["--out_dir", "no/such/dir"], ["no/such/dir", "No such file or directory"]),
    (["--name", "missing_dir/run"], ["missing_dir", "No such file or directory"]),
])
def test_contradiction_refused_before_work(run, args, needles):
    t0 = time.monotonic()
    r = run(TINY + args)
    assert_failed(r, 2, *needles)
    assert r.out == "", "nothing may run before the refusal: %r" % r.out
    assert time.monotonic() - t0 < 30


def test_out_dir_that_is_a_file(run, tmp_path):
    (tmp_path / "plain").write_text("not a directory")
    r = run(TINY + ["--out_dir", str(tmp_path / "plain")])
    assert r.rc == 2, (r.rc, r.err)
    assert "Not a directory" in r.err and len(r.err.splitlines()) == 1
    assert r.out == ""


def _state_loads_whole(path):
    with np.load(path) as z:
        assert "train_nll" in z.files and "weight_hh" in z.files
        for k in z.files:
            z[k]  # every member decompresses and has its full size (numpy checks both)


def test_sigkill_during_periodic_save(trainer, tmp_path):
    """--saveFreq 0 --checkFreq 1 writes the state file (a ~2 MB npz at --nhid 400) after every
    iteration. The test watches the directory and sends SIGKILL the moment a save's temporary file
    appears (after a random number of saves), so the kill lands inside the save: between the
    temporary's creation and its rename. Each time, the state file that is left must load whole."""
    rng = random.Random(14)
    args = [trainer, "--task", "mem", "--model", "gru", "--nhid", "400", "--bs", "2", "--min_length", "5",
            "--max_length", "5", "--mempos", "2", "--maxiters", "100000", "--checkFreq", "1", "--ebs", "2",
            "--cbs", "2", "--saveFreq", "0", "--name", "k"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    mid_save = 0
    kills = 3
    for attempt in range(kills):
        d = tmp_path / ("kill%d" % attempt)
        d.mkdir()
        p = subprocess.Popen(args, cwd=str(d), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        state = d / "k_state.npz"
        deadline = time.monotonic() + 120
        skip = rng.randint(0, 2)  # saves to let complete before the one that is killed
        seen = set()
        killed_in_save = False
        while time.monotonic() < deadline and p.poll() is None:
            temps = [f for f in os.listdir(str(d)) if f.startswith(".k_state.npz.tmp.")]
            new = [f for f in temps if f not in seen]
            if new and state.exists():
                if skip == 0:
                    os.kill(p.pid, signal.SIGKILL)
                    killed_in_save = True
                    break
                skip -= 1
                seen.update(new)
        if not killed_in_save:
            p.kill()
        p.wait()
        err = p.stderr.read()
        p.stderr.close()
        assert killed_in_save, "no save seen within 120 s: %s" % err
        _state_loads_whole(str(state))
        if [f for f in os.listdir(str(d)) if f.startswith(".k_state.npz.tmp.")]:
            mid_save += 1
    print("%d kills during a save, %d left their temporary (the kill landed before the rename); "
          "every state file loaded whole" % (kills, mid_save))
    assert mid_save >= 1, "no kill landed before a save's rename in %d tries" % kills
