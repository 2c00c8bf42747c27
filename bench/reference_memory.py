"""Peak memory of the integer reference over a test split: in chunks (what cosim, export and accuracy
use) against one run over the whole split, on a 28x28 convolutional network (c16-c32-p2-fc10, T=4).

    python bench/reference_memory.py [--samples 2000] [--chunk 100] [--whole]

Each measurement runs in a fresh process and reports its peak resident memory (the Python and torch
baseline of an idle process is measured too and subtracted). The chunked runs keep what a co-simulation
keeps per sample (class, accumulators, per-layer SOPs and spikes), so their peak should not grow with
the number of samples. --whole also runs the reference on every sample at once (the old behaviour; its
memory grows linearly: about 6.8 MB per sample here).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from helpers import random_conv_desc, random_pixels
from flipspike.sw.metrics import peak_rss_mb
mode, samples, chunk = {mode!r}, {samples}, {chunk}
rng = np.random.default_rng(0)
desc = random_conv_desc(rng, (28, 28, 1), [dict(channels=16, kernel=3, padding=1),
                                           dict(channels=32, kernel=3, padding=1, pool=2)], 10, timesteps=4,
                        input_bits=8)
x = random_pixels(rng, desc, samples)
if mode != "idle":
    from flipspike.sw.integer import run_integer, run_integer_chunks
    kept = []
    runs = run_integer_chunks(desc, x, chunk) if mode == "chunked" else [(0, run_integer(desc, x))]
    for _, ref in runs:
        kept.append((ref.cls.numpy(), ref.acc.numpy(), [t.sops.numpy() for t in ref.layers]))
print(json.dumps({{"peak_mb": peak_rss_mb()}}))
"""


def measure(mode: str, samples: int, chunk: int) -> float:
    code = CHILD.format(tests=str(Path(__file__).resolve().parents[1] / "tests"), mode=mode, samples=samples,
                        chunk=chunk)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--chunk", type=int, default=100)
    p.add_argument("--whole", action="store_true", help="also run the reference on every sample at once")
    args = p.parse_args()
    idle = measure("idle", args.samples, args.chunk)
    rows = [("one chunk", args.chunk, measure("chunked", args.chunk, args.chunk)),
            ("chunked", args.samples, measure("chunked", args.samples, args.chunk))]
    if args.whole:
        rows.append(("whole split at once", args.samples, measure("whole", args.samples, args.chunk)))
    print(f"integer reference, 28x28 conv net c16-c32-p2-fc10, T=4, chunks of {args.chunk} samples "
          f"(idle process: {idle:.0f} MB)")
    for name, n, peak in rows:
        print(f"  {name:20s} {n:6d} samples: peak {peak:7.0f} MB, above idle {peak - idle:7.0f} MB")
    base, many = rows[0][2] - idle, rows[1][2] - idle
    print(f"  {args.samples // args.chunk}x the samples in chunks: {many / base:.2f}x the memory above idle")


if __name__ == "__main__":
    main()
