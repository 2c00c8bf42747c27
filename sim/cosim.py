"""Co-simulation: the generated Verilog (or the Amaranth model) against the integer reference.

The caller's process computes expectations with the integer reference (torch); the simulator only
streams samples and reports what the hardware produced. One build per distinct design, reused.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from flipspike.gen.cycle_model import layer_cycles
from flipspike.gen.design import TOP, generate
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold
from flipspike.sw.integer import run_integer

from .compare import compare
from .samples import pixel_words

SIMULATORS = ("verilator", "pysim")


def simulate(desc: NetDesc, folds: list[Fold], x: np.ndarray, *, simulator: str = "verilator",
             build_root: str | Path = "build") -> tuple[dict, dict]:
    """Run samples through the hardware built from ``desc``; returns (observations, timings)."""
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    timings = {}
    if simulator == "pysim":
        from .pysim import run_pysim
        start = time.perf_counter()
        observed = run_pysim(desc, folds, x)
        timings["simulate_s"] = time.perf_counter() - start
        return observed, timings
    from .verilator import build, find_verilator, run_bench
    find_verilator()                                    # fail early, with the fix, if it is missing
    build_root = Path(build_root)
    start = time.perf_counter()
    design = generate(desc, folds, build_root / "designs" / "current")
    timings["generate_s"] = time.perf_counter() - start
    start = time.perf_counter()
    build_dir = build(design.verilog, design.waivers, TOP, build_root / "verilator")
    timings["build_s"] = time.perf_counter() - start
    start = time.perf_counter()
    observed = run_bench(build_dir, TOP, design.config["ports"], [pixel_words(s, folds[0].simd) for s in x])
    timings["simulate_s"] = time.perf_counter() - start
    return observed, timings


def cosim(desc: NetDesc, folds: list[Fold], x: np.ndarray, y: np.ndarray | None = None, *,
          simulator: str = "verilator", build_root: str | Path = "build", hw_desc: NetDesc | None = None) -> dict:
    """Co-simulate and compare. ``hw_desc`` (default ``desc``) builds the hardware: a test passes a
    mutated description here to show that the comparison catches a one-LSB difference."""
    start = time.perf_counter()
    ref = run_integer(desc, x)
    observed, timings = simulate(hw_desc or desc, folds, x, simulator=simulator, build_root=build_root)
    diffs = compare(ref, observed)
    model = layer_cycles(desc, folds)
    samples = observed["samples"]
    n = len(samples)
    total_cycles = sum(o["latency"] for o in samples)
    layers = []
    for i, (layer, row) in enumerate(zip(desc.layers, model)):
        layers.append({
            "name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out, "simd": row["simd"], "pe": row["pe"],
            "cycles_measured": sum(o["counters"][i]["cycles"] for o in samples) / n,
            "cycles_model": row["cycles"],
            "sops_measured": sum(o["counters"][i]["sops"] for o in samples),
            "sops_ref": int(ref.layers[i].sops.sum()),
            "spikes_measured": sum(o["counters"][i]["in_spikes"] for o in samples),
            "spikes_ref": int(ref.layers[i].in_spikes.sum()),
        })
    report = {
        "simulator": simulator,
        "samples": n,
        "mismatches": len({d["sample"] for d in diffs}),
        "mismatch_details": diffs[:20],
        "cycles_per_inference": total_cycles / n,
        "streaming_cycles_per_inference": (observed.get("stream") or {}).get("cycles_per_inference"),
        "simulated_cycles": observed["simulated_cycles"],
        "layers": layers,
        "folding": [str(f) for f in folds],
        "timesteps": desc.timesteps,
        "timings": {**timings, "total_s": time.perf_counter() - start},
    }
    if y is not None:
        report["accuracy_hw"] = float(np.mean(np.asarray([o["cls"] for o in samples]) == np.asarray(y)))
        report["accuracy_ref"] = float((ref.cls.numpy() == np.asarray(y)).mean())
    sim_s = timings.get("simulate_s", 0)
    report["cycles_per_second"] = observed["simulated_cycles"] / sim_s if sim_s else None
    return report
