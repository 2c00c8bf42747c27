"""Events into the chip: the AER port's sustained rate, cycles per sample against input events, accuracy against T.

    .venv/bin/python bench/events.py [--samples 360] [--timesteps 2,4,8] [--epochs 15] [--clock 48,100]

Trains a 200-128-10 MLP on digits-saccade (simulated saccades of the 8x8 digits in front of an event
sensor, a frame of 10x10x2 per step, sw/events.py) at each T, exports it, and co-simulates its test split
under Verilator through the AER port (``--aer 2``: a 20x20 sensor; the events are the ones that make each
sample's frames, ``ir.aer.events_from_frames``). Prints, measured:

* the port's sustained rate: samples whose every pixel fires twice at every step, streamed back to back,
  so the port and not the network sets the pace: events taken per cycle, and per second at each --clock
  (the board builds' clock goals; the AER build is not placed and routed here), beside event cameras'
  peak output rates as their makers state them;
* per T: float, integer and hardware accuracy (0 mismatches expected), input events per sample, cycles per
  sample alone (mean) and per result streamed back to back, and the events per second the network
  itself keeps up with at each clock (events per sample / streamed cycles per result);
* at the largest T: cycles per sample alone against its number of events, by quartile of events.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

#: Event cameras' peak output as their makers state it (million events per second; not measured here).
CAMERAS = {"DVS128 (iniVation)": 1.0, "DAVIS346 (iniVation)": 12.0, "DVXplorer (iniVation)": 165.0}
FOLD = "8x8,16x5"
POOL = 2


def trained(tmp: Path, T: int, epochs: int):
    import flipspike as fs
    run = tmp / f"t{T}"
    fs.train(run, arch="200-128-10", timesteps=T, encoding="frames", dataset="digits-saccade", epochs=epochs,
             seed=0)
    return fs.export(run)


def saturating(fmt, n: int) -> list[np.ndarray]:
    """n samples in which every sensor pixel's frame pixel fires twice at every step (both polarities)."""
    h, w = fmt.height, fmt.width
    t, y, x, p = np.meshgrid(np.arange(fmt.timesteps), np.arange(h), np.arange(w), np.arange(2), indexing="ij")
    one = np.stack([x.ravel() * fmt.pool, y.ravel() * fmt.pool, p.ravel(), t.ravel()], axis=1)
    return [np.repeat(one, 2, axis=0) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=360)
    ap.add_argument("--timesteps", default="2,4,8")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--clock", default="48,100", help="MHz, comma-separated")
    ap.add_argument("--build-dir", default="build/bench")
    args = ap.parse_args()

    import flipspike as fs
    from flipspike.ir import parse_folding
    from flipspike.ir.aer import EventFormat, events_from_frames
    from flipspike.sim.cosim import cosim, simulate

    clocks = [float(c) for c in args.clock.split(",")]
    steps = [int(t) for t in args.timesteps.split(",")]
    rows, by_events = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for T in steps:
            exported = trained(Path(tmp), T, args.epochs)
            desc = exported.desc
            folds = parse_folding(FOLD, desc.layers, frames=True)
            fmt = EventFormat.of(desc, POOL)
            x, y = fs.test_split(desc, min(args.samples, 360))
            events = events_from_frames(x, fmt, seed=0)
            report = cosim(desc, folds, events, y, build_root=args.build_dir, aer=fmt)
            observed, _ = simulate(desc, folds, events, build_root=args.build_dir, aer=fmt)
            counts = np.array([len(e) for e in events])
            alone = np.array([s["latency"] for s in observed["samples"]])
            stream = report["streaming_cycles_per_inference"]
            rows.append({"T": T, "float": exported.float_accuracy, "integer": exported.integer_accuracy,
                         "hw": report["accuracy_hw"], "mismatches": report["mismatches"],
                         "events": counts.mean(), "alone": alone.mean(), "stream": stream,
                         "dropped": report["aer_dropped"]})
            if T == max(steps):
                by_events = (counts, alone)
                sat = saturating(fmt, 24)
                sat_observed, _ = simulate(desc, folds, sat, build_root=args.build_dir, aer=fmt)
                port = len(sat[0]) / sat_observed["stream"]["cycles_per_inference"]

    print(f"digits-saccade MLP 200-128-10 at {FOLD}, AER port for a {fmt.sensor[0]}x{fmt.sensor[1]} sensor "
          f"(pool {POOL}), {len(x)} test samples")
    print()
    print(f"AER port, saturated ({len(sat[0])} events a sample, T = {max(steps)}): {port:.3f} events per cycle "
          "sustained")
    print("| clock | events/s the port takes | " + " | ".join(CAMERAS) + " |")
    print("|---|---|" + "---|" * len(CAMERAS))
    for mhz in clocks:
        print(f"| {mhz:g} MHz | {port * mhz:.1f} M | " + " | ".join(f"{v:g} M" for v in CAMERAS.values()) + " |")
    print()
    print("| T | float | integer | hardware (AER) | mismatches | dropped | events / sample | cycles alone | "
          "cycles / result streamed | " + " | ".join(f"events/s kept up with at {c:g} MHz" for c in clocks) + " |")
    print("|---|---|---|---|---|---|---|---|---|" + "---|" * len(clocks))
    for r in rows:
        keep = " | ".join(f"{r['events'] / r['stream'] * c:.2f} M" for c in clocks)
        print(f"| {r['T']} | {r['float']:.2%} | {r['integer']:.2%} | {r['hw']:.2%} | {r['mismatches']} | "
              f"{r['dropped']} | {r['events']:.1f} | {r['alone']:.1f} | {r['stream']:.1f} | {keep} |")
    print()
    counts, alone = by_events
    edges = np.quantile(counts, [0, 0.25, 0.5, 0.75, 1])
    print(f"T = {max(steps)}: cycles per sample alone by input events (quartiles)")
    print("| events | samples | cycles alone (mean) | cycles - 2 x events |")
    print("|---|---|---|---|")
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (counts >= lo) & (counts <= hi)
        print(f"| {lo:.0f}-{hi:.0f} | {int(sel.sum())} | {alone[sel].mean():.1f} | "
              f"{(alone[sel] - 2 * counts[sel]).mean():.1f} |")


if __name__ == "__main__":
    main()
