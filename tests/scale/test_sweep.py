"""rnnlab-train run / sweep: one run = one process = one directory, for any scheduler.

Same seed twice gives the same parameter digest, another seed another; a finished run exits 0 at
once; SIGTERM mid-run checkpoints and exits 75, and the rerun ends at the uninterrupted digest; the
sweep counts, lists and runs items in a fixed order (also from SLURM_ARRAY_TASK_ID); a 4-item grid with
one bad item under GNU parallel gives exit codes {0, 0, 0, 2} and --resume-failed reruns only that
one; malformed grids and a missing output directory fail with one line and no summary.
"""
import os
import signal
import subprocess
import time

import pytest

from scale_util import (FASHION, SLOW, SMALL, TRAINER, digest, env, needs_fashion, needs_parallel, needs_trainer,
                        show, summary, trainer)

pytestmark = [needs_trainer, needs_fashion]


def test_same_seed_same_digest_other_seed_differs(tmp_path):
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    for out, seed in ((a, "3"), (b, "3"), (c, "4")):
        p = trainer(["run", "--out", out, "--seed", seed] + SMALL)
        assert p.returncode == 0, show(p)
    sa, sc = summary(a), summary(c)
    assert sa["status"] == "done" and sa["updates"] == 16 and sa["epochs_done"] == 2
    assert sa["seed"] == 3 and sa["version"] and len(sa["config_hash"]) == 16
    assert sa["config"]["hidden"] == "12" and len(sa["history"]["test_acc"]) == 2
    assert digest(a) == digest(b)
    assert digest(a) != digest(c) and sa["config_hash"] != sc["config_hash"]
    assert os.path.exists(os.path.join(a, "model.npz"))


def test_finished_run_exits_at_once_and_other_config_is_refused(tmp_path):
    out = str(tmp_path / "r")
    p = trainer(["run", "--out", out] + SMALL)
    assert p.returncode == 0, show(p)
    before = os.stat(os.path.join(out, "summary.json")).st_mtime_ns
    p = trainer(["run", "--out", out] + SMALL)
    assert p.returncode == 0, show(p)
    assert "finished already" in p.stdout
    assert os.stat(os.path.join(out, "summary.json")).st_mtime_ns == before
    # The thread count is not part of the configuration: a requeue on other CPUs still matches.
    p = trainer(["run", "--out", out] + SMALL + ["--threads", "2"])
    assert p.returncode == 0 and "finished already" in p.stdout, show(p)
    p = trainer(["run", "--out", out] + SMALL + ["--seed", "9"])
    assert p.returncode == 2, show(p)
    assert "another configuration" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_sigterm_checkpoints_exits_75_and_resume_matches(tmp_path):
    ref, out = str(tmp_path / "ref"), str(tmp_path / "cut")
    p = trainer(["run", "--out", ref] + SLOW)
    assert p.returncode == 0, show(p)
    proc = subprocess.Popen([TRAINER, "run", "--out", out] + SLOW, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env())
    ckpt = os.path.join(out, "checkpoint.rnlab")
    deadline = time.time() + 120
    while not os.path.exists(ckpt) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    so, se = proc.communicate(timeout=120)
    assert proc.returncode == 75, "rc %s\n%s\n%s" % (proc.returncode, so, se)
    assert "stopped by SIGTERM" in so
    assert os.path.exists(ckpt) and not os.path.exists(os.path.join(out, "summary.json"))
    p = trainer(["run", "--out", out] + SLOW)  # --resume auto is the default
    assert p.returncode == 0, show(p)
    assert "resumed from" in p.stdout
    assert summary(out)["this_process"]["updates"] < summary(ref)["updates"]
    assert digest(out) == digest(ref)
    assert summary(out)["history"] == summary(ref)["history"]


def test_stop_after_and_resume_never(tmp_path):
    ref, out = str(tmp_path / "ref"), str(tmp_path / "cut")
    assert trainer(["run", "--out", ref] + SMALL).returncode == 0
    p = trainer(["run", "--out", out, "--stop-after", "5", "--checkpoint-every", "0"] + SMALL)
    assert p.returncode == 75, show(p)
    p = trainer(["run", "--out", out, "--stop-after", "7"] + SMALL)
    assert p.returncode == 75, show(p)
    p = trainer(["run", "--out", out] + SMALL)
    assert p.returncode == 0, show(p)
    assert summary(out)["this_process"]["updates"] == 4 and digest(out) == digest(ref)
    # A checkpoint of another configuration is refused, unless told to start afresh.
    other = str(tmp_path / "other")
    assert trainer(["run", "--out", other, "--stop-after", "3"] + SMALL).returncode == 75
    p = trainer(["run", "--out", other, "--seed", "5"] + SMALL)
    assert p.returncode == 2 and "another configuration" in p.stderr, show(p)
    p = trainer(["run", "--out", other, "--seed", "5", "--resume", "never"] + SMALL)
    assert p.returncode == 0, show(p)


GRID = """# seed 000's ablation, small
--variant baseline ablated   # the model
--seed 1 2
"""


