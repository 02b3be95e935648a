#!/usr/bin/env python3
"""What the binding costs: the loops of tests/c_overhead.c, from Python, next to the C numbers.

    OMP_NUM_THREADS=1 PYTHONPATH=build/bindings/python python3 bindings/python/bench/overhead.py \\
        --c build/bindings/python/py_c_overhead

  step: a T = 1, B = 1 eval step of a GRU (I = 1, H = 181, last-softmax O = 10): Model.forward with
        reset=False (the streaming call), and the raw rnnlab.capi.rnnlab_step with the same buffers
  p2:   GRU I = 7, H = 50, T = 220, B = 20, every-softmax O = 6: forward + backward + clipping +
        SGD update per iteration
Process CPU time (time.process_time here, CLOCK_PROCESS_CPUTIME_ID in C: one thread, so waiting for
a busy CPU does not count), fastest of 5 repeats, microseconds per call; --rounds N alternates
the C and Python measurements N times and keeps the fastest of each. Timings are reported, never asserted."""
import argparse
import statistics
import subprocess
import time

import numpy as np

import rnnlab
from rnnlab import capi


def per_call(fn, n, reps=5):
    """The fastest of `reps` timed runs of n calls (the least disturbed by other load)."""
    out = []
    for _ in range(reps):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        out.append((time.process_time() - t0) / n * 1e6)
    return min(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--c", help="path of py_c_overhead (built by CMake) to run the C side too")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    best = {}
    for _ in range(args.rounds):
        for k, v in measure(args.c).items():
            best[k] = min(best.get(k, v), v)
    report(best)


def measure(c_program):

    m = rnnlab.Model(1, 181, head="last_softmax", output_size=10)
    m.eval()
    x = np.full((1, 1, 1), 0.5, np.float32)
    y = np.empty((1, 1, 10), np.float32)
    m.forward(x, reset=True, out=y)
    step_model = per_call(lambda: m.forward(x, reset=False, out=y), 20000)
    h = m.handle
    step_raw = per_call(lambda: capi.rnnlab_step(y, h, x, 1, 1), 20000)
    hid = np.empty((1, 181), np.float32)
    call_nobuf = per_call(lambda: capi.rnnlab_set_training(h, 0), 100000)  # a call with no buffer, no work
    call_buf = per_call(lambda: capi.rnnlab_get_hidden(hid, h), 100000)   # one checked buffer, 181 floats
    m.close()

    T, B, I, H, O = 220, 20, 7, 50, 6
    rng = np.random.default_rng(12345)
    xs = rng.random((T, B, I), dtype=np.float32)
    cl = rng.integers(0, O, (T, B)).astype(np.int32)
    p = rnnlab.Model(I, H, head="every_softmax", output_size=O)
    p.set_optimizer("sgd", lr=0.01, clip=1.0)
    yp = np.empty((T, B, O), np.float32)

    def p2():
        p.forward(xs, out=yp)
        p.backward(cl)
        p.update()
    p2_model = per_call(p2, 200)
    ph = p.handle
    tg = (cl.reshape(-1), None, None)

    def p2_raw():  # the C calls of the C loop, one for one, through rnnlab.capi
        capi.rnnlab_reset(ph)
        capi.rnnlab_step(yp, ph, xs, T, B)
        capi.rnnlab_backward(ph, tg)
        capi.rnnlab_update(ph)
    p2_capi = per_call(p2_raw, 200)
    p.close()

    res = {"step_model": step_model, "step_raw": step_raw, "p2_model": p2_model, "call_nobuf": call_nobuf,
           "call_buf": call_buf, "p2_capi": p2_capi}
    if c_program:
        r = subprocess.run([c_program], capture_output=True, text=True, check=True)
        c = dict(line.split() for line in r.stdout.splitlines())
        res["step_c"], res["p2_c"] = float(c["step_us"]), float(c["p2_us"])
    return res


def report(r):
    step_model, step_raw, p2_model = r["step_model"], r["step_raw"], r["p2_model"]
    print(f"call  capi, no buffer             {r['call_nobuf']:9.2f} us   (rnnlab_set_training: GIL release, status check)")
    print(f"call  capi, one float32 buffer    {r['call_buf']:9.2f} us   (rnnlab_get_hidden of 181 values)")
    print(f"step  Model.forward(reset=False)  {step_model:9.2f} us")
    print(f"step  capi.rnnlab_step            {step_raw:9.2f} us")
    print(f"p2    Model: forward+backward+update {p2_model:6.0f} us")
    print(f"p2    capi: the same C calls      {r['p2_capi']:9.0f} us")
    if "step_c" in r:
        cs, cp = r["step_c"], r["p2_c"]
        print(f"step  C rnnlab_step               {cs:9.2f} us   (binding adds {step_model - cs:.2f} us via Model, "
              f"{step_raw - cs:.2f} us raw)")
        print(f"p2    C                           {cp:9.0f} us   (Model adds {p2_model - cp:.0f} us = "
              f"{100 * (p2_model - cp) / cp:.1f} %, capi {r['p2_capi'] - cp:.0f} us)")


if __name__ == "__main__":
    main()
