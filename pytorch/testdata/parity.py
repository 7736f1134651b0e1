"""Runs the modules that nas exported on the inputs nas ran, for pytorch's parity test.

Reads the JSON manifest given as the only argument (a list of cases, see parity_test.go) and
prints one JSON object per case: the module's parameter count, the largest difference of its
logits from nas's, and for a training case the largest difference of its weights after one SGD
step from nas's. The Go test judges the figures.
"""
import importlib.util
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F


def raw(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(shape).copy())


class relu_margin:
    """Makes F.relu record the smallest |input| it sees: [margin]."""

    def __enter__(self):
        self.relu, found = F.relu, [float("inf")]

        def relu(x, *args, **kwargs):
            found[0] = min(found[0], float(x.abs().min()))
            return self.relu(x, *args, **kwargs)

        F.relu = relu
        return found

    def __exit__(self, *exc):
        F.relu = self.relu


def run(case):
    spec = importlib.util.spec_from_file_location(case["name"], case["py"])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.build()
    out = {"name": case["name"], "params": sum(p.numel() for p in net.parameters()), "num_params": mod.NUM_PARAMS}
    n, shape = case["n"], case["shape"]
    x = raw(case["input"], [n] + shape)
    want = raw(case["logits"], [n, case["classes"]])
    with torch.no_grad():
        got = net(x)
    out["logits_diff"] = float((got - want).abs().max())
    out["logits_scale"] = float(want.abs().max())
    train = case.get("train")
    if train:
        # The batch whose ReLU inputs keep farthest from 0, in float64.
        net64 = mod.build().double()
        margins = []
        for batch in train["batches"]:
            x = raw(batch["input"], [train["n"]] + shape).double()
            with torch.no_grad(), relu_margin() as m:
                net64.train()(x)
            margins.append(m[0])
        best = max(range(len(margins)), key=lambda k: margins[k])
        batch = train["batches"][best]
        out["margin"] = margins[best]
        net.train()
        x = raw(batch["input"], [train["n"]] + shape)
        y = torch.tensor(batch["labels"], dtype=torch.long)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= train["lr"] * p.grad
        after = mod.load_safetensors(batch["after"])
        state = net.state_dict()
        worst, worst_name = 0.0, ""
        for name, t in after.items():
            d = float(((state[name] - t).abs() / (1 + t.abs())).max()) if t.numel() else 0.0
            if d > worst:
                worst, worst_name = d, name
        out["train_diff"], out["train_worst"] = worst, worst_name
        out["loss"] = float(loss)
        out["missing"] = sorted(set(k for k in state if not k.endswith("num_batches_tracked")) ^ set(after))
    return out


def main():
    torch.set_num_threads(2)
    cases = json.load(open(sys.argv[1]))
    for case in cases:
        try:
            out = run(case)
        except Exception as e:  # reported to the Go test, which fails the case
            out = {"name": case["name"], "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
