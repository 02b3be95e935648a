#!/usr/bin/env python3
"""Turn an rnnlab .npz file into PNG plots.

    python3 tools/rnnlab_plot.py FILE.npz [--out DIR]

Three kinds of file are recognised by their keys:

* CS728-style files (`rnnlab-train --task ...`: grad_time, sat_time, valid_error, rho_Whh, ...): the
  handout's plots -- the log10 g_t histogram and the saturation histograms (hidden units, and the z / r
  gates when recorded) of the last *filled* check (a run that solved its task early leaves the last rows
  NaN, where the handout's `grad_time[-1]` would plot nothing), the validation error and rho over
  training, plus log10 g_t against t for the first and last filled checks.
* Sequential-image files (`rnnlab-train images` / `ablation`, marked by `rnnlab_images_format`): the
  per-epoch curves (train loss, test accuracy, gradient norm, mean z, z pre-activation, ||W_hz||) with
  both models of an ablation on the same axes, the per-update loss and gradient norm, and each model's
  log10 g_t and E[z_t] against t, epoch by epoch, side by side.
* Anything else (e.g. rnnlab_export_npz's parameters): a histogram of every float array.

The PNGs go to --out (default: the npz file's directory), named after the file; their paths are
printed, one a line. Only numpy and matplotlib (Agg backend: no display needed) are used.
"""

import argparse
import os
import sys

import numpy as np
import matplotlib

matplotlib.use("Agg")  # files only: works on machines without a display
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"baseline": "tab:blue", "ablated": "tab:red", "": "tab:blue"}


