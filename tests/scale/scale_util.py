"""Helpers of the scale tests: where rnnlab-train is, a small run configuration, reading summaries."""
import json
import os
import shutil
import subprocess

import pytest

TRAINER = os.environ.get("RNNLAB_TRAIN", "")
FASHION = "/usr/share/datasets/fashion-mnist"

# A run of a few seconds at most: Fashion-MNIST row by row (28 steps of 28 inputs), H = 12,
# 256 training images in batches of 32 cut into micro-batches of 8 (4 slices per update).
SMALL = ["--dataset", "fashion-mnist", "--mode", "rows", "--train-limit", "256", "--test-limit", "128",
         "--hidden", "12", "--epochs", "2", "--batch", "32", "--micro-batch", "8", "--eval-batch", "64",
         "--threads", "1", "--backend", "cpu"]

# Slower per update (784 steps, H = 48), so that a signal sent while it runs lands mid-run.
SLOW = ["--dataset", "fashion-mnist", "--mode", "pixels", "--train-limit", "256", "--test-limit", "64",
        "--hidden", "32", "--epochs", "2", "--batch", "32", "--micro-batch", "16", "--eval-batch", "64",
        "--threads", "1", "--backend", "cpu", "--checkpoint-every", "2"]

# What the facts say OpenMPI 4.1 needs here: root, more ranks than cores, shared memory only.
MPIRUN_FLAGS = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader",
                "--mca", "oob_tcp_if_include", "lo", "-x", "OMP_NUM_THREADS=1", "-x", "ASAN_OPTIONS",
                "-x", "UBSAN_OPTIONS"]

needs_trainer = pytest.mark.skipif(not TRAINER or not os.path.exists(TRAINER),
                                   reason="RNNLAB_TRAIN does not name the rnnlab-train executable")
needs_fashion = pytest.mark.skipif(not os.path.isdir(FASHION), reason=FASHION + " missing (dataset-fashion-mnist)")
needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None,
                                  reason="mpirun not found (scripts/setup.sh installs openmpi-bin)")
needs_parallel = pytest.mark.skipif(shutil.which("parallel") is None,
                                    reason="GNU parallel not found (scripts/setup.sh installs parallel)")


def env(mpi=False):
    e = dict(os.environ)
    e["OMP_NUM_THREADS"] = "1"
    e.pop("SLURM_ARRAY_TASK_ID", None)
    e.pop("SLURM_CPUS_PER_TASK", None)
    if mpi:
        # Under AddressSanitizer, OpenMPI's own never-freed allocations are not rnnlab's leaks; runs
        # without MPI keep leak checking.
        e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + (":" if e.get("ASAN_OPTIONS") else "") + "detect_leaks=0"
    e.setdefault("ASAN_OPTIONS", "")
    e.setdefault("UBSAN_OPTIONS", "halt_on_error=1")
    return e


def trainer(args, timeout=180, extra_env=None, cwd=None):
    e = env()
    if extra_env:
        e.update(extra_env)
    return subprocess.run([TRAINER] + list(args), capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd)


def mpirun(n, args, timeout=240, extra=()):
    cmd = ["mpirun"] + MPIRUN_FLAGS + list(extra) + ["-np", str(n), TRAINER] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(mpi=True))


def summary(out_dir):
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.load(f)


def digest(out_dir):
    return summary(out_dir)["param_digest"]


def show(p):
    return "rc %s\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout[-3000:], p.stderr[-3000:])
