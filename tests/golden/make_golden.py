#!/usr/bin/env python3
"""Writes rnnlab's golden reference passes (tests/golden/*.txt) with PyTorch in float64.

Each case is one forward + backward pass of nn.GRU / nn.RNN + nn.Linear on the CPU. The outputs,
loss and every gradient come from the fused PyTorch modules; the diagnostics of
spec/diagnostics.md come from a second, hand-unrolled copy of the same cell whose hidden states
keep their gradients (the fused modules expose neither per-step gradients nor gate values). The
two copies must agree before anything is written, and omega / steps_in_past are computed twice
(vector-Jacobian products and explicit per-sequence Jacobians) and must agree too.

Usage: python3 tests/golden/make_golden.py [--out DIR] [--check]
  --out DIR   where to write the files (default: the directory of this script)
  --check     write nothing; regenerate in memory and report how the files in DIR differ
Needs PyTorch (Debian 12: apt-get install python3-torch). See tests/golden/README.md.
"""

import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

DT = torch.float64
SAT_THRESH = 0.05  # diagnostics.md default
BOUND = 1e-20  # omega / steps_in_past validity bound on ||delta||^2 (diagnostics.md)
TRANSFER_MIN = 1e-10  # transfer_time leaves out sequences with ||delta|| below this
# Cell parameters are PyTorch's default U(-1/sqrt(H), 1/sqrt(H)) times this, so that gates and units
# leave their linear range within a few steps: the saturation traces then have entries on both
# sides of sat_thresh instead of being trivially zero.
CELL_SCALE = 2.5
# Decision margins. rnnlab's float32 test must count the same entries as these float64 values do;
# a value this close to a threshold (sat_thresh, relu's kink, the validity bounds) could count
# differently after float32 round-off, so a seed that produces one is skipped.
MARGIN = 2e-4


class Case:
    def __init__(self, name, cell, nonlinearity, head, I, H, T, B, O, seed, **extra):
        self.name, self.cell, self.nonlinearity, self.head = name, cell, nonlinearity, head
        self.I, self.H, self.T, self.B, self.O, self.seed = I, H, T, B, O, seed
        self.bias_ih_shift = extra.get("bias_ih_shift", 0.0)
        self.want = extra.get("want", ())


CASES = [
    Case("gru_last_softmax", "gru", None, "last-softmax", 3, 5, 7, 4, 6, 1001, want=("gate_sat",)),
    Case("gru_every_softmax", "gru", None, "every-softmax", 2, 4, 9, 3, 5, 1002, want=("gate_sat",)),
    Case("gru_last_linear", "gru", None, "last-linear", 2, 6, 11, 2, 1, 1003, want=("gate_sat",)),
    # 64 steps with a last-step loss: the total gradient must shrink by more than 100x from h_T back
    # to h_1, so the file shows (and the tests exercise) a vanishing gradient.
    Case("gru_long", "gru", None, "last-softmax", 1, 8, 64, 2, 10, 1004, want=("gate_sat", "vanishing")),
    Case("rnn_tanh_last_softmax", "rnn", "tanh", "last-softmax", 3, 5, 7, 4, 6, 1005, want=("hidden_sat",)),
    # Negative input biases leave whole steps with every relu unit dead, so delta is exactly zero at
    # the early steps: transfer_time is NaN there and steps_in_past < 1.
    Case("rnn_relu_last_linear", "rnn", "relu", "last-linear", 2, 4, 6, 3, 1, 1006, bias_ih_shift=-0.9,
         want=("dead_steps",)),
]

TRACE_ORDER = ["sat_time", "sat_frac_time", "act_time", "gate_z_sat_time", "gate_r_sat_time",
               "gate_z_sat_frac_time", "gate_r_sat_frac_time", "gate_z_mean_time", "gate_r_mean_time",
               "gate_z_preact_time", "cand_act_time"]
PARAMS = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "head.weight", "head.bias"]


class Rejected(Exception):
    """A seed whose pass lacks a property the case needs (or sits too close to a threshold)."""


