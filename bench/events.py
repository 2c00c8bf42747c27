"""Events into the chip: the AER port's sustained rate, cycles per sample against input events, accuracy against T.

    .venv/bin/python bench/events.py [--samples 360] [--timesteps 2,4,8] [--epochs 15] [--clock 48,100]

Trains a 200-128-10 MLP on digits-saccade (simulated saccades of the 8x8 digits in front of an event
sensor, a frame of 10x10x2 per step, sw/events.py) at each T, exports it, and co-simulates its test split
under Verilator through the AER port (``--aer 2``: a 20x20 sensor; the events are the ones that make each
sample's frames, ``ir.aer.events_from_frames``). Prints, measured:

* the port's sustained rate: samples whose every pixel fires twice at every step, streamed back to back,
  so the port and not the network sets the pace: events taken per cycle, and per second at each --clock
  (by default the clocks `flipspike build --aer` met on the iCEBreaker and the ULX3S; placing and routing
  is not repeated here), beside event cameras' peak output rates as their makers state them;
* per T: float, integer and hardware accuracy (0 mismatches expected), input events per sample, cycles per
  sample alone (mean) and per result streamed back to back, and the events per second the network
  itself keeps up with at each clock (events per sample / streamed cycles per result);
* at the largest T: cycles per sample alone against its number of events, by quartile of events;
* the NIR paper's N-MNIST CNN in shape (``--nmnist-samples``, Sinabs installed: ``make test`` installs it):
  built in Sinabs as that paper's repository defines it for Speck (2x34x34 event frames, Conv 5x5 stride 2
  padding 1, IAF neurons, SumPool2d counts into the next convolutions, Flatten, Linear, an IAF output layer
  whose class is its spike count; T = 10; the sizes after the second pool and the weights (+-1, random)
  are ours: no trained weights can be fetched here), exported by Sinabs' own exporter, imported unedited,
  and co-simulated through the AER port on random event frames (8 % density): per layer busy cycles
  measured and modelled, the cycles per result streamed, mismatches.
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
    ap.add_argument("--clock", default="42.75,100", help="MHz, comma-separated (default: the clocks the AER board "
                    "builds met, iCEBreaker at T = 4 and ULX3S at T = 8: docs/events.md)")
    ap.add_argument("--build-dir", default="build/bench")
    ap.add_argument("--nmnist-samples", type=int, default=16, help="0: skip the N-MNIST CNN")
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

    if args.nmnist_samples:
        nmnist(args.nmnist_samples, args.build_dir, clocks)


def nmnist_cnn(rng, T: int = 10, side: int = 34):
    """The NIR paper's N-MNIST CNN in shape, in Sinabs' modules, +-1 weights; its NIR graph by Sinabs' exporter."""
    import sinabs
    import sinabs.layers as sl
    import torch
    from sinabs.activation import SingleSpike

    def signs(layer):
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(np.where(rng.random(layer.weight.shape) < 0.5, -1.0, 1.0)))
        return layer

    def conv(c_in, c_out, k, stride, pad):
        return signs(torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, bias=False))

    def iaf(theta):
        return sl.IAFSqueeze(spike_threshold=torch.tensor(theta), spike_fn=SingleSpike, batch_size=1)

    net = torch.nn.Sequential(conv(2, 16, 5, 2, 1), iaf(3.0), conv(16, 16, 3, 1, 1), iaf(6.0), sl.SumPool2d(2),
                              conv(16, 8, 3, 1, 1), iaf(8.0), sl.SumPool2d(2), torch.nn.Flatten(),
                              signs(torch.nn.Linear(128, 256, bias=False)), iaf(8.0),
                              signs(torch.nn.Linear(256, 10, bias=False)), iaf(4.0))
    graph = sinabs.to_nir(net, torch.zeros(T, 2, side, side))

    def forward(frames: np.ndarray) -> np.ndarray:
        """Output spike counts [N, 10] of frames [N, T * side * side * 2] (flipspike's HWC frames)."""
        n = len(frames)
        for module in net:
            if isinstance(module, sl.IAFSqueeze):
                module.batch_size = n
                module.reset_states()
        x = torch.from_numpy(frames.reshape(n, T, side, side, 2).transpose(0, 1, 4, 2, 3).astype(np.float32))
        with torch.no_grad():
            return net(x.flatten(0, 1)).reshape(n, T, -1).sum(1).numpy()

    return graph, forward


def nmnist(samples: int, build_dir: str, clocks: list[float]) -> None:
    try:
        import sinabs  # noqa: F401
    except ImportError:
        print("\nN-MNIST CNN: skipped (Sinabs is not installed; make test installs the peers)")
        return
    import flipspike as fs
    from flipspike.gen.nir_io import from_nir
    from flipspike.sw.integer import run_integer

    rng = np.random.default_rng(0)
    graph, forward = nmnist_cnn(rng)
    desc, report = from_nir(graph, pixel_bits=1, pixel_max=1, timesteps=10, producer="sinabs",
                            encoding="frames")
    plan = fs.plan(desc, "auto")
    x = (rng.random((samples, desc.input.elements(desc.timesteps))) < 0.08).astype(np.int64)
    result = fs.cosim(plan, x, aer=1, build_dir=build_dir).as_dict()
    counts = run_integer(desc, x).layers[-2].spikes.sum(0).numpy()
    same = int((counts == forward(x)).all(axis=1).sum())
    print()
    print(f"NIR paper's N-MNIST CNN (Sinabs' export, imported unedited; approximations: "
          f"{report.approximations or 'none'}), T = 10, {samples} random event samples through the AER port, "
          f"folding {','.join(result['folding'])}:")
    for note in report.rewrites:
        print(f"  exact: {note}")
    print("| layer | fan-in x neurons | busy cycles measured | model |")
    print("|---|---|---|---|")
    for layer in result["layers"]:
        print(f"| {layer['name']} | {layer['n_in']} x {layer['n_out']} | {layer['cycles_measured']:.1f} | "
              f"{layer['cycles_model']:.1f} |")
    stream = result["streaming_cycles_per_inference"]
    print(f"mismatches {result['mismatches']}, cycle-model mismatches {result['cycle_model_mismatches']}, "
          f"dropped events {result['aer_dropped']}; output spike counts equal to Sinabs' own forward pass on "
          f"{same} of {samples} samples; {stream:.0f} cycles per result streamed: "
          + ", ".join(f"{c * 1e6 / stream:.0f} inferences/s at {c:g} MHz" for c in clocks))


if __name__ == "__main__":
    main()
