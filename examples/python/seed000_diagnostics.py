#!/usr/bin/env python3
"""Seed 000 in a few dozen lines: a baseline GRU against one with its gate biases b_z, b_r frozen at 0,
on sequential Fashion-MNIST, a few hundred updates each; then g_t = ||dL/dh_t|| and E[z_t] over t of
both, from one diagnostic pass on a held-out batch, plotted to a PNG.

    python3 examples/python/seed000_diagnostics.py --out seed000.png
    python3 examples/python/seed000_diagnostics.py --mode rows --updates 20 --out quick.png   # seconds
"""
import argparse
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import rnnlab  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
ap.add_argument("--mode", choices=["pixels", "rows"], default="pixels", help="one step per pixel (T=784) or per row")
ap.add_argument("--updates", type=int, default=300)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--hidden", type=int, default=128)
ap.add_argument("--lr", type=float, default=2e-3)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--out", default="seed000_diagnostics.png")
args = ap.parse_args()

train = rnnlab.fashion_mnist(args.data_dir, train=True, mode=args.mode, normalize=True, mean=(0.286, 0, 0),
                             std=(0.353, 1, 1), limit=args.updates * args.batch)
test = rnnlab.fashion_mnist(args.data_dir, train=False, mode=args.mode, normalize=True, mean=(0.286, 0, 0),
                            std=(0.353, 1, 1), limit=512)
x_test, y_test = test.batch(np.arange(256))

variants = {"baseline": {}, "b_z = b_r = 0 (frozen)": {"frozen_biases": {"z": 0.0, "r": 0.0}}}
results = {}
for label, extra in variants.items():
    with rnnlab.Model(input_size=train.input_size, hidden_size=args.hidden, head="last_softmax", output_size=10,
                      init="orthogonal", seed=0, threads=args.threads, **extra) as m:
        m.set_optimizer("adam", lr=args.lr, clip=1.0)
        t0 = time.perf_counter()
        for i, (x, y) in enumerate(train.batches(args.batch, seed=0, drop_last=True)):
            m.forward(x)
            loss = m.backward(y)
            m.update()
            if i % 50 == 0:
                print(f"{label:>24}  update {i:4d}  loss {loss:.3f}  grad_norm {m.diagnostics().grad_norm:.3f}")
        secs = time.perf_counter() - t0
        # one diagnostic pass on held-out data: every trace, no update
        m.set_diag_level("full")
        m.forward(x_test)
        test_loss = m.backward(y_test)
        m.zero_grad()
        _, wrong = m.loss(y_test, count_wrong=True)  # outputs of the last forward
        results[label] = dict(g=m.trace("grad_time"), z=m.trace("gate_z_mean_time"), loss=test_loss,
                              acc=1 - wrong / len(y_test), secs=secs)
        print(f"{label:>24}  {secs:.1f} s, held-out loss {test_loss:.3f}, accuracy {results[label]['acc']:.3f}")

fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
for label, r in results.items():
    t = np.arange(1, len(r["g"]) + 1)
    a1.plot(t, np.log10(r["g"] + 1e-12), label=f"{label} (acc {r['acc']:.2f})")
    a2.plot(t, r["z"], label=label)
a1.set(xlabel="t", ylabel="log10 g_t = log10 mean_b ||dL/dh_t||", title="where the gradient lives in time")
a2.set(xlabel="t", ylabel="E[z_t]", title="update gate (z = 1 keeps the past)")
for a in (a1, a2):
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
fig.suptitle(f"GRU H={args.hidden} on sequential Fashion-MNIST ({args.mode}), {args.updates} Adam updates")
fig.tight_layout()
fig.savefig(args.out, dpi=110)
print("wrote", args.out)
