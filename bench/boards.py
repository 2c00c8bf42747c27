"""Board builds of a trained network: utilization, Fmax and throughput next to published figures.

    python bench/boards.py [NET] [--conv CONV_NET] [--icebreaker-fold 16x1,8x1] [--icebreaker-clock auto]
                           [--ulx3s-fold 16x8,16x5] [--ulx3s-clock auto] [--conv-fold 1x1,8x2,1x1] [--conv-clock auto]

NET defaults to runs/demo/net.json (``make demo`` writes it); with --conv, the conv net is built for the
iCEBreaker too. Each build runs yosys + nextpnr from PyPI (one to two minutes each on 2 cores), the
design clocked from the board's PLL at the given MHz (nextpnr works to that constraint; 0: the board's
oscillator; auto, the default: ``flipspike build --clock auto``, one to three builds). Throughput is the slowest layer's modelled busy cycles per inference at the Fmax nextpnr
reports (samples streamed back to back); latency is the sum over layers.
The published figures are for other devices and datasets (MNIST, not 8x8 digits): context, not a
like-for-like comparison.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from flipspike.gen.build import BOARDS, build_board
from flipspike.cli import parse_clock
from flipspike.ir.cycle_model import layer_cycles
from flipspike.gen.estimate import estimate
from flipspike.ir import NetDesc, parse_folding

PUBLISHED = [("FINN, binarized MLP, MNIST, ZC706 (Umuroglu et al. 2017)", "12.3M images/s"),
             ("Spiker+, SNN, MNIST (Carpegna et al. 2024)", "780 us per image")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("net", nargs="?", default="runs/demo/net.json")
    p.add_argument("--conv", default=None, help="a conv net's description, built for the iCEBreaker too")
    p.add_argument("--icebreaker-fold", default="16x1,8x1")
    p.add_argument("--icebreaker-clock", type=parse_clock, default="auto")
    p.add_argument("--conv-clock", type=parse_clock, default="auto")
    p.add_argument("--conv-fold", default="1x1,8x2,1x1")
    p.add_argument("--ulx3s-fold", default="16x8,16x5")
    p.add_argument("--ulx3s-clock", type=parse_clock, default="auto")
    args = p.parse_args()
    desc = NetDesc.load(args.net)
    builds = [("icebreaker", desc, args.icebreaker_fold, args.icebreaker_clock),
              ("ulx3s", desc, args.ulx3s_fold, args.ulx3s_clock)]
    if args.conv:
        builds.insert(1, ("icebreaker", NetDesc.load(args.conv), args.conv_fold, args.conv_clock))
    rows = []
    for board, desc, fold, clock in builds:
        folds = parse_folding(fold, desc.layers)
        with tempfile.TemporaryDirectory() as tmp:
            r = build_board(desc, folds, board, Path(tmp) / board, clock_mhz=clock or None)
        cycles = [row["cycles"] for row in layer_cycles(desc, folds)]
        est = estimate(desc, folds, host_link=True, device=BOARDS[board][2])["total"]
        u = r["utilization"]
        cells = f"{u['lc']['used']} ({u['lc']['percent']} %)" if "lc" in u else "-"
        arch = "conv" if any(layer.conv is not None for layer in desc.layers) else "MLP"
        rows.append((board, arch, fold, f"{u['lut4']['used']} ({u['lut4']['percent']} %)", est["lut4"], cells,
                     u["ff"]["used"], u["bram"]["used"], r["clock_mhz"], r["fmax_mhz"], r["fits"] and r["timing_met"],
                     r["fmax_mhz"] * 1e6 / max(cycles), sum(cycles) / r["fmax_mhz"]))
        rounds = ", ".join(f"{x['clock_mhz']:g} MHz -> {x['fmax_mhz']}" for x in r.get("clock_rounds", []))
        print(f"built {board} {arch} {fold} in {r['seconds']} s{' (' + rounds + ')' if rounds else ''}", flush=True)
    print("| board | net | fold | LUT4 | LUT4 estimate | logic cells | FF | RAM blocks | clock (MHz) | Fmax (MHz) "
          "| fits, timing met | inferences/s at Fmax | latency (us) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for b, a, f, lut, e, lc, ff, bram, clock, fmax, ok, ips, lat in rows:
        print(f"| {b} | {a} | {f} | {lut} | {e} | {lc} | {ff} | {bram} | {clock:g} | {fmax} | {'yes' if ok else 'no'} "
              f"| {ips:,.0f} | {lat:.1f} |")
    for what, figure in PUBLISHED:
        print(f"published: {what}: {figure}")


if __name__ == "__main__":
    main()
