"""The PyTorch side of test_torch_parity.py, importable or run as a script by another interpreter
(`python3 torch_side.py IN.npz OUT.npz`): needs only numpy and torch, not rnnlab.

A seeded nn.GRU / nn.RNN with an nn.Linear head; its float32 state_dict is returned as it is, then
the module runs in float64 on exactly those values: outputs, loss, every gradient, dL/dx."""
import sys

import numpy as np
import torch


class Net(torch.nn.Module):
    def __init__(self, cell, I, H, O):
        super().__init__()
        self.rnn = torch.nn.GRU(I, H) if cell == "gru" else torch.nn.RNN(I, H, nonlinearity="tanh")
        self.fc = torch.nn.Linear(H, O)


def run(cell, head, x, target, H, O, seed):
    torch.manual_seed(int(seed))
    T, B, I = x.shape
    net = Net(cell, I, H, O)
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}  # float32 torch tensors
    net = net.double()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out, _ = net.rnn(xt)
    y = net.fc(out)                                    # (T, B, O): every step
    if head == "every_softmax":
        loss = torch.nn.functional.cross_entropy(y.reshape(T * B, O), torch.tensor(target, dtype=torch.long).reshape(-1))
    elif head == "last_softmax":
        loss = torch.nn.functional.cross_entropy(y[-1], torch.tensor(target, dtype=torch.long))
    else:  # last_linear: mean over the batch of the sum over outputs of (y - t)^2
        loss = ((y[-1] - torch.tensor(target, dtype=torch.float64)) ** 2).sum(dim=1).mean()
    loss.backward()
    res = {"y": y.detach().numpy(), "loss": np.float64(loss.item()), "dx": xt.grad.numpy()}
    for name, p in net.named_parameters():
        res["grad:" + name] = p.grad.numpy()
    return state, res


if __name__ == "__main__":
    # every case of the input file in one process (importing torch is the slow part)
    spec = np.load(sys.argv[1])
    out = {}
    for c in range(int(spec["ncases"])):
        p = f"{c}/"
        state, res = run(str(spec[p + "cell"]), str(spec[p + "head"]), spec[p + "x"], spec[p + "target"],
                         int(spec[p + "H"]), int(spec[p + "O"]), int(spec[p + "seed"]))
        out.update({p + k: v for k, v in res.items()})
        out.update({p + "sd:" + k: v.numpy() for k, v in state.items()})
    np.savez(sys.argv[2], **out)
