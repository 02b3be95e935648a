"""The Slurm templates on a one-node Slurm started by the test itself (scripts/slurm/local-cluster.sh).

The sweep as `sbatch --wait --array=0-3%2` gives the same digests as the direct runs; the
data-parallel template (srun --mpi=pmix, 2 tasks) gives the single-process digest; SIGUSR1 to an array
task checkpoints it, the template requeues it, and the requeued task ends at the uninterrupted
digest. Skipped, with the script's reason, where Slurm cannot start (no slurm-wlm/munge, not root).
Every wait is bounded.
"""
import os
import shutil
import subprocess
import time

import pytest

from scale_util import SLOW, SMALL, digest, env, needs_fashion, needs_trainer, show, summary, trainer, TRAINER

pytestmark = [needs_trainer, needs_fashion]

HERE = os.path.dirname(os.path.abspath(__file__))
SLURM_DIR = os.path.join(HERE, "..", "..", "scripts", "slurm")
CLUSTER = os.path.join(SLURM_DIR, "local-cluster.sh")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if shutil.which("sbatch") is None:
        pytest.skip("sbatch not found (scripts/setup.sh installs slurm-wlm and munge)")
    d = str(tmp_path_factory.mktemp("slurm"))
    p = subprocess.run(["bash", CLUSTER, "start", d], capture_output=True, text=True, timeout=90)
    if p.returncode == 3:
        pytest.skip("one-node Slurm did not start: " + p.stderr.strip())
    assert p.returncode == 0, show(p)
    e = env(mpi=True)  # the data-parallel template runs MPI ranks
    e["SLURM_CONF"] = os.path.join(d, "slurm.conf")
    e["RNNLAB_TRAIN"] = TRAINER
    yield e
    subprocess.run(["bash", CLUSTER, "stop", d], capture_output=True, text=True, timeout=60)


def slurm_cmd(e, args, cwd, timeout=180):
    return subprocess.run(args, capture_output=True, text=True, env=e, cwd=cwd, timeout=timeout)


def test_sweep_as_a_job_array(slurm, tmp_path):
    grid = tmp_path / "grid.txt"
    grid.write_text("--seed 1 2\n--variant baseline ablated\n")
    root, direct = str(tmp_path / "slurm"), str(tmp_path / "direct")
    p = slurm_cmd(slurm, ["sbatch", "--wait", "--array=0-3%2", "--cpus-per-task=1",
                          os.path.join(SLURM_DIR, "sweep.sbatch"), str(grid), root, "--"] + SMALL, str(tmp_path))
    assert p.returncode == 0, show(p)
    for i in range(4):
        q = trainer(["sweep", str(grid), "--out", direct, "--index", str(i), "--"] + SMALL)
        assert q.returncode == 0, show(q)
        assert digest(os.path.join(root, "%04d" % i)) == digest(os.path.join(direct, "%04d" % i))


def test_data_parallel_template(slurm, tmp_path):
    ref, out = str(tmp_path / "ref"), str(tmp_path / "dp")
    assert trainer(["run", "--out", ref] + SMALL).returncode == 0
    p = slurm_cmd(slurm, ["sbatch", "--wait", "--ntasks=2", "--overcommit", os.path.join(SLURM_DIR, "dp.sbatch"), out] + SMALL,
                  str(tmp_path))
    log = "".join(open(os.path.join(tmp_path, f)).read() for f in os.listdir(tmp_path) if f.startswith("rnnlab-dp-"))
    assert p.returncode == 0, show(p) + log
    assert summary(out)["world_size"] == 2, log
    assert digest(out) == digest(ref)


def test_usr1_checkpoints_and_the_template_requeues(slurm, tmp_path):
    grid = tmp_path / "grid.txt"
    grid.write_text("--seed 5\n")
    root, ref = str(tmp_path / "rq"), str(tmp_path / "ref")
    p = slurm_cmd(slurm, ["sbatch", "--parsable", "--array=0-0", "--cpus-per-task=1",
                          os.path.join(SLURM_DIR, "sweep.sbatch"), str(grid), root, "--"] + SLOW, str(tmp_path))
    assert p.returncode == 0, show(p)
    task = p.stdout.strip().split(";")[0] + "_0"
    ckpt = os.path.join(root, "0000", "checkpoint.rnlab")
    deadline = time.time() + 120
    while not os.path.exists(ckpt) and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.exists(ckpt), "no checkpoint within 120 s"
    assert slurm_cmd(slurm, ["scancel", "--signal=USR1", "--batch", task], str(tmp_path)).returncode == 0
    # The requeued task starts again once its old credential has expired (local-cluster.sh sets
    # cred_expire=5 s; a real cluster's default is 2 minutes).
    deadline, requeued = time.time() + 400, False  # generous: a loaded machine (CI beside a build) needed > 150 s
    while time.time() < deadline:
        q = slurm_cmd(slurm, ["scontrol", "show", "job", task], str(tmp_path))
        requeued = requeued or "Restarts=1" in q.stdout
        if os.path.exists(os.path.join(root, "0000", "summary.json")):
            break
        time.sleep(0.5)
    out = open(os.path.join(tmp_path, [f for f in os.listdir(tmp_path) if f.startswith("rnnlab-sweep-")][0])).read()
    assert requeued and "stopped by SIGUSR1" in out and "resumed from" in out, out
    assert os.path.exists(os.path.join(root, "0000", "summary.json")), out
    q = trainer(["run", "--out", ref, "--seed", "5"] + SLOW)
    assert q.returncode == 0, show(q)
    assert digest(os.path.join(root, "0000")) == digest(ref)
