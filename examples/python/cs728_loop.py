#!/usr/bin/env python3
"""The CS728 training loop over the binding: a GRU on the memorisation task (recall `mempos` symbols
after L blank steps), SGD with norm clipping, and diagnostics every N steps: loss, gradient norms
before/after clipping, validation error, Omega, and where the gradient lives in time (the grad_time
summary), all computed by rnnlab inside the pass. The log is written as an .npz.

    python3 examples/python/cs728_loop.py --steps 2000 --check-every 100
"""
import argparse

import numpy as np

import rnnlab

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--steps", type=int, default=2000)
ap.add_argument("--check-every", type=int, default=100)
ap.add_argument("--hidden", type=int, default=50)
ap.add_argument("--batch", type=int, default=20)
ap.add_argument("--min-length", type=int, default=50)
ap.add_argument("--max-length", type=int, default=200)
ap.add_argument("--lr", type=float, default=0.01)
ap.add_argument("--cutoff", type=float, default=1.0)
ap.add_argument("--seed", type=int, default=52)
ap.add_argument("--out", default="cs728_log.npz")
args = ap.parse_args()

task = rnnlab.Task("mem", min_length=args.min_length, max_length=args.max_length, memvalues=5, mempos=10,
                   seed=args.seed)
valid = rnnlab.Task("mem", min_length=args.min_length, max_length=args.max_length, memvalues=5, mempos=10,
                    seed=args.seed + 1)
x_val, c_val = valid.draw(100, length=args.max_length)   # the CS728 diagnostic batch: the longest L

m = rnnlab.Model(input_size=task.input_size, hidden_size=args.hidden, cell="gru_reset_before", head=task.head,
                 output_size=task.output_size, init="cs728_gru", bias_mode="single", seed=args.seed)
m.set_optimizer("sgd", lr=args.lr, clip="rescale", cutoff=args.cutoff)

log = {k: [] for k in ("step", "loss", "grad_norm", "grad_norm_post_clip", "valid_error", "omega",
                       "g_p05", "g_p50", "g_p95", "z_mean")}
for step, (x, c) in enumerate(task.batches(args.batch, n=args.steps), start=1):
    m.forward(x)
    loss = m.backward(c)
    m.update()
    if step % args.check_every == 0 or step == args.steps:
        d = m.diagnostics()                       # of this step's pass and update
        m.set_diag_level("full")                  # one fully instrumented pass on the diagnostic batch
        m.forward(x_val)
        m.backward(c_val)
        m.zero_grad()                             # measured, not trained on
        _, wrong = m.loss(c_val, count_wrong=True)
        dv = m.diagnostics()
        g = m.summary("grad_time")                # of log10(g_t + 1e-12)
        z = m.trace("gate_z_mean_time").mean()
        m.set_diag_level("off")
        for k, v in (("step", step), ("loss", loss), ("grad_norm", d.grad_norm),
                     ("grad_norm_post_clip", d.grad_norm_post_clip), ("valid_error", 100.0 * wrong / len(x_val[0])),
                     ("omega", dv.omega), ("g_p05", g.p05), ("g_p50", g.p50), ("g_p95", g.p95), ("z_mean", z)):
            log[k].append(v)
        print(f"step {step:6d}  loss {loss:.4f}  |g| {d.grad_norm:8.4f} -> {d.grad_norm_post_clip:.4f}  "
              f"valid error {log['valid_error'][-1]:5.1f}%  omega {dv.omega:.3g}  "
              f"log10 g_t p05/p50/p95 {g.p05:.2f}/{g.p50:.2f}/{g.p95:.2f}  E[z] {z:.3f}")

with rnnlab.NpzWriter() as w:
    for k, v in log.items():
        w.add(k, np.asarray(v, dtype=np.int64 if k == "step" else np.float64))
    w.add_params(m, prefix="model.")
    w.save(args.out)
print("wrote", args.out)
m.close()