def build(case, seed):
    torch.manual_seed(seed)
    if case.cell == "gru":
        rnn = nn.GRU(case.I, case.H, dtype=DT)
    else:
        rnn = nn.RNN(case.I, case.H, nonlinearity=case.nonlinearity, dtype=DT)
    head = nn.Linear(case.H, case.O, dtype=DT)
    with torch.no_grad():
        for p in rnn.parameters():
            p.mul_(CELL_SCALE)
        rnn.bias_ih_l0.add_(case.bias_ih_shift)
    x = torch.randn(case.T, case.B, case.I, dtype=DT)
    h0 = 0.5 * torch.randn(case.B, case.H, dtype=DT)
    if case.head == "last-softmax":
        target = torch.randint(0, case.O, (case.B,))
    elif case.head == "every-softmax":
        target = torch.randint(0, case.O, (case.T, case.B))
    else:
        target = torch.rand(case.B, case.O, dtype=DT)
    return rnn, head, x, h0, target


def loss_of(case, y, target):
    """y: (T, B, O) for every-softmax, else (B, O) for the last step. Losses of math.md."""
    if case.head == "last-linear":
        return ((y - target) ** 2).sum(dim=1).mean()
    return F.cross_entropy(y.reshape(-1, case.O), target.reshape(-1))  # mean over scored positions


def readout(case, head, hidden):
    return head(hidden) if case.head == "every-softmax" else head(hidden[-1])


def fused_pass(case, rnn, head, x, h0, target):
    """The reference numbers: PyTorch's own modules and autograd."""
    xr = x.clone().requires_grad_(True)
    h0r = h0.clone().requires_grad_(True)
    rnn.zero_grad()
    head.zero_grad()
    hidden, _ = rnn(xr, h0r.unsqueeze(0))
    y = readout(case, head, hidden)
    loss = loss_of(case, y, target)
    loss.backward()
    grads = {
        "weight_ih": rnn.weight_ih_l0.grad, "weight_hh": rnn.weight_hh_l0.grad,
        "bias_ih": rnn.bias_ih_l0.grad, "bias_hh": rnn.bias_hh_l0.grad,
        "head.weight": head.weight.grad, "head.bias": head.bias.grad,
        "x": xr.grad, "h0": h0r.grad,
    }
    return hidden.detach(), y.detach(), loss.detach(), {k: v.detach().clone() for k, v in grads.items()}


def params_of(rnn, head):
    return {
        "weight_ih": rnn.weight_ih_l0.detach(), "weight_hh": rnn.weight_hh_l0.detach(),
        "bias_ih": rnn.bias_ih_l0.detach(), "bias_hh": rnn.bias_hh_l0.detach(),
        "head.weight": head.weight.detach(), "head.bias": head.bias.detach(),
    }


def cell_step(case, P, x_t, h):
    """One step of math.md's cell on (B, H) states; returns h_t and what the traces read."""
    gi = x_t @ P["weight_ih"].T + P["bias_ih"]
    gh = h @ P["weight_hh"].T + P["bias_hh"]
    if case.cell == "gru":
        H = case.H
        az = gi[:, H:2 * H] + gh[:, H:2 * H]
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(az)
        n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1 - z) * n + z * h, {"r": r, "z": z, "n": n, "az": az}
    a = gi + gh
    return (torch.tanh(a) if case.nonlinearity == "tanh" else torch.relu(a)), {"a": a}


