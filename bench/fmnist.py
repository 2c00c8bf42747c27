"""Fashion-MNIST at real size: accuracy, cycles, inferences/s and resources per network and board.

    python bench/fmnist.py NET [NET ...] [--samples all] [--icebreaker-fold F] [--ulx3s-fold F] [--no-build]

For each description (e.g. ``make demo-fmnist``'s runs/fmnist/net.json, or a run trained with
``--pixel-bits 4``): the co-simulation of the test split (hardware against the integer reference, the
streamed cycles per inference against the slowest layer's bound), then a board build per board whose
fold is given (``flipspike build --clock auto``: yosys + nextpnr, one to three builds of 1-4 minutes),
with inferences/s and latency at the clock the build runs at. Folds: "auto" plans with
``--lut-budget`` at 70 % of the device's LUT4s (weights moved into SPRAM where block RAM overflows).
The published figures are for other devices and for MNIST, which shares Fashion-MNIST's size and
format, not its difficulty: context, not a like-for-like comparison.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import flipspike as fs
from flipspike.gen.build import BOARDS
from flipspike.gen.synth import DEVICES
from flipspike.ir import NetDesc

ANCHORS = [("Spiker+, SNN, MNIST, Xilinx (Carpegna et al. 2024)", "780 us per image, 7,612 logic cells, 18 BRAM, 93.85 %"),
           ("Flexi-NeurA, SNN, MNIST", "1.1 ms per image, 1,623 logic cells, 7 BRAM, 97.23 %"),
           ("open SNN on Artix-7, MNIST", "0.52 ms per image, 6,358 LUT"),
           ("FINN, binarized MLP, MNIST, ZC706 (Umuroglu et al. 2017)", "12.3M images/s")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("nets", nargs="+")
    p.add_argument("--samples", default="all", help="test images to co-simulate (default: all 10,000)")
    p.add_argument("--icebreaker-fold", default="auto", help="'' to skip the iCEBreaker")
    p.add_argument("--ulx3s-fold", default="16x8,16x5", help="'' to skip the ULX3S")
    p.add_argument("--no-build", action="store_true", help="co-simulate only")
    args = p.parse_args()
    rows = []
    for net in args.nets:
        desc = NetDesc.load(net)
        for board, fold in (("icebreaker", args.icebreaker_fold), ("ulx3s", args.ulx3s_fold)):
            if not fold:
                continue
            device = BOARDS[board][2]
            budget = int(0.7 * DEVICES[device]["totals"]["lut4"]) if fold == "auto" else None
            plan = fs.plan(desc, "auto" if budget else fold, lut_budget=budget, device=device, host_link=True,
                           max_blocks=DEVICES[device]["totals"]["bram"])
            cos = fs.cosim(plan, samples=args.samples, progress=True).as_dict()
            bound = max(row["cycles"] for row in plan.cycles)
            row = {"net": Path(net).parent.name, "pixels": desc.input.bits, "board": board, "fold": plan.folding,
                   "float": desc.meta.get("float_test_accuracy"), "integer": cos["accuracy_ref"],
                   "hardware": cos["accuracy_hw"], "samples": cos["samples"], "mismatches": cos["mismatches"],
                   "cycles": cos["streaming_cycles_per_inference"], "bound": bound,
                   "latency_cycles": cos["cycles_per_inference"]}
            if not args.no_build:
                with tempfile.TemporaryDirectory() as tmp:
                    r = fs.build(plan, board, Path(tmp) / board, clock_mhz="auto").report
                u = r["utilization"]
                row.update(clock=r["clock_mhz"], fmax=r["fmax_mhz"], ok=r["fits"] and r["timing_met"],
                           lut4=u["lut4"]["used"], lc=u.get("lc", {}).get("used"), ff=u["ff"]["used"],
                           bram=u["bram"]["used"], spram=u.get("spram", {}).get("used", 0))
            rows.append(row)
            print(f"done: {row}", flush=True)
    print("| net | pixel bits | board | fold | accuracy: float (whole test split) / integer / hardware (co-simulated) "
          "| mismatches | cycles per inference "
          "(streamed / bound) | clock (Fmax) MHz | inferences/s | latency (us) | LUT4 | logic cells | FF | BRAM "
          "| SPRAM |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        acc = f"{_pct(r['float'])} / {_pct(r['integer'])} / {_pct(r['hardware'])} ({r['samples']} images)"
        clock = f"{r['clock']:g} ({r['fmax']})" if "clock" in r else "-"
        ips = f"{r['clock'] * 1e6 / r['cycles']:,.0f}" if "clock" in r else "-"
        lat = f"{r['latency_cycles'] / r['clock']:.1f}" if "clock" in r else "-"
        res = [str(r.get(k, "-")) for k in ("lut4", "lc", "ff", "bram", "spram")]
        print(f"| {r['net']} | {r['pixels']} | {r['board']} | {r['fold']} | {acc} | {r['mismatches']} | "
              f"{r['cycles']:.0f} / {r['bound']} | {clock} | {ips} | {lat} | {' | '.join(res)} |")
    for what, figure in ANCHORS:
        print(f"published: {what}: {figure}")


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


if __name__ == "__main__":
    main()
