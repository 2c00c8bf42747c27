"""Cycles per inference against the lower bound, dense and event-driven, measured under Verilator.

    .venv/bin/python bench/cycles.py [--samples 100] [--mlp NET.json] [--conv NET.json]

Trains the digits MLP (64-128-10) and the VGG-style net (c16-c32-p2-fc10), STBP, T=4, unless given;
then for four foldings of each, dense and with event-driven layers (--event: every layer fed by
spikes, convolutions included), and three foldings shaped for event-driven layers (SIMD 1),
co-simulates the first --samples test images and prints per layer:

* dense bound: the issue cycles G * F_in per step (one word per cycle, no stall): measured / bound;
* event bound: SOPs / lanes (every lane of every cycle doing useful work): measured / bound;

(busy cycles per inference, samples one at a time, measured by the layer's counter), and per design the
cycles per result of the samples streamed back to back against the slowest layer's bound, and the
co-simulation speed in simulated cycles per second.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

FOLDINGS = {   # each is run dense, and with every layer fed by spikes event-driven (--event)
    "mlp": ["16x8,16x5", "8x4,8x2", "64x32,32x10", "16x8,1x10"],
    "conv": ["1x8,16x8,16x5", "1x4,8x4,8x2", "1x16,16x32,32x10", "1x8,16x8,1x10"],
}
#: Foldings shaped for event-driven layers: lanes over neurons (SIMD 1), so that each cycle takes one
#: active input to SIMD x PE = PE neurons. With SIMD > 1 a visited word holds SIMD inputs of which few
#: spiked, and the layer pays a cycle per nonzero word (the rows above).
EVENT_FOLDINGS = {
    "mlp": ["16x8,1x10e", "8x4,1x5e", "16x8,1x2e"],
    "conv": ["1x8,1x32e,1x10e", "1x4,1x16e,1x5e", "1x8,1x8e,1x2e"],
}
ARCHS = {"mlp": "64-128-10", "conv": "c16-c32-p2-fc10"}


def trained(name: str, tmp: Path):
    from flipspike.sw.export import export_model
    from flipspike.sw.model import ModelConfig
    from flipspike.sw.train import TrainConfig, load_run, train

    train(ModelConfig(ARCHS[name], timesteps=4), TrainConfig(epochs=30, seed=0), tmp / name, progress=False)
    return export_model(load_run(tmp / name)[0], pixel_bits=5, pixel_max=16, frac_bits=4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--mlp")
    ap.add_argument("--conv")
    ap.add_argument("--build-dir", default="build/bench")
    args = ap.parse_args()

    from flipspike.ir import NetDesc, parse_folding
    from flipspike.ir.folding import with_event
    from flipspike.sim.cosim import cosim
    from flipspike.sw.data import load_dataset

    data = load_dataset("digits")
    x, y = data.x_test[:args.samples], data.y_test[:args.samples]
    rows, streams = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("mlp", "conv"):
            path = getattr(args, name)
            desc = NetDesc.load(path) if path else trained(name, Path(tmp))
            runs = [(text, event) for text in FOLDINGS[name] for event in (False, True)]
            for text, event in runs + [(text, False) for text in EVENT_FOLDINGS[name]]:
                folds = parse_folding(text, desc.layers)
                folds = with_event(desc.layers, folds) if event else folds
                mode = "event" if any(f.event for f in folds) else "dense"
                r = cosim(desc, folds, x, y, build_root=args.build_dir)
                assert r["mismatches"] == 0, r["mismatch_details"]
                for layer in r["layers"]:
                    lanes = layer["simd"] * layer["pe"]
                    if layer["event"]:
                        bound, kind = layer["sops_measured"] / args.samples / lanes, "SOPs/lanes"
                    else:
                        bound, kind = layer["issue_cycles_dense"], "issue"
                    rows.append((name, text, mode, layer["name"],
                                 layer["cycles_measured"], layer["cycles_model"], bound, kind,
                                 layer["cycles_measured"] / max(bound, 1e-9)))
                slowest = max(row[6] for row in rows[-len(r["layers"]):])
                streams.append((name, text, mode, r["streaming_cycles_per_inference"],
                                slowest, r["streaming_cycles_per_inference"] / slowest))
                print(f"{name} {text} {mode}: {r['streaming_cycles_per_inference']:.0f} "
                      f"cycles/result, {r['cycles_per_second']:,.0f} simulated cycles/s, 0 mismatches", flush=True)
    print("\n| net | folding | mode | layer | cycles measured | model | bound | bound kind | measured/bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.1f} | {r[7]} | {r[8]:.3f} |")
    print("\n| net | folding | mode | cycles/result, streamed | slowest layer's bound | ratio |")
    print("|---|---|---|---|---|---|")
    for r in streams:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.3f} |")


if __name__ == "__main__":
    main()
