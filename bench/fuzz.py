"""Random networks under Verilator: how often the hardware differs from the integer reference.

    python bench/fuzz.py [--networks 50] [--samples 200] [--seed 0] [--build-dir build/fuzz]

Draws random networks (dense and convolutional: shapes, stride, padding, OR-pooling, shortcuts; T from 1
to 16; leak, reset, fractional bits, pixel bits; some with every declared width widened towards the
40-bit limit), a random folding for each (event-driven layers among them), generates each one's
Verilog, builds it with Verilator (the compiled bench) and co-simulates random samples one at a time
and back to back. Prints per network its shape, folding and findings, then the totals: samples,
mismatches against the integer reference, samples whose cycle counters differ from the cycle model,
and crashes (any exception). One Verilator build per network: about 10 to 20 s each on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers import random_conv_desc, random_desc, random_pixels  # noqa: E402

from flipspike.ir import Fold  # noqa: E402
from flipspike.ir.folding import divisors, event_capable, simd_base, simd_options  # noqa: E402
from flipspike.ir.formats import MAX_WIDTH  # noqa: E402
from flipspike.sim.cosim import cosim  # noqa: E402


def random_network(rng: np.random.Generator):
    T = int(rng.choice([1, 2, 3, 4, 6, 8, 12, 16]))
    common = dict(timesteps=T, frac_bits=int(rng.integers(0, 5)), leak_shift=rng.choice([None, 1, 2, 3]),
                  reset=str(rng.choice(["hard", "soft"])))
    if rng.random() < 0.5:
        sizes = [int(rng.integers(4, 33))] + [int(rng.integers(2, 17)) for _ in range(rng.integers(0, 3))] + \
                [int(rng.integers(2, 7))]
        desc = random_desc(rng, sizes, input_bits=int(rng.integers(1, 7)), **common)
    else:
        h = int(rng.integers(4, 9))
        shape = (h, h, int(rng.integers(1, 3)))
        convs, size = [], h
        for k in range(int(rng.integers(1, 3))):
            kernel = int(rng.choice([1, 2, 3]))
            padding = int(rng.integers(0, kernel))
            stride = int(rng.choice([1, 1, 2]))
            out = (size + 2 * padding - kernel) // stride + 1
            if out < 2:
                break
            pool = 2 if out >= 4 and rng.random() < 0.4 else 1
            same = k > 0 and kernel == 3 and padding == 1 and stride == 1 and pool == 1
            channels = convs[-1]["channels"] if same else int(rng.integers(2, 7))
            convs.append(dict(channels=channels, kernel=kernel, stride=stride, padding=padding, pool=pool,
                              shortcut=same and rng.random() < 0.7))
            size = out // pool
        convs = convs or [dict(channels=2, kernel=1)]
        desc = random_conv_desc(rng, shape, convs, int(rng.integers(2, 6)), input_bits=int(rng.integers(1, 5)),
                                **common)
    if rng.random() < 0.2:                    # declared widths wider than the worst case, towards the limit
        for layer in desc.layers:
            w = layer.widths
            layer.widths = dataclasses.replace(w, state=int(rng.integers(w.state, MAX_WIDTH + 1)),
                                               bias=int(rng.integers(w.bias, MAX_WIDTH + 1)))
        desc.validate()
    folds = []
    for i, layer in enumerate(desc.layers):
        event = event_capable(i, layer) and rng.random() < 0.4
        # (dense layers may read window-wide words: SIMD spanning kernel positions)
        simd_choices = divisors(simd_base(layer)) if event else simd_options(layer)
        folds.append(Fold(int(rng.choice(simd_choices)), int(rng.choice(divisors(layer.n_out))), event))
    return desc, folds


def shape_text(desc) -> str:
    parts = []
    for layer in desc.layers:
        if layer.conv is not None:
            c = layer.conv
            parts.append(f"c{layer.n_out}k{c.kernel}s{c.stride}p{c.padding}" + (f"P{layer.pool}" if layer.pool > 1
                                                                                    else "")
                         + ("+sc" if layer.shortcut is not None else ""))
        else:
            parts.append(str(layer.n_out))
    return f"{'x'.join(map(str, desc.input.dims))}-{'-'.join(parts)} T={desc.timesteps}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--networks", type=int, default=50)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--build-dir", default="build/fuzz")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    totals = {"samples": 0, "mismatches": 0, "cycle_model": 0, "crashes": 0}
    start = time.perf_counter()
    for n in range(args.networks):
        desc, folds = random_network(rng)
        x = random_pixels(rng, desc, args.samples)
        fold = ",".join(str(f) for f in folds)
        try:
            report = cosim(desc, folds, x, build_root=args.build_dir)
        except Exception:                       # (the point of a fuzzer: count it, show it, go on)
            totals["crashes"] += 1
            print(f"{n:3d} {shape_text(desc):40s} {fold:24s} CRASH\n{traceback.format_exc()}", flush=True)
            continue
        totals["samples"] += report["samples"]
        totals["mismatches"] += report["mismatches"]
        totals["cycle_model"] += report["cycle_model_mismatches"]
        print(f"{n:3d} {shape_text(desc):40s} {fold:24s} {report['samples']} samples, {report['mismatches']} "
              f"mismatches, {report['cycle_model_mismatches']} cycle-model mismatches "
              f"({report['timings']['total_s']:.1f} s)", flush=True)
    print(f"\n{args.networks} networks, {totals['samples']} samples: {totals['mismatches']} mismatches, "
          f"{totals['cycle_model']} cycle-model mismatches, {totals['crashes']} crashes "
          f"({time.perf_counter() - start:.0f} s)")
    return 1 if totals["mismatches"] or totals["cycle_model"] or totals["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
