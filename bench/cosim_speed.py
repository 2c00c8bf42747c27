"""Co-simulation speed: Verilator (cocotb, Python once per sample) vs Amaranth's simulator, same process.

    .venv/bin/python bench/cosim_speed.py [--samples 360] [--pysim-samples 20]

Trains the README's digits network (64-128-10, STBP, T=4, 30 epochs, seed 0), then measures a cold
Verilator build, the whole test split under Verilator, and a few samples under Amaranth's simulator,
and prints simulated cycles per second for each and their ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from flipspike.ir import default_folding
from flipspike.sim.cosim import cosim
from flipspike.sim.pysim import run_pysim
from flipspike.sw.data import load_dataset
from flipspike.sw.export import export_model
from flipspike.sw.model import ModelConfig
from flipspike.sw.train import TrainConfig, load_run, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=360)
    ap.add_argument("--pysim-samples", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = load_dataset("digits")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        train(ModelConfig("64-128-10", timesteps=4), TrainConfig(epochs=30, seed=0), tmp / "run", progress=False)
        train_s = time.perf_counter() - start
        desc = export_model(load_run(tmp / "run")[0], pixel_bits=5, pixel_max=16, frac_bits=4)
        folds = default_folding(desc.layers)
        x, y = data.x_test[:args.samples], data.y_test[:args.samples]
        report = cosim(desc, folds, x, y, build_root=tmp / "build")          # cold build
        t = report["timings"]
        vl_rate = report["simulated_cycles"] / t["simulate_s"]
        start = time.perf_counter()
        observed = run_pysim(desc, folds, x[:args.pysim_samples], stream=False)["samples"]
        py_s = time.perf_counter() - start
        py_rate = sum(o["latency"] for o in observed) / py_s
    print(f"digits 64-128-10, T=4, folding {report['folding']}; training {train_s:.1f}s")
    print(f"verilator: {report['samples']} samples, mismatches {report['mismatches']}, "
          f"{report['cycles_per_inference']:.0f} cycles/inference")
    print(f"  generate {t['generate_s']:.1f}s, cold build {t['build_s']:.1f}s, simulate {t['simulate_s']:.2f}s, "
          f"total {t['total_s']:.1f}s; {vl_rate:,.0f} simulated cycles/s")
    print(f"amaranth pysim: {len(observed)} samples in {py_s:.1f}s; {py_rate:,.0f} simulated cycles/s")
    print(f"verilator / pysim speed ratio: {vl_rate / py_rate:.0f}x")


if __name__ == "__main__":
    main()
