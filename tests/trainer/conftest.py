"""Shared helpers of rnnlab-train's tests: where the program is, how to run it, what tasks.md says
its files hold."""
import math
import os
import shlex
import subprocess

import numpy as np
import pytest

TRAINER = os.environ.get("RNNLAB_TRAIN", "")

# The handout's seven commands (seed 002, section 3), as printed, program name included.
HANDOUT_COMMON = ("--nhid 50 --lr 0.01 --bs 20 --min_length 50 --max_length 200 "
                  "--maxiters 50000 --ebs 10000 --cbs 1000 --checkFreq 20 "
                  "--seed 52 --valid_seed 12345 --collectDiags --diagBins 60 --satThresh 0.05")
HANDOUT = {
    "A1": "--task mem --model rnn --alpha 0.0 --clipstyle nothing " + HANDOUT_COMMON + " --name A1_mem_rnn_tanh_noclip",
    "A2": "--task mem --model rnn --alpha 0.0 --clipstyle rescale --cutoff 0.05 " + HANDOUT_COMMON
          + " --name A2_mem_rnn_tanh_clip005",
    "A3": "--task mem --model rnn --alpha 0.0 --clipstyle rescale --cutoff 0.01 " + HANDOUT_COMMON
          + " --name A3_mem_rnn_tanh_clip001",
    "A4": "--task mem --model gru --alpha 0.0 --clipstyle nothing --diagGates " + HANDOUT_COMMON
          + " --name A4_mem_gru_noclip",
    "A5": "--task mem --model gru --alpha 0.0 --clipstyle rescale --cutoff 0.05 --diagGates " + HANDOUT_COMMON
          + " --name A5_mem_gru_clip005",
    "B1": "--task mul --model rnn --alpha 0.0 --clipstyle nothing " + HANDOUT_COMMON + " --name B1_mul_rnn_tanh_noclip",
    "B2": "--task mul --model gru --alpha 0.0 --clipstyle nothing --diagGates " + HANDOUT_COMMON
          + " --name B2_mul_gru_noclip",
}

# Short versions: the handout's command with only these values changed (a flag given twice keeps
# its last value, as argparse does, so they are simply appended).
SHORT = ["--maxiters", "41", "--checkFreq", "20", "--ebs", "200", "--cbs", "100"]


def handout_args(key, extra=()):
    return shlex.split(HANDOUT[key]) + SHORT + list(extra)


def arg_value(args, flag):
    """The last value given for flag (argparse semantics)."""
    val = None
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            val = args[i + 1]
    return val


class Run:
    def __init__(self, proc, cwd):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.cwd = cwd

    def npz_files(self):
        found = []
        for root, _, files in os.walk(self.cwd):
            found += [os.path.join(root, f) for f in files if ".npz" in f]
        return found


@pytest.fixture
def trainer():
    if not TRAINER or not os.path.exists(TRAINER):
        pytest.skip("RNNLAB_TRAIN does not name the rnnlab-train executable")
    return TRAINER


@pytest.fixture
def run(trainer, tmp_path):
    """run(args, cwd=None) -> Run: runs rnnlab-train in tmp_path (stdout is a pipe: no progress bar)."""

    def _run(args, cwd=None, timeout=120, env=None):
        cwd = str(cwd or tmp_path)
        e = dict(os.environ)
        e.setdefault("OMP_NUM_THREADS", "1")
        if env:
            e.update(env)
        proc = subprocess.run([trainer] + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=e)
        return Run(proc, cwd)

    return _run


def expected_layout(args):
    """Keys -> (dtype, shape) that tasks.md requires of NAME_final_state.npz for this command line."""
    task = arg_value(args, "--task") or "mem"
    maxiters = int(arg_value(args, "--maxiters") or 20000)
    check_freq = int(arg_value(args, "--checkFreq") or 20)
    max_length = int(arg_value(args, "--max_length") or 200)
    mempos = int(arg_value(args, "--mempos") or 10)
    S = max(1, maxiters // check_freq)
    if task == "mem":
        D = max_length + 2 * mempos
    elif task in ("add", "mul"):
        D = max_length + int(math.ceil(max_length * 0.1)) + 2
    else:
        D = max_length
    want = {}
    for k in ("train_nll", "gradient_norm", "Omega", "steps_in_past"):
        want[k] = (np.float32, (maxiters,))
    for k in ("valid_error", "rho_Whh", "diag_loss", "diag_err"):
        want[k] = (np.float32, (S,))
    for k in ("grad_time", "act_time", "sat_time", "gate_z_sat_time", "gate_r_sat_time"):
        want[k] = (np.float32, (S, D))
    for k in ("diag_len", "diag_bs", "checkFreq"):
        want[k] = (np.int64, ())
    return want, S, D


# rnnlab's additions (documented in --help): every other trace, per-iteration and per-check extras,
# and the parameters under rnnlab's names.
EXTRA_TRACES = ("cand_act_time", "gate_z_mean_time", "gate_r_mean_time", "gate_z_preact_time", "sat_frac_time",
                "gate_z_sat_frac_time", "gate_r_sat_frac_time", "transfer_time")
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "head.weight", "head.bias")

# The canonical plotting snippet of tasks.md (the handout's, with its two misprints fixed).
SNIPPET = '''import numpy as np
import matplotlib.pyplot as plt
z = np.load("A1_mem_rnn_tanh_noclip_final_state.npz")
grad_time = z["grad_time"]; sat_time = z["sat_time"]; valid_err = z["valid_error"]; rho = z["rho_Whh"]
g = grad_time[-1]; s = sat_time[-1]
g = g[np.isfinite(g)]; s = s[np.isfinite(s)]
plt.figure(); plt.hist(np.log10(g + 1e-12), bins=60); plt.title("log10_||dL/dh_t||")
plt.figure(); plt.hist(s, bins=60, range=(0,1)); plt.title("hidden_saturation_distance")
plt.figure(); plt.plot(valid_err); plt.title("validation_error_")
plt.show()
'''
