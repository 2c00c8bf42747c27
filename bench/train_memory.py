"""Peak training memory vs time steps: BPTT (stbp) grows with T, online BSO / T-BSO stays flat.

    .venv/bin/python bench/train_memory.py [--arch c32-c32-p2-c64-c64-p2-fc10] [--batch 32] [--steps 2]

Same model, same batch, CIFAR-sized inputs (32x32x3, random pixels: memory does not depend on the
data). Every (method, T) runs in a fresh Python process and trains ``--steps`` batches through the
real trainer. Two measures:

* graph: the bytes autograd holds for one backward pass (flipspike.sw.metrics.GraphMemory), exact;
* RSS:   the process's peak resident memory during training minus before it. The children run with
         MALLOC_ARENA_MAX=1 and MALLOC_MMAP_THRESHOLD_=65536 so that freed memory goes back to the OS and
         RSS follows what is live. Online training at T=1 never holds a previous step's membranes and
         traces, so its RSS is lower than at T >= 2; from T=2 on it is flat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

TIMESTEPS = (1, 2, 4, 8, 16, 32)
METHODS = ("stbp", "bso", "tbso")


def one(method: str, T: int, arch: str, batch: int, steps: int) -> dict:
    import torch

    from flipspike.sw.metrics import GraphMemory, peak_rss_mb
    from flipspike.sw.model import BSNN, ModelConfig
    from flipspike.sw.train import METHODS as WEIGHT_MODES, TrainConfig, make_trainer

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = BSNN(ModelConfig(arch, input_shape=(32, 32, 3), timesteps=T, weight_mode=WEIGHT_MODES[method]))
    trainer = make_trainer(model, TrainConfig(method=method, epochs=1))
    x = torch.randint(0, 256, (batch, 32 * 32 * 3)).float()
    y = torch.randint(0, 10, (batch,))
    with open("/proc/self/statm") as f:
        before = int(f.read().split()[1]) * 4096 / 2 ** 20
    mem = GraphMemory()
    for _ in range(steps):
        with mem:
            trainer.batch(x, y, mem)
    return {"method": method, "T": T, "graph_mb": mem.peak / 2 ** 20, "rss_mb": peak_rss_mb() - before}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="c32-c32-p2-c64-c64-p2-fc10")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--timesteps", default=",".join(map(str, TIMESTEPS)))
    ap.add_argument("--one", nargs=2, metavar=("METHOD", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.arch, args.batch, args.steps)))
        return
    Ts = [int(t) for t in args.timesteps.split(",")]
    rows = {}
    for method in METHODS:
        for T in Ts:
            cmd = [sys.executable, __file__, "--one", method, str(T), "--arch", args.arch, "--batch", str(args.batch),
                   "--steps", str(args.steps)]
            env = dict(os.environ, MALLOC_ARENA_MAX="1", MALLOC_MMAP_THRESHOLD_="65536")
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            rows[method, T] = json.loads(done.stdout)
            print(f"  {method:5s} T={T:3d}: graph {rows[method, T]['graph_mb']:8.1f} MB, "
                  f"RSS +{rows[method, T]['rss_mb']:8.1f} MB", flush=True)
    print(f"\n{args.arch}, batch {args.batch}, 32x32x3 inputs; each in a fresh process\n")
    print("| T | " + " | ".join(f"{m} graph MB | {m} RSS MB" for m in METHODS) + " |")
    print("|---" * (1 + 2 * len(METHODS)) + "|")
    for T in Ts:
        print(f"| {T} | " + " | ".join(f"{rows[m, T]['graph_mb']:.1f} | {rows[m, T]['rss_mb']:.1f}" for m in METHODS) + " |")
    for m in ("bso", "tbso"):
        g = [rows[m, T]["graph_mb"] for T in Ts]
        r = [rows[m, T]["rss_mb"] for T in Ts if T >= 2]
        print(f"{m}: graph memory from T={Ts[0]} to T={Ts[-1]} varies by {100 * (max(g) / min(g) - 1):.1f} %"
              + (f"; RSS over T >= 2 by {100 * (max(r) / min(r) - 1):.1f} %" if r else ""))
    last = Ts[-1]
    for m in ("bso", "tbso"):
        print(f"BPTT/{m} at T={last}: graph {rows['stbp', last]['graph_mb'] / rows[m, last]['graph_mb']:.1f}x, "
              f"RSS {rows['stbp', last]['rss_mb'] / max(rows[m, last]['rss_mb'], 1e-9):.1f}x")


if __name__ == "__main__":
    main()