def last_filled_row(a):
    """Index of the last row with a finite value, or None (rows past an early stop stay NaN)."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    filled = [i for i in range(a.shape[0]) if np.isfinite(a[i]).any()]
    return filled[-1] if filled else None


def first_filled_row(a):
    a = np.asarray(a, dtype=float)
    filled = [i for i in range(a.shape[0]) if np.isfinite(a[i]).any()]
    return filled[0] if filled else None


class Writer:
    def __init__(self, out_dir, stem):
        self.out_dir, self.stem, self.paths = out_dir, stem, []

    def save(self, fig, what):
        path = os.path.join(self.out_dir, f"{self.stem}_{what}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        self.paths.append(path)


# ---------------------------------------------------------------------------------------------------
# CS728-style files
# ---------------------------------------------------------------------------------------------------
def plot_cs728(z, w):
    keys = set(z.files)
    check_freq = int(z["checkFreq"]) if "checkFreq" in keys else 1
    bins = 60  # the handout's histograms use 60 bins

    if "grad_time" in keys:
        g_all = z["grad_time"]
        row = last_filled_row(g_all)
        if row is not None:
            g = g_all[row]
            g = g[np.isfinite(g)]
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.hist(np.log10(g + 1e-12), bins=bins)
            ax.set_title(f"log10 ||dL/dh_t||  (check {row}, iteration {row * check_freq})")
            ax.set_xlabel("log10 g_t")
            ax.set_ylabel("steps")
            w.save(fig, "grad_hist")

            first = first_filled_row(g_all)
            fig, ax = plt.subplots(figsize=(7, 4))
            for r, style in ((first, "--"), (row, "-")):
                gr = g_all[r]
                t = np.arange(1, gr.size + 1)
                ok = np.isfinite(gr)
                ax.plot(t[ok], np.log10(gr[ok] + 1e-12), style, label=f"check {r} (iteration {r * check_freq})")
            ax.set_xlabel("t")
            ax.set_ylabel("log10 g_t")
            ax.set_title("where the gradient lives in time")
            ax.legend()
            w.save(fig, "grad_time")

    sat_keys = [(k, title) for k, title in (("sat_time", "hidden units"), ("gate_z_sat_time", "z gate"),
                                            ("gate_r_sat_time", "r gate")) if k in keys]
    panels = []
    for k, title in sat_keys:
        row = last_filled_row(z[k])
        if row is not None:
            s = z[k][row]
            panels.append((title, s[np.isfinite(s)], row))
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
        for ax, (title, s, row) in zip(axes[0], panels):
            ax.hist(s, bins=bins, range=(0, 1))
            ax.set_title(f"saturation distance, {title} (check {row})")
            ax.set_xlabel("distance to saturation")
        w.save(fig, "saturation")

    for key, what, ylabel in (("valid_error", "valid_error", "validation error (%)"), ("rho_Whh", "rho", "rho(W_hh)")):
        if key not in keys:
            continue
        v = np.asarray(z[key], dtype=float)
        ok = np.isfinite(v) & (v != -1)  # -1 marks a check that did not run
        if not ok.any():
            continue
        it = np.arange(v.size) * check_freq
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(it[ok], v[ok], marker="." if ok.sum() < 50 else None)
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        ax.set_title(ylabel + " over training")
        w.save(fig, what)

    if "train_nll" in keys:
        v = np.asarray(z["train_nll"], dtype=float)
        ok = np.isfinite(v) & (v != -1)
        if ok.any():
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot(np.arange(v.size)[ok], v[ok], lw=0.5)
            ax.set_xlabel("iteration")
            ax.set_ylabel("train nll")
            ax.set_title("training loss per iteration")
            w.save(fig, "train_nll")


# ---------------------------------------------------------------------------------------------------
# Sequential-image files (images / ablation)
# ---------------------------------------------------------------------------------------------------
def model_prefixes(z):
    """The models of the file: [("baseline", "baseline_"), ("ablated", "ablated_")] or [("", "")]."""
    found = [(p.rstrip("_"), p) for p in ("baseline_", "ablated_") if p + "test_acc" in z.files]
    return found or [("", "")]


def plot_images(z, w):
    models = model_prefixes(z)
    epoch = np.asarray(z["epoch"]) if "epoch" in z.files else None

    panels = [
        ("train_loss", "train loss (mean over the epoch)", False),
        ("test_acc", "test accuracy (%)", False),
        ("grad_norm_mean", "gradient norm before clipping (mean; max dashed)", True),
        ("z_mean", "mean update gate E[z] (fixed batch)", False),
        ("z_preact", "mean z pre-activation (fixed batch)", False),
        ("W_hz_norm", "||W_hz|| (Frobenius)", False),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, (key, title, logy) in zip(axes.ravel(), panels):
        for label, p in models:
            if p + key not in z.files:
                continue
            v = np.asarray(z[p + key], dtype=float)
            x = epoch if epoch is not None and epoch.size == v.size else np.arange(v.size)
            ok = np.isfinite(v)
            ax.plot(x[ok], v[ok], marker="o", ms=3, color=COLORS.get(label, None), label=label or None)
            if key == "grad_norm_mean" and p + "grad_norm_max" in z.files:
                m = np.asarray(z[p + "grad_norm_max"], dtype=float)
                okm = np.isfinite(m)
                ax.plot(x[okm], m[okm], ls="--", color=COLORS.get(label, None), alpha=0.6)
        if key == "z_mean":
            ax.axhline(0.5, color="gray", lw=0.5, ls=":")
            ax.axhline(1 / (1 + np.exp(-1)), color="gray", lw=0.5, ls=":")
        if logy:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch (0 = at initialisation)")
        if len(models) > 1:
            ax.legend()
    suptitle = "seed-000 ablation: baseline (b_z, b_r learnable from +1) vs ablated (frozen at 0)" if len(models) > 1 \
        else "sequential-image training"
    fig.suptitle(suptitle)
    w.save(fig, "curves")

    # Per update: the loss spikes of a "BPTT cliff" and the gradient norms behind them.
    fig, axes = plt.subplots(1, 2, figsize=(14, 4))
    per_epoch = int(z["updates_per_epoch"]) if "updates_per_epoch" in z.files else None
    for label, p in models:
        if p + "step_loss" not in z.files:
            continue
        loss = np.asarray(z[p + "step_loss"], dtype=float)
        g = np.asarray(z[p + "step_grad_norm"], dtype=float)
        u = np.arange(1, loss.size + 1)
        x = u / per_epoch if per_epoch else u
        axes[0].plot(x, loss, lw=0.6, color=COLORS.get(label, None), label=label or None)
        axes[1].plot(x, g, lw=0.6, color=COLORS.get(label, None), label=label or None)
    axes[0].set_title("training loss per update")
    axes[1].set_title("gradient norm per update (before clipping)")
    axes[1].set_yscale("log")
    if "clip" in z.files and float(z["clip"]) > 0:
        axes[1].axhline(float(z["clip"]), color="gray", ls=":", lw=0.8, label="clip")
    for ax in axes:
        ax.set_xlabel("epoch" if per_epoch else "update")
        ax.legend()
    w.save(fig, "steps")

    # Each model's fixed-batch traces against t, one line per epoch: g_t (vanishing shows as a steep
    # fall towards t = 1) and E[z_t].
    for key, title, transform, what in (
        ("grad_time", "log10 ||dL/dh_t||", lambda a: np.log10(a + 1e-12), "grad_time"),
        ("gate_z_mean_time", "E[z_t]", lambda a: a, "z_time"),
    ):
        present = [(label, p) for label, p in models if p + key in z.files]
        if not present:
            continue
        fig, axes = plt.subplots(1, len(present), figsize=(7 * len(present), 4.5), squeeze=False, sharey=True)
        for ax, (label, p) in zip(axes[0], present):
            a = np.asarray(z[p + key], dtype=float)
            cmap = plt.get_cmap("viridis")
            rows = [r for r in range(a.shape[0]) if np.isfinite(a[r]).any()]
            for i, r in enumerate(rows):
                t = np.arange(1, a.shape[1] + 1)
                ok = np.isfinite(a[r])
                ax.plot(t[ok], transform(a[r][ok]), lw=0.8, color=cmap(i / max(1, len(rows) - 1)),
                        label=f"epoch {r}" if r in (rows[0], rows[-1]) or len(rows) <= 10 else None)
            ax.set_title(f"{label + ': ' if label else ''}{title} over t (fixed batch)")
            ax.set_xlabel("t (step of the sequence)")
            ax.legend(fontsize=8)
        w.save(fig, what)


# ---------------------------------------------------------------------------------------------------
# Anything else: a histogram per float array
# ---------------------------------------------------------------------------------------------------
def plot_generic(z, w):
    arrays = [(k, np.asarray(z[k])) for k in z.files]
    arrays = [(k, a) for k, a in arrays if a.dtype.kind == "f" and a.size > 1]
    if not arrays:
        return
    n = len(arrays)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.5 * rows), squeeze=False)
    for ax, (k, a) in zip(axes.ravel(), arrays):
        v = a.ravel()
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=60)
        ax.set_title(f"{k} {tuple(a.shape)}")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    w.save(fig, "arrays")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plot an rnnlab .npz file (CS728 run, image/ablation run, or parameters).")
    ap.add_argument("file", help="the .npz file")
    ap.add_argument("--out", help="output directory (default: the file's directory)")
    args = ap.parse_args(argv)

    try:
        z = np.load(args.file)
    except (OSError, ValueError) as e:
        print(f"rnnlab_plot: cannot read {args.file}: {e}", file=sys.stderr)
        return 1
    out = args.out or os.path.dirname(os.path.abspath(args.file))
    os.makedirs(out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.file))[0]
    w = Writer(out, stem)
    keys = set(z.files)
    if "rnnlab_images_format" in keys or "test_acc" in keys or "baseline_test_acc" in keys:
        plot_images(z, w)
    elif keys & {"grad_time", "sat_time", "valid_error", "rho_Whh"}:
        plot_cs728(z, w)
    else:
        plot_generic(z, w)
    if not w.paths:
        print(f"rnnlab_plot: nothing to plot in {args.file}", file=sys.stderr)
        return 1
    for p in w.paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
