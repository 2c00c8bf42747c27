"""Board builds of a trained network: utilization, Fmax and throughput next to published figures.

    python bench/boards.py [NET] [--icebreaker-fold 8x1,8x1] [--ulx3s-fold 16x8,16x5]

NET defaults to runs/demo/net.json (``make demo`` writes it). Each build runs yosys + nextpnr from
PyPI (about two minutes each on 2 cores). Throughput is the slowest layer's modelled busy cycles per
inference at the Fmax nextpnr reports (samples streamed back to back); latency is the sum over layers.
The published figures are for other devices and datasets (MNIST, not 8x8 digits): context, not a
like-for-like comparison.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from flipspike.gen.build import build_board
from flipspike.gen.cycle_model import layer_cycles
from flipspike.gen.estimate import estimate
from flipspike.ir import NetDesc, parse_folding

PUBLISHED = [("FINN, binarized MLP, MNIST, ZC706 (Umuroglu et al. 2017)", "12.3M images/s"),
             ("Spiker+, SNN, MNIST (Carpegna et al. 2024)", "780 us per image")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("net", nargs="?", default="runs/demo/net.json")
    p.add_argument("--icebreaker-fold", default="8x1,8x1")
    p.add_argument("--ulx3s-fold", default="16x8,16x5")
    args = p.parse_args()
    desc = NetDesc.load(args.net)
    rows = []
    for board, fold in (("icebreaker", args.icebreaker_fold), ("ulx3s", args.ulx3s_fold)):
        folds = parse_folding(fold, desc.layers)
        with tempfile.TemporaryDirectory() as tmp:
            r = build_board(desc, folds, board, Path(tmp) / board)
        cycles = [row["cycles"] for row in layer_cycles(desc, folds)]
        est = estimate(desc, folds, host_link=True)["total"]
        u = r["utilization"]
        cells = f"{u['lc']['used']} ({u['lc']['percent']} %)" if "lc" in u else "-"
        rows.append((board, fold, f"{u['lut4']['used']} ({u['lut4']['percent']} %)", est["lut4"], cells, u["ff"]["used"],
                     u["bram"]["used"], r["fmax_mhz"], r["fits"], r["fmax_mhz"] * 1e6 / max(cycles),
                     sum(cycles) / r["fmax_mhz"]))
        print(f"built {board} {fold} in {r['seconds']} s", flush=True)
    print("| board | fold | LUT4 | LUT4 estimate | logic cells | FF | RAM blocks | Fmax (MHz) | fits | inferences/s at Fmax "
          "| latency (us) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for b, f, lut, e, lc, ff, bram, fmax, fits, ips, lat in rows:
        print(f"| {b} | {f} | {lut} | {e} | {lc} | {ff} | {bram} | {fmax} | {'yes' if fits else 'no'} | {ips:,.0f} "
              f"| {lat:.1f} |")
    for what, figure in PUBLISHED:
        print(f"published: {what}: {figure}")


if __name__ == "__main__":
    main()
