#!/usr/bin/env python3
"""Turns bench/run.sh's raw results (a directory) into one Markdown table with ratios.

Ratios are taken only between figures measured in the same invocation: rnnlab / oneDNN fused at the
same thread count, and PyTorch's best thread count / rnnlab at 2 threads (performance.md's goals).
"""
import json
import os
import re
import sys


def load_gb(path):
    """Google Benchmark JSON -> {name without the aggregate suffix: median ms}."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        data = json.load(f)
    for b in data.get("benchmarks", []):
        name = b["name"]
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") != "median":
                continue
            name = re.sub(r"_median$", "", name)
        # Google Benchmark appends run options to the name: keep only the benchmark and its arguments.
        name = re.sub(r"/(iterations|min_time|repeats):[^/]*", "", name).replace("/real_time", "")
        scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b.get("time_unit", "ms")]
        out[name] = b["real_time"] * scale
        if "us_per_step" in b:
            out[name + "#us_per_step"] = b["us_per_step"]
    return out


def load_torch(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    r = json.loads(line)
                    if "median_ms" in r:
                        out[(r["shape"], r["threads"])] = r["median_ms"]
    return out


def max_rss_mib(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            if "Maximum resident set size" in line:
                return int(line.split(":")[1]) / 1024.0
    return None


def fmt(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main():
    d = sys.argv[1]
    anchor = load_gb(os.path.join(d, "anchor.json"))
    rn = load_gb(os.path.join(d, "rnnlab.json"))
    rn.update(load_gb(os.path.join(d, "reference.json")))
    rn.update(load_gb(os.path.join(d, "reference_p1.json")))
    scal = load_gb(os.path.join(d, "scaling.json"))
    torch = load_torch(os.path.join(d, "torch.jsonl"))
    torch_deb = load_torch(os.path.join(d, "torch_debian.jsonl"))

    def version(name):
        path = os.path.join(d, name)
        return open(path).read().strip() if os.path.exists(path) else "?"

    tv, tdv = version("torch_version.txt"), version("torch_debian_version.txt")
    lines = []
    p = lines.append
    if os.path.exists(os.path.join(d, "machine.txt")):
        with open(os.path.join(d, "machine.txt")) as f:
            for line in f:
                p(line.rstrip() + "  ")
        p("")
    cells = [(0, "lbr_gru", "GRU (PyTorch/cuDNN, linear before reset)"), (1, "gru", "GRU reset-before (CS728)")]
    levels = {0: "off", 1: "summary", 2: "full"}
    shapes = [("P1", "fwd_bwd", "forward + backward"), ("P2", "fwd_bwd", "forward + backward"),
              ("P3", "fwd_train", "forward (eval) + loss + error")]
    torch_key = {"P1": "P1", "P2": "P2", "P3": "P3"}
    p("| shape | cell | what | 1 thread ms | × fused | 2 threads ms | × fused |")
    p("|---|---|---|---:|---:|---:|---:|")
    best_rn2 = {}
    for shape, apass, what in shapes:
        for ci, akey, cname in cells:
            a1 = anchor.get(f"{shape}/{akey}/{apass}/threads:1")
            a2 = anchor.get(f"{shape}/{akey}/{apass}/threads:2")
            p(f"| {shape} | {cname} | oneDNN fused primitive ({apass}) | {fmt(a1)} | 1.00 | {fmt(a2)} | 1.00 |")
            lvls = [0] if shape == "P3" else [0, 1, 2]
            for lv in lvls:
                r1 = rn.get(f"BM_{shape}/backend:1/cell:{ci}/level:{lv}/threads:1")
                r2 = rn.get(f"BM_{shape}/backend:1/cell:{ci}/level:{lv}/threads:2")
                if ci == 0 and (shape != "P3" and lv == 2 or shape == "P3"):
                    best_rn2[shape] = r2
                p(f"| {shape} | {cname} | rnnlab cpu, diagnostics {levels[lv]} | {fmt(r1)} | {fmt(ratio(r1, a1), 2)} "
                  f"| {fmt(r2)} | {fmt(ratio(r2, a2), 2)} |")
            ref = rn.get(f"BM_{shape}_reference/backend:0/cell:{ci}/level:2/threads:1") or \
                rn.get(f"BM_{shape}/backend:0/cell:{ci}/level:{0 if shape == 'P3' else 2}/threads:1")
            if ref is not None:
                p(f"| {shape} | {cname} | rnnlab reference backend | {fmt(ref)} | {fmt(ratio(ref, a1), 2)} | | |")
        for tt, label in ((torch, f"PyTorch {tv} (PyPI)"), (torch_deb, f"PyTorch {tdv} (Debian)")):
            t1, t2 = tt.get((torch_key[shape], 1)), tt.get((torch_key[shape], 2))
            if t1 is not None or t2 is not None:
                p(f"| {shape} | GRU | {label} nn.GRU {what} | {fmt(t1)} | | {fmt(t2)} | |")
    it1 = rn.get("BM_P2iter/backend:1/cell:0/level:0/threads:1")
    it2 = rn.get("BM_P2iter/backend:1/cell:0/level:0/threads:2")
    p(f"| P2 | GRU (PyTorch/cuDNN) | rnnlab whole iteration (fwd + bwd + clip + SGD) | {fmt(it1)} | | {fmt(it2)} | |")
    for tt, label in ((torch, f"PyTorch {tv} (PyPI)"), (torch_deb, f"PyTorch {tdv} (Debian)")):
        tf1, tf2 = tt.get(("P2-full", 1)), tt.get(("P2-full", 2))
        if tf1 is not None:
            p(f"| P2 | GRU | {label} whole iteration (fwd + bwd + clip + SGD) | {fmt(tf1)} | | {fmt(tf2)} | |")
    p("")
    if torch:
        p(f"Against PyTorch {tv} from PyPI (PyTorch/cuDNN GRU; PyTorch at its best thread count): rnnlab at 2 "
          "threads, and at its best thread count")
        p("")
        for shape, label in [("P1", "P1 (rnnlab full diagnostics)"), ("P2", "P2 fwd+bwd (rnnlab full diagnostics)"),
                             ("P3", "P3")]:
            tb = min([v for (s, t), v in torch.items() if s == shape] or [None]) if any(
                s == shape for (s, _) in torch) else None
            lv = 0 if shape == "P3" else 2
            r1 = rn.get(f"BM_{shape}/backend:1/cell:0/level:{lv}/threads:1")
            best = min([v for v in (r1, best_rn2.get(shape)) if v is not None] or [None])
            p(f"- {label}: {fmt(ratio(tb, best_rn2.get(shape)), 1)}× faster at 2 threads, "
              f"{fmt(ratio(tb, best), 1)}× at rnnlab's best")
        tb = min([v for (s, t), v in torch.items() if s == "P2-full"] or [None])
        best_it = min([v for v in (it1, it2) if v is not None] or [None])
        p(f"- P2 whole iteration: {fmt(ratio(tb, it2), 1)}× faster at 2 threads, {fmt(ratio(tb, best_it), 1)}× at "
          f"rnnlab's best")
        p("")
    mem = max_rss_mib(os.path.join(d, "p1_mem.txt"))
    tmem = max_rss_mib(os.path.join(d, "torch_p1_mem.txt"))
    p(f"P1 peak resident memory, rnnlab alone (CPU backend, full diagnostics): {fmt(mem, 0)} MiB"
      + (f"; PyTorch's process for P1: {fmt(tmem, 0)} MiB" if tmem else ""))
    p("")
    rows = sorted((k for k in scal if k.endswith("#us_per_step")),
                  key=lambda k: [int(x) for x in re.findall(r":(\d+)", k)])
    if rows:
        p("Time per step (CPU backend, GRU H = 181, full diagnostics, 1 thread, forward + backward):")
        p("")
        p("| T | B | µs per step |")
        p("|---:|---:|---:|")
        for k in rows:
            T, B = re.findall(r":(\d+)", k)[:2]
            p(f"| {T} | {B} | {scal[k]:.0f} |")
        by_b = {}
        for k in rows:
            T, B = (int(x) for x in re.findall(r":(\d+)", k)[:2])
            by_b.setdefault(B, []).append(scal[k])
        spread = ", ".join(f"B = {B}: {max(v) / min(v):.2f}" for B, v in sorted(by_b.items()) if len(v) > 1)
        if spread:
            p("")
            p(f"Flatness in T (slowest / fastest µs per step over T, goal <= 1.15): {spread}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
