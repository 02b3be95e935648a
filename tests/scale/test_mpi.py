"""Data-parallel runs over MPI (rnnlab-train run under mpirun).

1, 2, 3 and 4 ranks (4 oversubscribed on two cores) give bit-identical parameters, equal to one
process without MPI on the same global batches (the exact fixed-point reduction); a run stopped at
2 ranks resumes at 4 (and at 3) and ends at the uninterrupted digest; SIGUSR1 to mpirun stops the job
after a checkpoint with exit 75; a rank that fails ends the job with a clear error and no summary;
the float reduction runs.
"""
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from scale_util import (MPIRUN_FLAGS, SLOW, SMALL, TRAINER, digest, env, mpirun, needs_fashion, needs_mpirun,
                        needs_trainer, show, summary, trainer)

pytestmark = [needs_trainer, needs_fashion, needs_mpirun]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ref") / "single")
    p = trainer(["run", "--out", out] + SMALL)
    assert p.returncode == 0, show(p)
    return out


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_ranks_give_bit_identical_parameters(tmp_path, reference, ranks):
    out = str(tmp_path / ("np%d" % ranks))
    p = mpirun(ranks, ["run", "--out", out, "--check-every", "5"] + SMALL)
    assert p.returncode == 0, show(p)
    s = summary(out)
    assert s["world_size"] == ranks
    assert s["config_hash"] == summary(reference)["config_hash"]
    assert digest(out) == digest(reference)
    assert s["history"] == summary(reference)["history"]  # losses and accuracies reduced exactly too
    a, b = np.load(os.path.join(out, "model.npz")), np.load(os.path.join(reference, "model.npz"))
    assert sorted(a.files) == sorted(b.files) and "rnn.weight_hh_l0" in a.files
    for k in a.files:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_checkpoint_at_2_resume_at_4(tmp_path, reference):
    out = str(tmp_path / "moved")
    p = mpirun(2, ["run", "--out", out, "--stop-after", "5"] + SMALL)
    assert p.returncode == 75, show(p)
    assert os.path.exists(os.path.join(out, "checkpoint.rnlab"))
    assert not os.path.exists(os.path.join(out, "summary.json"))
    p = mpirun(3, ["run", "--out", out, "--stop-after", "6"] + SMALL)  # 5 -> 11, mid-epoch 2
    assert p.returncode == 75, show(p)
    p = mpirun(4, ["run", "--out", out] + SMALL)
    assert p.returncode == 0, show(p)
    assert "resumed from" in p.stdout
    assert summary(out)["world_size"] == 4 and summary(out)["this_process"]["updates"] == 5
    assert digest(out) == digest(reference)


def test_a_failing_rank_ends_the_job_without_a_summary(tmp_path):
    out = str(tmp_path / "fail")
    p = mpirun(2, ["run", "--out", out] + SMALL, extra=["-x", "RNNLAB_TEST_FAIL_RANK=1"])
    assert p.returncode != 0, show(p)
    assert "rank 1 of 2" in p.stderr and "failing on purpose" in p.stderr, show(p)
    assert not os.path.exists(os.path.join(out, "summary.json"))


def test_float_reduction_runs(tmp_path, reference):
    out = str(tmp_path / "float")
    p = mpirun(2, ["run", "--out", out, "--reduce", "float"] + SMALL)
    assert p.returncode == 0, show(p)
    s = summary(out)
    assert s["status"] == "done" and s["config"]["reduce"] == "float"
    assert s["config_hash"] != summary(reference)["config_hash"]


def test_images_and_ablation_refuse_to_run_as_ranks(tmp_path):
    p = mpirun(2, ["ablation", "--preset", "main"])
    assert p.returncode != 0, show(p)
    assert "not data-parallel" in p.stderr


def test_sigusr1_to_mpirun_checkpoints_and_exits_75(tmp_path):
    """mpirun forwards SIGUSR1 to every rank; they agree on the update to stop at, rank 0 checkpoints,
    the job exits 75, and a rerun on another rank count ends at the single-process digest."""
    ref, out = str(tmp_path / "ref"), str(tmp_path / "cut")
    p = trainer(["run", "--out", ref] + SLOW)
    assert p.returncode == 0, show(p)
    cmd = ["mpirun"] + MPIRUN_FLAGS + ["-np", "2", TRAINER, "run", "--out", out] + SLOW
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(mpi=True))
    ckpt = os.path.join(out, "checkpoint.rnlab")
    deadline = time.time() + 120
    while not os.path.exists(ckpt) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGUSR1)
    so, se = proc.communicate(timeout=120)
    assert proc.returncode == 75, "rc %s\n%s\n%s" % (proc.returncode, so, se)
    assert "stopped by SIGUSR1" in so and not os.path.exists(os.path.join(out, "summary.json"))
    p = mpirun(3, ["run", "--out", out] + SLOW)
    assert p.returncode == 0 and "resumed from" in p.stdout, show(p)
    assert digest(out) == digest(ref)