def unrolled_pass(case, params, x, h0, target):
    """The same pass with every h_t kept as a graph node, so that h_t.grad is the total dL/dh_t."""
    P = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    h = h0.clone().requires_grad_(True)
    hs, inner = [h], []
    for t in range(case.T):
        h, parts = cell_step(case, P, x[t], h)
        h.retain_grad()
        hs.append(h)
        inner.append({k: v.detach() for k, v in parts.items()})
    hidden = torch.stack(hs[1:])
    y = F.linear(hidden if case.head == "every-softmax" else hidden[-1], P["head.weight"], P["head.bias"])
    loss = loss_of(case, y, target)
    loss.backward()
    deltas = torch.stack([hh.grad for hh in hs[1:]])  # (T, B, H), total derivatives
    return {
        "hidden": hidden.detach(), "loss": loss.detach(), "deltas": deltas, "inner": inner,
        "states": [hh.detach() for hh in hs],  # h_0 .. h_T
        "grads": {k: v.grad for k, v in P.items()}, "grad_h0": hs[0].grad,
    }


def recurrent_parts_vjp(case, params, x, states, deltas):
    """p_t = J_t^T delta_t for every t and b, by one vector-Jacobian product per step."""
    out = []
    for t in range(case.T):
        hp = states[t].clone().requires_grad_(True)
        ht, _ = cell_step(case, params, x[t], hp)
        (g,) = torch.autograd.grad(ht, hp, grad_outputs=deltas[t])
        out.append(g)
    return torch.stack(out)


def recurrent_parts_jacobian(case, params, x, states, deltas):
    """The same from the explicit H x H Jacobian of each step and sequence (J[i][j] = dh_t[i]/dh_{t-1}[j])."""
    out = torch.empty_like(deltas)
    for t in range(case.T):
        for b in range(case.B):
            def f(hprev, t=t, b=b):
                return cell_step(case, params, x[t, b:b + 1], hprev.unsqueeze(0))[0].squeeze(0)
            J = torch.autograd.functional.jacobian(f, states[t][b])
            out[t, b] = J.T @ deltas[t, b]
    return out


def omega_and_steps(case, deltas, parts):
    d2 = (deltas ** 2).sum(dim=2)
    p2 = (parts ** 2).sum(dim=2)
    valid = d2 >= BOUND
    n_valid = int(valid.sum())
    omega = float(((p2[valid] / d2[valid] - 1.0) ** 2).mean()) if n_valid else math.nan
    return omega, n_valid / (case.T * case.B)


def per_step_traces(case, deltas, parts, hidden, inner):
    """Every trace of diagnostics.md the cell has, each a list of T floats (means over batch and units)."""
    T = case.T
    dn = deltas.norm(dim=2)  # (T, B)
    pn = parts.norm(dim=2)
    tr = {"grad_time": [float(dn[t].mean()) for t in range(T)], "transfer_time": []}
    for t in range(T):
        keep = dn[t] >= TRANSFER_MIN
        tr["transfer_time"].append(float((pn[t][keep] / dn[t][keep]).mean()) if bool(keep.any()) else math.nan)

    def mean(v):
        return [float(v[t].mean()) for t in range(T)]

    def frac(v):
        return [float((v[t] < SAT_THRESH).to(DT).mean()) for t in range(T)]

    h = hidden
    if case.cell == "gru" or case.nonlinearity == "tanh":
        dist = 1 - h.abs()
        tr["sat_time"], tr["sat_frac_time"], tr["act_time"] = mean(dist), frac(dist), mean(1 - h * h)
    else:  # relu: saturation is a dead unit; no distance, hence no sat_frac_time
        tr["sat_time"] = mean((h == 0).to(DT))
        tr["act_time"] = mean((h > 0).to(DT))
    if case.cell == "gru":
        z = torch.stack([s["z"] for s in inner])
        r = torch.stack([s["r"] for s in inner])
        n = torch.stack([s["n"] for s in inner])
        az = torch.stack([s["az"] for s in inner])
        dz, dr = torch.minimum(z, 1 - z), torch.minimum(r, 1 - r)
        tr.update({
            "gate_z_sat_time": mean(dz), "gate_r_sat_time": mean(dr),
            "gate_z_sat_frac_time": frac(dz), "gate_r_sat_frac_time": frac(dr),
            "gate_z_mean_time": mean(z), "gate_r_mean_time": mean(r),
            "gate_z_preact_time": mean(az), "cand_act_time": mean(1 - n * n),
        })
    return tr