def test_sweep_count_list_index(tmp_path):
    grid = tmp_path / "grid.txt"
    grid.write_text(GRID)
    root = str(tmp_path / "sweep")
    p = trainer(["sweep", str(grid), "--axis", "lr=0.001,0.002", "--count"])
    assert p.returncode == 0 and p.stdout.strip() == "8", show(p)
    p = trainer(["sweep", str(grid), "--out", root, "--list", "--"] + SMALL)
    assert p.returncode == 0, show(p)
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 4
    # First axis slowest, in file order; every item has its own directory.
    assert "--out %s/0000 --variant baseline --seed 1" % root in lines[0]
    assert "--out %s/0001 --variant baseline --seed 2" % root in lines[1]
    assert "--out %s/0003 --variant ablated --seed 2" % root in lines[3]
    assert all(" ".join(SMALL) in l for l in lines)
    p = trainer(["sweep", str(grid), "--out", root, "--index", "2", "--"] + SMALL)
    assert p.returncode == 0, show(p)
    s = summary(os.path.join(root, "0002"))
    assert s["config"]["variant"] == "ablated" and s["seed"] == 1
    # The same item as a Slurm array task, and as the listed command: the same run, finished already.
    p = trainer(["sweep", str(grid), "--out", root, "--"] + SMALL, extra_env={"SLURM_ARRAY_TASK_ID": "2"})
    assert p.returncode == 0 and "finished already" in p.stdout, show(p)
    p = subprocess.run(lines[2], shell=True, capture_output=True, text=True, env=env(), timeout=120)
    assert p.returncode == 0 and "finished already" in p.stdout, show(p)
    p = trainer(["sweep", str(grid), "--out", root, "--index", "4"])
    assert p.returncode == 2 and "outside" in p.stderr, show(p)


@pytest.mark.parametrize("text,why", [
    ("--seed\n", "no values"),
    ("seed 1 2\n", "not a flag"),
    ("--seed 1 2\n--seed 3\n", "twice"),
    ("--out a b\n", "cannot be an axis"),
    ("--seed=1 2\n", "after the flag"),
])
def test_malformed_grid_is_a_usage_error(tmp_path, text, why):
    grid = tmp_path / "grid.txt"
    grid.write_text(text)
    root = tmp_path / "sweep"
    p = trainer(["sweep", str(grid), "--out", str(root), "--index", "0"])
    assert p.returncode == 2, show(p)
    assert why in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not root.exists()


def test_missing_output_directory_and_missing_grid(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory\n")
    p = trainer(["run", "--out", str(blocker / "run")] + SMALL)
    assert p.returncode == 2 and "cannot create the output directory" in p.stderr, show(p)
    assert len(p.stderr.strip().splitlines()) == 1
    # Missing parents are created (mkdir -p), as every item of a listed sweep needs.
    p = trainer(["run", "--out", str(tmp_path / "new" / "deep" / "run"), "--max-updates", "1"] + SMALL)
    assert p.returncode == 0 and summary(str(tmp_path / "new" / "deep" / "run"))["updates"] == 1, show(p)
    p = trainer(["sweep", str(tmp_path / "nogrid.txt"), "--out", str(tmp_path / "s"), "--index", "0"])
    assert p.returncode == 2 and "cannot read the grid file" in p.stderr, show(p)
    p = trainer(["run"] + SMALL)
    assert p.returncode == 2 and "--out" in p.stderr, show(p)


@needs_parallel
def test_gnu_parallel_joblog_and_resume_failed(tmp_path):
    grid = tmp_path / "grid.txt"
    # The fourth item's learning rate is out of range: a configuration error, exit 2.
    grid.write_text("--lr 0.001 0.002 0.003 -1\n")
    root, log = str(tmp_path / "sweep"), str(tmp_path / "joblog")
    cmd = ["parallel", "--will-cite", "-j", "2", "--joblog", log, TRAINER, "sweep", str(grid), "--out", root,
           "--index", "{}", "--"] + SMALL + [":::", "0", "1", "2", "3"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=300)
    assert p.returncode == 1, show(p)  # parallel: the number of failed jobs

    def codes():
        rows = [l.split("\t") for l in open(log).read().strip().splitlines()[1:]]
        out = []
        for r in rows:  # (item index, exit status)
            words = r[-1].split()
            out.append((words[words.index("--index") + 1], int(r[6])))
        return out

    assert sorted(c for _, c in codes()) == [0, 0, 0, 2]
    assert dict(codes())["3"] == 2
    digests = {i: digest(os.path.join(root, "%04d" % i)) for i in range(3)}
    assert not os.path.exists(os.path.join(root, "0003", "summary.json"))
    p = subprocess.run(["parallel", "--will-cite", "--resume-failed"] + cmd[2:], capture_output=True, text=True,
                       env=env(), timeout=300)
    assert p.returncode == 1, show(p)
    rerun = codes()[4:]
    assert rerun == [("3", 2)]  # only the failed item ran again
    assert {i: digest(os.path.join(root, "%04d" % i)) for i in range(3)} == digests
