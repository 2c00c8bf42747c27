"""Co-simulation speed: the compiled Verilator bench (C++ clocks the model), the cocotb bench (Python
once per sample) and Amaranth's simulator, in one process.

    .venv/bin/python bench/cosim_speed.py [--samples 360] [--pysim-samples 20]

Trains the README's digits network (64-128-10, STBP, T=4, 30 epochs, seed 0), then measures, for each
Verilator bench, a cold build and the whole test split (bit-exact against the integer reference), and
a few samples under Amaranth's simulator; prints simulated cycles per second and the ratios.
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
        reports = {bench: cosim(desc, folds, x, y, build_root=tmp / "build", bench=bench)    # cold builds
                   for bench in ("compiled", "cocotb")}
        start = time.perf_counter()
        observed = run_pysim(desc, folds, x[:args.pysim_samples], stream=False)["samples"]
        py_s = time.perf_counter() - start
        py_rate = sum(o["latency"] for o in observed) / py_s
    some = reports["compiled"]
    print(f"digits 64-128-10, T=4, folding {some['folding']}; training {train_s:.1f}s; {some['samples']} samples, "
          f"{some['cycles_per_inference']:.0f} cycles/inference (one at a time), then back to back")
    rates = {}
    for bench, report in reports.items():
        t = report["timings"]
        rates[bench] = report["simulated_cycles"] / t["simulate_s"]
        print(f"verilator, {bench} bench: mismatches {report['mismatches']}; cold build {t['build_s']:.1f}s, "
              f"simulate {t['simulate_s']:.3f}s for {report['simulated_cycles']:,} cycles: "
              f"{rates[bench]:,.0f} simulated cycles/s")
    print(f"amaranth pysim: {len(observed)} samples in {py_s:.1f}s; {py_rate:,.0f} simulated cycles/s")
    print(f"compiled / cocotb: {rates['compiled'] / rates['cocotb']:.1f}x; cocotb / pysim: "
          f"{rates['cocotb'] / py_rate:.0f}x; compiled / pysim: {rates['compiled'] / py_rate:.0f}x")


if __name__ == "__main__":
    main()
