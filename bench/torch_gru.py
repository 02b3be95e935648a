#!/usr/bin/python3
"""PyTorch anchor for rnnlab's benchmarks (spec/performance.md, shapes P1-P3).

Times what a PyTorch user would run for each shape — nn.GRU (the linear-before-reset GRU) + an
nn.Linear readout + cross-entropy — on the CPU, at the thread counts given:

  P1       s-CIFAR: I=1, H=181, T=1024, B=64, softmax over 10 classes at the last step; forward + backward
  P2       CS728 mem task training: I=7, H=50, T=220, B=20, softmax over 6 classes at every step
           (loss = mean over T*B); forward + backward
  P2-full  P2 plus what completes a training iteration: gradient clipping (global norm, cutoff 1.0) and a
           plain SGD update — the CS728 trainer's step
  P3       CS728 validation chunk: P2's model at B=1000, forward only under torch.no_grad(), with the loss
           and the mem task's per-sequence error (wrong if any step's argmax is wrong)

Each (shape, threads) is warmed up, then timed N times; stdout gets one JSON line per (shape, threads)
with median/min/max in ms, stderr a readable table. Run with the system Python (Debian python3-torch
is installed for it only) and OMP_NUM_THREADS set explicitly, e.g.

  OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_gru.py                 # threads 1,2, all shapes
  OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_gru.py --quick --threads 1
  /usr/bin/time -v /usr/bin/python3 bench/torch_gru.py --p1-only        # peak memory of one P1 step

Input data are random (fixed seed): the time of a dense GRU does not depend on the values.
"""

import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    # name: sizes, classes, head ("last" | "every"), what is timed
    "P1": dict(I=1, H=181, T=1024, B=64, O=10, head="last", pass_="fwd+bwd"),
    "P2": dict(I=7, H=50, T=220, B=20, O=6, head="every", pass_="fwd+bwd"),
    "P2-full": dict(I=7, H=50, T=220, B=20, O=6, head="every", pass_="fwd+bwd+clip+sgd"),
    "P3": dict(I=7, H=50, T=220, B=1000, O=6, head="every", pass_="fwd+loss+error"),
}

# (warm-up, timed repetitions): P1 costs ~1 s per step at 1 thread and ~3x that at 2 threads on the
# 2-vCPU machine, so it gets few; P2 is tens of ms and noisy, so it gets many.
REPS = {"P1": (1, 5), "P2": (5, 30), "P2-full": (5, 30), "P3": (2, 7)}
REPS_QUICK = {"P1": (1, 2), "P2": (2, 10), "P2-full": (2, 10), "P3": (1, 3)}


class Problem:
    """Model, optimiser and one batch of data for one shape, built once, outside the timing."""

    def __init__(self, name, seed=0):
        s = SHAPES[name]
        self.name, self.s = name, s
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # nn.GRU / nn.Linear default init
        self.rnn = nn.GRU(s["I"], s["H"])  # time-major (T, B, I), as rnnlab's tasks
        self.head = nn.Linear(s["H"], s["O"])
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.SGD(self.params, lr=0.01)
        T, B, I, O = s["T"], s["B"], s["I"], s["O"]
        if s["head"] == "last":
            # s-CIFAR: one (normalised) pixel per step; one label per sequence
            self.x = torch.randn(T, B, I, generator=g)
            self.y = torch.randint(0, O, (B,), generator=g)
        else:
            # mem task: one-hot symbols per step; a label at every step
            self.x = F.one_hot(torch.randint(0, I, (T, B), generator=g), I).float()
            self.y = torch.randint(0, O, (T, B), generator=g)

    def _loss(self):
        out, _ = self.rnn(self.x)  # h0 = 0
        if self.s["head"] == "last":
            logits = self.head(out[-1])
            return F.cross_entropy(logits, self.y), logits
        logits = self.head(out)  # (T, B, O)
        return F.cross_entropy(logits.reshape(-1, self.s["O"]), self.y.reshape(-1)), logits

    def step(self):
        """One timed unit of work; returns a number so that nothing is left unevaluated."""
        if self.name == "P3":
            with torch.no_grad():
                loss, logits = self._loss()
                wrong = (logits.argmax(-1) != self.y).any(dim=0)  # per sequence: any step wrong
                return loss.item() + wrong.float().mean().item()
        self.opt.zero_grad(set_to_none=True)
        loss, _ = self._loss()
        loss.backward()
        if self.name == "P2-full":
            torch.nn.utils.clip_grad_norm_(self.params, 1.0)
            self.opt.step()
        return loss.item()


def time_shape(name, threads, quick):
    torch.set_num_threads(threads)
    p = Problem(name)
    warm, reps = (REPS_QUICK if quick else REPS)[name]
    for _ in range(warm):
        p.step()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        p.step()
        ms.append((time.perf_counter() - t0) * 1e3)
    s = SHAPES[name]
    return {
        "anchor": "pytorch",
        "torch": torch.__version__,
        "shape": name,
        "pass": s["pass_"],
        "I": s["I"], "H": s["H"], "T": s["T"], "B": s["B"], "O": s["O"],
        "threads": threads,
        "reps": reps,
        "median_ms": round(statistics.median(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    ap.add_argument("--shapes", default="P1,P2,P2-full,P3", help="comma-separated subset of " + ",".join(SHAPES))
    ap.add_argument("--quick", action="store_true", help="fewer warm-up and timed repetitions")
    ap.add_argument("--p1-only", action="store_true",
                    help="build P1 and run one forward+backward at the first thread count, then exit "
                         "(for peak memory under /usr/bin/time -v)")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",") if t.strip()]
    shapes = [s.strip() for s in a.shapes.split(",") if s.strip()]
    for s in shapes:
        if s not in SHAPES:
            ap.error(f"unknown shape {s!r}")

    if a.p1_only:
        torch.set_num_threads(threads[0])
        p = Problem("P1")
        t0 = time.perf_counter()
        p.step()
        ms = (time.perf_counter() - t0) * 1e3
        rec = {"anchor": "pytorch", "torch": torch.__version__, "shape": "P1", "pass": "fwd+bwd (single, cold)",
               "threads": threads[0], "ms": round(ms, 3), "peak_rss_mib": round(peak_rss_mib(), 1)}
        print(json.dumps(rec), flush=True)
        print(f"P1 once at {threads[0]} thread(s): {ms:.1f} ms, peak RSS {rec['peak_rss_mib']:.0f} MiB",
              file=sys.stderr)
        return

    rows = []
    for t in threads:  # threads outer: set_num_threads once per block, not per shape
        for name in shapes:
            r = time_shape(name, t, a.quick)
            rows.append(r)
            print(json.dumps(r), flush=True)

    print(f"\nPyTorch {torch.__version__} CPU nn.GRU anchor (ms; median of reps after warm-up)", file=sys.stderr)
    print(f"{'shape':<9} {'pass':<18} {'threads':>7} {'reps':>5} {'median':>10} {'min':>10} {'max':>10}",
          file=sys.stderr)
    for r in rows:
        print(f"{r['shape']:<9} {r['pass']:<18} {r['threads']:>7} {r['reps']:>5} {r['median_ms']:>10.2f} "
              f"{r['min_ms']:>10.2f} {r['max_ms']:>10.2f}", file=sys.stderr)
    print(f"peak RSS of this process: {peak_rss_mib():.0f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
