"""Times the networks that `nas bench --space ... --export-pytorch DIR` wrote, in PyTorch's best
configuration on this machine (channels_last tensors, glibc malloc tuned so that large buffers are
not mmap'd afresh on every call), with the conventions of torch_reference.py: batch 128, a train
step is zero_grad, forward, cross-entropy, backward and SGD (lr 0.1, momentum 0.9, weight decay
5e-4 on every parameter) in training mode; inference is eval mode under no_grad; each is timed as
the median of repeats after a warm-up, with the CPU other processes used meanwhile.

    /usr/bin/python3 tools/benchcompare/torch_candidates.py DIR [--threads 1,2] [--quick] [--json-out FILE]

It writes JSON shaped like torch_reference.py's, one workload per DIR/cand_I.py named
best:cand_I with net cand_I, which `go run ./tools/benchcompare -pair NAS.json,TORCH.json` pairs
with nas bench's workloads of the same names. The exported module normalises its input (one
subtract and one divide per pixel), which nas's networks do not: a negligible share of a step.
Needs torch (Debian: apt-get install -y python3-torch).
"""
import argparse
import ctypes
import glob
import importlib.util
import json
import os
import re
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

VARIANT = "channels_last+tuned_malloc"
HZ = os.sysconf("SC_CLK_TCK")


def tune_malloc():
    """Serves every allocation from the never-trimmed brk heap, as torch_reference.py's best
    configuration does. Returns whether glibc accepted it."""
    libc = ctypes.CDLL("libc.so.6")
    ok = libc.mallopt(-1, 1 << 30) == 1  # M_TRIM_THRESHOLD = 1 GiB
    return (libc.mallopt(-4, 0) == 1) and ok  # M_MMAP_MAX = 0


def busy_cpu():
    """CPU seconds all processes have spent, from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:9]]
    except OSError:
        return None
    return (sum(v) - v[3] - v[4]) / HZ


def own_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(fn, images, reps, target, min_steps, warmup_s):
    """Times fn like nas's benchmark.Timing: at least two warm-up calls and warmup_s, then reps
    repeats of enough calls for target seconds each (min_steps at least); the median counts."""
    per = float("inf")
    t0 = time.perf_counter()
    n = 0
    while n < 2 or time.perf_counter() - t0 < warmup_s:
        t1 = time.perf_counter()
        fn()
        per = min(per, time.perf_counter() - t1)
        n += 1
    steps = max(min_steps, int(-(-target // max(per, 1e-9))))
    b0, o0, w0 = busy_cpu(), own_cpu(), time.perf_counter()
    ms = []
    for _ in range(reps):
        t1 = time.perf_counter()
        for _ in range(steps):
            fn()
        ms.append((time.perf_counter() - t1) * 1e3 / steps)
    wall = time.perf_counter() - w0
    b1, o1 = busy_cpu(), own_cpu()
    med = statistics.median(ms)
    r = {"ms": round(med, 3), "ms_min": round(min(ms), 3), "ms_max": round(max(ms), 3), "reps": reps,
         "steps_per_rep": steps, "img_per_s": round(images / (med / 1e3), 1),
         "cpu_ms": round((o1 - o0) * 1e3 / (reps * steps), 3)}
    if b0 is not None and b1 is not None and wall > 0:
        r["other_cpu_load"] = round(max(0.0, (b1 - b0) - (o1 - o0)) / wall, 2)
    return r


def load_module(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def candidates(d):
    """The cand_I.py files of d, by I."""
    found = []
    for p in glob.glob(os.path.join(d, "cand_*.py")):
        m = re.fullmatch(r"cand_(\d+)\.py", os.path.basename(p))
        if m:
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def time_candidate(path, threads, batch, timing):
    mod = load_module(path)
    name = os.path.splitext(os.path.basename(path))[0]
    torch.manual_seed(0)
    net = mod.build().to(memory_format=torch.channels_last)
    x = torch.rand(batch, *mod.INPUT).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, mod.NUM_CLASSES, (batch,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def train():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            net(x)

    out = {"name": "best:" + name, "net": name, "kind": "net", "variant": VARIANT, "params": mod.NUM_PARAMS,
           "input": [batch, *mod.INPUT], "results": {}}
    for t in threads:
        torch.set_num_threads(t)
        print(f"torch_candidates: {name}, {t} thread(s)", file=sys.stderr, flush=True)
        net.train()
        r = {"train": measure(train, batch, **timing)}
        net.eval()
        r["infer"] = measure(infer, batch, **timing)
        out["results"][str(t)] = r
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="the directory of nas bench --export-pytorch")
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--quick", action="store_true", help="short timing: 0.1 s per repeat, no warm-up time")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json-out", help="also write the JSON to this file")
    a = ap.parse_args(argv)
    paths = candidates(a.dir)
    if not paths:
        ap.error(f"{a.dir} holds no cand_I.py; write them with nas bench --space SPACE.yaml --export-pytorch {a.dir}")
    threads = [int(t) for t in a.threads.split(",")]
    timing = {"reps": a.reps, "target": 0.1, "min_steps": 1, "warmup_s": 0.0} if a.quick else \
        {"reps": a.reps, "target": 0.4, "min_steps": 3, "warmup_s": 0.3}
    malloc = "tuned" if tune_malloc() else "tune_failed"
    start = time.time()
    rep = {"meta": {"torch": torch.__version__, "python": sys.version.split()[0], "malloc": malloc,
                    "batch": a.batch, "threads": threads, "timing": timing,
                    "loadavg_at_start": os.getloadavg()},
           "workloads": [time_candidate(p, threads, a.batch, timing) for p in paths]}
    rep["meta"]["loadavg_at_end"] = os.getloadavg()
    rep["meta"]["total_wall_s"] = round(time.time() - start, 1)
    text = json.dumps(rep, indent=1)
    if a.json_out:
        with open(a.json_out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
