"""Convolution throughput across the window: the fastest plan per LUT budget with words within one pixel
(the floor of positions x k^2 x T cycles a layer had) against plans that may take window-wide words.

    python bench/conv_window.py NET [--device ecp5-85f] [--budgets 10000,20000,46838] [--samples 200]
                                    [--synth] [--data-dir DIR]

NET: a description (e.g. a Fashion-MNIST conv net, ``flipspike export``); without one, a random
c16-c32-p2-fc10 on 28x28 (the cycle figures do not depend on the weights). For each budget: the fold
``--lut-budget`` planning picks from words within a pixel only, and from every word (window-wide too),
with the slowest layer's modelled cycles per inference, the estimated LUT4s and block RAMs, and the
speed-up. With ``--samples N`` (a trained NET) each plan is co-simulated under Verilator on N test
images: mismatches against the integer reference, streamed cycles per inference against the stream
model (``flipspike.ir.cycle_model.stream_cycles``) and the slowest layer's period,
and per-layer busy cycles against the model. ``--synth``: yosys' LUT4 and block RAM counts beside the
estimate (a few minutes per plan).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import flipspike as fs
from flipspike.gen.autofold import fold_for_luts, fold_options
from flipspike.gen.estimate import estimate
from flipspike.gen.synth import DEVICES
from flipspike.ir import NetDesc
from flipspike.ir.cycle_model import layer_cycles
from flipspike.ir.plan import LayerPlan


def random_net() -> NetDesc:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers import random_conv_desc
    return random_conv_desc(np.random.default_rng(0), (28, 28, 1), [{"channels": 16, "kernel": 3, "padding": 1},
                            {"channels": 32, "kernel": 3, "padding": 1, "pool": 2}], 10, timesteps=4)


def plans(desc: NetDesc, budget: int, device: str) -> dict:
    """The --lut-budget plan from words within a pixel, and from every word."""
    table = [fold_options(desc, i) for i in range(len(desc.layers))]
    pixel = [[(f, c) for f, c in opts if LayerPlan(layer, f).ports == 1] for layer, opts in zip(desc.layers, table)]
    blocks = DEVICES[device]["totals"]["bram"]
    out = {}
    for name, tab in (("within a pixel", pixel), ("window-wide", table)):
        try:
            out[name] = fold_for_luts(desc, budget, device=device, max_blocks=blocks, table=tab)
        except fs.FlipspikeError as e:
            out[name] = e
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("net", nargs="?")
    p.add_argument("--device", default="ecp5-85f", choices=sorted(DEVICES))
    p.add_argument("--budgets", default=None, help="LUT4 budgets, comma-separated (default: 15, 35 and 70 %% of "
                                                   "the device's)")
    p.add_argument("--samples", type=int, default=0, help="co-simulate each plan on this many test images")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--synth", action="store_true", help="synthesize each plan (yosys) beside the estimate")
    args = p.parse_args()
    desc = NetDesc.load(args.net) if args.net else random_net()
    total = DEVICES[args.device]["totals"]["lut4"]
    budgets = ([int(b) for b in args.budgets.split(",")] if args.budgets else
               [int(total * f) for f in (0.15, 0.35, 0.7)])
    x = y = None
    if args.samples:
        x, y = fs.test_split(desc, args.samples, data_dir=args.data_dir)
    print(f"{args.device}: {', '.join(l.name for l in desc.layers)}; T={desc.timesteps}")
    for budget in budgets:
        found = plans(desc, budget, args.device)
        cycles = {}
        for name, folds in found.items():
            if isinstance(folds, Exception):
                print(f"  budget {budget:6d}  {name:15s} {folds}")
                continue
            est = estimate(desc, folds, device=args.device)["total"]
            rows = layer_cycles(desc, folds)
            cycles[name] = max(r["cycles"] for r in rows)
            line = (f"  budget {budget:6d}  {name:15s} {','.join(map(str, folds)):24s} "
                    f"{cycles[name]:8d} cycles/inference (per layer {[r['cycles'] for r in rows]}); "
                    f"estimate {est['lut4']} LUT4, {est['blocks']} block RAMs")
            if args.synth:
                with tempfile.TemporaryDirectory() as tmp:
                    u = fs.synth(desc, Path(tmp), folds, device=args.device).report["utilization"]
                line += f"; yosys {u['lut4']['used']} LUT4, {u['bram']['used']} block RAMs"
            print(line)
            if x is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    r = fs.cosim(desc, x, y, fold=folds, build_dir=tmp).as_dict()
                layers = [(round(l["cycles_measured"], 1), round(l["cycles_model"], 1)) for l in r["layers"]]
                print(f"      Verilator, {r['samples']} test images: {r['mismatches']} mismatches, accuracy "
                      f"{r['accuracy_hw']:.4f} (integer {r['accuracy_ref']:.4f}); streamed "
                      f"{r['streaming_cycles_per_inference']} cycles/inference (stream model "
                      f"{r['streaming_cycles_model']:g}, slowest layer {cycles[name]}); busy "
                      f"cycles per layer (measured, model) {layers}; {r['cycle_model_mismatches']} samples off "
                      "the model")
        if len(cycles) == 2:
            print(f"  budget {budget:6d}  speed-up {cycles['within a pixel'] / cycles['window-wide']:.2f}x")


if __name__ == "__main__":
    main()
