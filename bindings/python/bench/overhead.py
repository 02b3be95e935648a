#!/usr/bin/env python3
"""What the binding costs: the loops of tests/c_overhead.c, from Python, next to the C numbers.

    OMP_NUM_THREADS=1 PYTHONPATH=build/bindings/python python3 bindings/python/bench/overhead.py \\
        --c build/bindings/python/py_c_overhead

  step: a T = 1, B = 1 eval step of a GRU (I = 1, H = 181, last-softmax O = 10): Model.forward with
        reset=False (the streaming call), and the raw rnnlab.capi.rnnlab_step with the same buffers
  p2:   GRU I = 7, H = 50, T = 220, B = 20, every-softmax O = 6: forward + backward + clipping +
        SGD update per iteration
Medians of 5 repeats, microseconds per call. Timings are reported, never asserted."""
import argparse
import statistics
import subprocess
import time

import numpy as np

import rnnlab
from rnnlab import capi


def per_call(fn, n, reps=5):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--c", help="path of py_c_overhead (built by CMake) to run the C side too")
    args = ap.parse_args()

    m = rnnlab.Model(1, 181, head="last_softmax", output_size=10)
    m.eval()
    x = np.full((1, 1, 1), 0.5, np.float32)
    y = np.empty((1, 1, 10), np.float32)
    m.forward(x, reset=True, out=y)
    step_model = per_call(lambda: m.forward(x, reset=False, out=y), 20000)
    h = m.handle
    step_raw = per_call(lambda: capi.rnnlab_step(y, h, x, 1, 1), 20000)
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
    p.close()

    print(f"step  Model.forward(reset=False)  {step_model:9.2f} us")
    print(f"step  capi.rnnlab_step            {step_raw:9.2f} us")
    print(f"p2    forward+backward+update     {p2_model:9.2f} us")
    if args.c:
        r = subprocess.run([args.c], capture_output=True, text=True, check=True)
        c = dict(line.split() for line in r.stdout.splitlines())
        cs, cp = float(c["step_us"]), float(c["p2_us"])
        print(f"step  C rnnlab_step               {cs:9.2f} us   (binding adds {step_model - cs:.2f} us via Model, "
              f"{step_raw - cs:.2f} us raw)")
        print(f"p2    C                           {cp:9.2f} us   (binding adds {p2_model - cp:.2f} us, "
              f"{100 * (p2_model - cp) / cp:.1f} %)")


if __name__ == "__main__":
    main()