def near(v, at):
    return bool(((v - at).abs() < MARGIN).any())


def check_properties(case, u, traces, steps):
    """Raises Rejected unless the pass is robust to float32 round-off and shows what the case is for."""
    h = u["hidden"]
    if case.cell == "gru" or case.nonlinearity == "tanh":
        if near(1 - h.abs(), SAT_THRESH):
            raise Rejected("a hidden unit's saturation distance is within the margin of sat_thresh")
    else:
        a = torch.stack([s["a"] for s in u["inner"]])
        if near(a, 0.0):
            raise Rejected("a relu pre-activation is within the margin of 0")
    if case.cell == "gru":
        for g in ("z", "r"):
            v = torch.stack([s[g] for s in u["inner"]])
            if near(torch.minimum(v, 1 - v), SAT_THRESH):
                raise Rejected("a %s gate's saturation distance is within the margin of sat_thresh" % g)
    d2 = (u["deltas"] ** 2).sum(dim=2)
    # ||delta||^2 either exactly zero (every path dead) or well clear of both validity bounds (omega's
    # ||delta||^2 >= 1e-20 and transfer_time's ||delta|| >= 1e-10 are the same boundary).
    if bool(((d2 > 0) & (d2 < 1e4 * BOUND)).any()):
        raise Rejected("a nonzero ||delta|| is too close to the validity bound to be classified the same in float32")
    if "dead_steps" in case.want:
        if not (steps < 1 and any(g == 0 for g in traces["grad_time"])):
            raise Rejected("no step with every delta exactly zero")
    elif steps != 1:
        raise Rejected("some delta is zero")
    if "vanishing" in case.want:
        g = traces["grad_time"]
        if not g[0] < 1e-2 * g[-1]:
            raise Rejected("grad_time shrinks only %.3g-fold from t=T to t=1" % (g[-1] / g[0]))
    if "gate_sat" in case.want:
        if not any(v > 0 for k in ("gate_z_sat_frac_time", "gate_r_sat_frac_time") for v in traces[k]):
            raise Rejected("no gate value is within sat_thresh of 0 or 1")
    if "hidden_sat" in case.want and not any(v > 0 for v in traces["sat_frac_time"]):
        raise Rejected("no hidden unit is within sat_thresh of +-1")


def assert_close(what, a, b, rtol=1e-12, atol=1e-14):
    a, b = torch.as_tensor(a, dtype=DT), torch.as_tensor(b, dtype=DT)
    if a.shape != b.shape or not torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
        sys.exit("make_golden: internal disagreement in %s: max |diff| %.3g" % (what, float((a - b).abs().max())))


def compute(case, seed):
    rnn, head, x, h0, target = build(case, seed)
    hidden, y, loss, grads = fused_pass(case, rnn, head, x, h0, target)
    params = params_of(rnn, head)
    u = unrolled_pass(case, params, x, h0, target)
    # The unrolled cell must be the fused one: same states, loss and gradients.
    assert_close("hidden", u["hidden"], hidden)
    assert_close("loss", u["loss"], loss)
    for k in PARAMS:
        assert_close("grad." + k, u["grads"][k], grads[k])
    assert_close("grad.h0", u["grad_h0"], grads["h0"])
    parts = recurrent_parts_vjp(case, params, x, u["states"], u["deltas"])
    parts_j = recurrent_parts_jacobian(case, params, x, u["states"], u["deltas"])
    assert_close("J^T delta (vjp vs Jacobian)", parts, parts_j)
    # h_0 has no readout, so its total gradient is exactly the recurrent part of step 1.
    assert_close("J_1^T delta_1 vs grad.h0", parts[0], grads["h0"])
    omega, steps = omega_and_steps(case, u["deltas"], parts)
    omega_j, steps_j = omega_and_steps(case, u["deltas"], parts_j)
    assert_close("omega (two ways)", omega, omega_j)
    assert_close("steps_in_past (two ways)", steps, steps_j, rtol=0, atol=0)
    traces = per_step_traces(case, u["deltas"], parts, u["hidden"], u["inner"])
    check_properties(case, u, traces, steps)
    grad_norm = math.sqrt(sum(float((grads[k] ** 2).sum()) for k in PARAMS))
    tensors = [(k, params[k]) for k in PARAMS]
    tensors += [("x", x), ("h0", h0), ("target", target.to(DT)), ("output", y), ("hidden", hidden),
                ("loss", loss)]
    tensors += [("grad." + k, grads[k]) for k in PARAMS] + [("grad.x", grads["x"]), ("grad.h0", grads["h0"])]
    tensors += [("grad_time", traces["grad_time"]), ("transfer_time", traces["transfer_time"]),
                ("omega", omega), ("steps_in_past", steps), ("grad_norm", grad_norm)]
    tensors += [(k, traces[k]) for k in TRACE_ORDER if k in traces]
    return tensors


