"""rnnlab-train's command line: every starter flag is accepted, help explains the conventions, and
every mistake ends the run with a non-zero status, exactly one line on stderr and no npz."""
import os
import pty
import subprocess

import pytest

from conftest import HANDOUT

TINY = ["--nhid", "8", "--maxiters", "21", "--checkFreq", "10", "--ebs", "20", "--cbs", "10", "--min_length", "10",
        "--max_length", "20"]


def assert_failed(r, rc, *needles):
    assert r.rc == rc, (r.rc, r.out, r.err)
    lines = r.err.splitlines()
    assert len(lines) == 1, "exactly one line on stderr: %r" % r.err
    assert lines[0].startswith("rnnlab-train: error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert r.npz_files() == [], "no npz may be written: %r" % r.npz_files()


@pytest.mark.parametrize("args, needles", [
    (["--bogus", "3"], ["unknown flag '--bogus'"]),
    (["--checkfreq", "5"], ["'--checkfreq'", "did you mean '--checkFreq'"]),
    (["--nhid", "5", "--maxiter", "3"], ["'--maxiter'", "--maxiters"]),
    (["-x"], ["unexpected argument '-x'"]),
    (["mem"], ["unexpected argument 'mem'"]),
])
def test_unknown_flag(run, args, needles):
    assert_failed(run(TINY + args), 2, *needles)


@pytest.mark.parametrize("args, needles", [
    (["--nhid", "abc"], ["--nhid", "'abc'"]),
    (["--nhid", "0"], ["--nhid", "outside"]),
    (["--maxiters", "1.5"], ["--maxiters", "'1.5'"]),
    (["--lr", "-1"], ["--lr"]),
    (["--lr", "nan"], ["--lr"]),
    (["--task", "copy"], ["--task", "'copy'", "mem"]),
    (["--model", "lstm"], ["--model", "'lstm'"]),
    (["--init", "orthogonal"], ["--init"]),
    (["--clipstyle", "clip"], ["--clipstyle"]),
    (["--device", "tpu"], ["--device"]),
    (["--gru_variant", "cudnn"], ["--gru_variant"]),
    (["--satThresh", "2"], ["--satThresh"]),
    (["--seed", "-1"], ["--seed"]),
    (["--nhid"], ["--nhid expects a value"]),
    (["--nhid", "--bs", "3"], ["--nhid expects a value"]),
    (["--collectDiags=1"], ["--collectDiags takes no value"]),
    (["--name", ""], ["--name"]),
    (["--task", "add", "--min_length", "5"], ["min_length"]),
])
def test_bad_value(run, args, needles):
    assert_failed(run(TINY + args), 2, *needles)


def test_memall_that_cannot_fit_is_refused(run):
    # 5^10 patterns of 220 steps: terabytes.
    assert_failed(run(TINY + ["--memall", "--max_length", "200"]), 1, "--memall", "GiB")


def test_logs_that_cannot_fit_are_refused(run):
    assert_failed(run(TINY + ["--maxiters", "100000000000"]), 1, "--maxiters", "GiB")


def test_unwritable_output_is_refused_before_training(run, tmp_path):
    r = run(TINY + ["--name", "no_such_dir/run"])
    # An output directory that cannot be written is a command-line contradiction (issue 14): exit 2.
    assert_failed(r, 2, "no_such_dir")
    assert "Iter" not in r.out


def test_help(run):
    r = run(["--help"])
    assert r.rc == 0 and r.err == ""
    text = r.out
    for flag in ("task", "model", "init", "nhid", "seed", "alpha", "lr", "min_length", "max_length", "bs", "bound",
                 "clipstyle", "cutoff", "maxiters", "ebs", "cbs", "checkFreq", "err_abs", "valid_seed",
                 "collectDiags", "diagBins", "satThresh", "diagGates", "saveFreq", "name", "memvalues", "mempos",
                 "memall", "device", "gru_variant", "backend", "threads"):
        assert "--" + flag in text, flag
    assert "1 - z" in text  # the z mapping
    assert "total* derivative" in text and "readout" in text  # why g_t differs
    assert "test_torch" in text
    assert run(["--nhid", "5", "-h"]).rc == 0


def test_every_starter_flag_spelt_out(run, tmp_path):
    # All of the starter's flags at once, with its defaults except the sizes: accepted and run.
    args = ["--task", "mem", "--model", "rnn", "--init", "basic_tanh", "--nhid", "8", "--seed", "52", "--alpha", "2.0",
            "--lr", "0.01", "--min_length", "10", "--max_length", "20", "--bs", "20", "--bound", "1e-20",
            "--clipstyle", "rescale", "--cutoff", "1.0", "--maxiters", "21", "--ebs", "20", "--cbs", "10",
            "--checkFreq", "10", "--err_abs", "0.2", "--valid_seed", "12345", "--collectDiags", "--diagBins", "50",
            "--satThresh", "0.05", "--diagGates", "--saveFreq", "5", "--name", "all_flags", "--memvalues", "5",
            "--mempos", "10", "--device", "cpu"]
    r = run(args)
    assert r.rc == 0, r.err
    assert (tmp_path / "all_flags_final_state.npz").exists()
    # --flag=value works too, and the default name is test_torch.
    r = run(TINY + ["--nhid=6"])
    assert r.rc == 0, r.err
    assert (tmp_path / "test_torch_final_state.npz").exists()


def test_gru_alpha_note(run):
    r = run(TINY + ["--model", "gru", "--alpha", "2.0"])
    assert r.rc == 0, r.err
    notes = [l for l in r.out.splitlines() if l.startswith("note: ") and "--alpha" in l]
    assert len(notes) == 1, r.out
    assert "alpha  0.000" in r.out  # what was applied


def test_progress_bar_only_on_a_terminal(trainer, tmp_path):
    # stdout a terminal: the bar is drawn on stderr; the log lines still go to stdout.
    master, slave = pty.openpty()
    # Bytes, not text: text mode would turn the bar's carriage returns into newlines.
    p = subprocess.run([trainer] + TINY, cwd=tmp_path, stdout=slave, stderr=subprocess.PIPE, timeout=60,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    os.close(slave)
    out = b""
    try:
        while True:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    os.close(master)
    assert p.returncode == 0
    assert b"it/s" in p.stderr and b"\r\x1b[K" in p.stderr and b"\n" not in p.stderr
    assert b"Done. solved=" in out