def fmt(v):
    if math.isnan(v):
        return "nan"
    return "%.17g" % v


def render(case, seed, tensors):
    attrs = "cell=%s" % case.cell
    if case.cell == "rnn":
        attrs += " nonlinearity=%s" % case.nonlinearity
    attrs += " head=%s I=%d H=%d T=%d B=%d O=%d seed=%d" % (case.head, case.I, case.H, case.T, case.B, case.O, seed)
    lines = [
        "# rnnlab golden case '%s': PyTorch %s CPU, float64. %s" % (case.name, torch.__version__, attrs),
        "# Written by tests/golden/make_golden.py (see tests/golden/README.md). Names and layouts are PyTorch's",
        "# (spec/math.md); h0 is the initial state, x is T x B x I, target holds class indices (as numbers) for",
        "# softmax heads and values for last-linear, output is the scored logits (or y), hidden is h_1..h_T,",
        "# grad.NAME is dL/dNAME. The rest are spec/diagnostics.md's traces and scalars: total BPTT gradient,",
        "# sat_thresh %g, bound %g, grad_norm over every parameter including the head." % (SAT_THRESH, BOUND),
    ]
    for name, v in tensors:
        if isinstance(v, torch.Tensor):
            dims = list(v.shape)
            vals = v.detach().reshape(-1).tolist()
        elif isinstance(v, list):
            dims, vals = [len(v)], v
        else:
            dims, vals = [], [v]
        lines.append("%s %s : %s" % (name, " ".join(str(d) for d in dims), " ".join(fmt(float(a)) for a in vals)))
    return "\n".join(lines) + "\n"


def generate(case):
    """The case's pass from the first seed (counting up from case.seed) that meets its properties."""
    reasons = []
    for seed in range(case.seed, case.seed + 200):
        try:
            return seed, compute(case, seed), reasons
        except Rejected as e:
            reasons.append("seed %d: %s" % (seed, e))
    sys.exit("make_golden: %s: no seed in 200 meets the case's properties; last: %s" % (case.name, reasons[-1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--check", action="store_true", help="compare with the files in --out; write nothing")
    ap.add_argument("cases", nargs="*", help="case names (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # one summation order per run
    todo = [c for c in CASES if not args.cases or c.name in args.cases]
    unknown = set(args.cases) - {c.name for c in CASES}
    if unknown:
        sys.exit("make_golden: unknown case(s): %s" % " ".join(sorted(unknown)))
    differ = 0
    for case in todo:
        seed, tensors, skipped = generate(case)
        text = render(case, seed, tensors)
        path = os.path.join(args.out, case.name + ".txt")
        note = " (skipped %d seed(s): %s)" % (len(skipped), "; ".join(skipped)) if skipped else ""
        if args.check:
            old = open(path).read() if os.path.exists(path) else None
            same = old == text
            differ += not same
            print("%s: %s%s" % (path, "identical" if same else "DIFFERS", note))
        else:
            with open(path, "w") as f:
                f.write(text)
            print("wrote %s (seed %d)%s" % (path, seed, note))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
