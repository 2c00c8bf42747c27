"""NIR conformance with the SNN libraries, on a trained network and its test split.

    python bench/nir_peers.py [NET] [--samples N] [--no-cosim]

NET: a dense description (default runs/demo/net.json, ``make demo``'s digits MLP). For each library
(snnTorch, Norse, SpikingJelly, Sinabs; those not installed are skipped: ``make setup`` installs them):

* **library -> flipspike**: the network's +-1 weights, biases, thresholds and leak copied into the
  library's own modules, in its idiom (per-neuron thresholds where it has them, else rows scaled to one
  threshold), exported by **its own exporter** with its defaults, imported by ``flipspike import
  --producer LIB`` with no edits, then co-simulated (Verilator); classes and output totals of the
  integer reference against **the library's own forward pass**, and hardware mismatches.
* **flipspike -> library**: ``export --format nir --for LIB`` loaded by **the library's own importer**,
  its forward pass against flipspike's integer reference of the network.

Prints the conformance table (library x direction x classes equal x totals equal x what was announced).
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np

import flipspike as fs
from flipspike.gen.nir_io import from_nir, to_nir
from flipspike.sim.nir_peers import LIBRARIES, run_in_library, stepped
from flipspike.sw.integer import run_integer


def _params(desc):
    """Per layer: (+-1 weights [out, in], bias, threshold or None, lambda or None), real values."""
    out = []
    for layer in desc.layers:
        scale = 2.0 ** -layer.frac_bits
        theta = None if layer.threshold is None else layer.threshold * scale
        lam = None if layer.leak_shift is None else 1 - 2.0 ** -layer.leak_shift
        out.append((layer.weights.astype(np.float32) * 2 - 1, layer.bias * scale, theta, lam))
    return out


def _linear(torch, w, b, row=None):
    row = np.ones(w.shape[0]) if row is None else row
    m = torch.nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        m.weight.copy_(torch.tensor(w * row[:, None], dtype=torch.float32))
        m.bias.copy_(torch.tensor(b * row, dtype=torch.float32))
    return m


def library_network(lib: str, desc):
    """(module, forward(x) -> totals [N, classes], export() -> NIR graph): the description's parameters
    in the library's own modules."""
    import torch
    T, n_in = desc.timesteps, desc.input.size
    layers = _params(desc)
    mods = []
    if lib == "snntorch":
        import snntorch as snn
        from snntorch import utils
        from snntorch.export_nir import export_to_nir
        for w, b, theta, lam in layers:
            mods.append(_linear(torch, w, b))
            if theta is not None:
                mods.append(snn.Leaky(beta=torch.full((len(b),), lam), threshold=torch.tensor(theta, dtype=torch.float32),
                                      init_hidden=True, reset_mechanism="zero"))
        net = torch.nn.Sequential(*mods)

        def forward(x):
            utils.reset(net)
            return sum(net(x) for _ in range(T))
        return forward, lambda: export_to_nir(net, torch.zeros(n_in))
    if lib == "norse":
        import norse.torch as norse
        for w, b, theta, lam in layers:
            a = 1.0 if lam is None else 1 - lam                 # Norse's gain dt*tau_mem_inv: weights carry 1/a
            mods.append(_linear(torch, w, b, np.full(len(b), 1 / a)))
            if theta is not None:
                n = len(b)                                      # its exporter wants every parameter per neuron
                mods.append(norse.LIFBoxCell(norse.LIFBoxParameters(
                    tau_mem_inv=torch.full((n,), a / 1e-3), v_leak=torch.zeros(n), v_reset=torch.zeros(n),
                    v_th=torch.tensor(theta, dtype=torch.float32))))
        net = norse.SequentialState(*mods)

        return lambda x: torch.tensor(stepped(net, x, T)), lambda: norse.to_nir(net, torch.zeros(n_in))
    if lib == "spikingjelly":
        from spikingjelly.activation_based import functional, neuron
        from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir
        for w, b, theta, lam in layers:
            row = None if theta is None else 1 / theta         # one threshold per layer: rows scaled to 1
            mods.append(_linear(torch, w, b, row))
            if theta is not None:
                mods.append(neuron.LIFNode(tau=1 / (1 - lam), decay_input=False, v_threshold=1.0, v_reset=0.0))
        net = torch.nn.Sequential(*mods)

        def forward(x):
            functional.reset_net(net)
            return sum(net(x) for _ in range(T))
        return forward, lambda: export_to_nir(net, torch.zeros(1, n_in))
    if lib == "sinabs":
        import sinabs
        import sinabs.layers as sl
        from sinabs.activation import SingleSpike
        for w, b, theta, lam in layers:
            mods.append(_linear(torch, w, b))
            if theta is not None:
                mods.append(sl.LIF(tau_mem=torch.full((len(b),), -1 / math.log(lam)),   # norm_input: its default
                                   spike_threshold=torch.tensor(theta, dtype=torch.float32), spike_fn=SingleSpike))
        net = torch.nn.Sequential(*mods)

        def forward(x):
            for m in net.modules():
                if isinstance(m, sl.LIF):
                    m.reset_states()
            return net(x[:, None].repeat(1, T, 1)).sum(1)
        return forward, lambda: sinabs.to_nir(net, torch.zeros(1, T, n_in))
    raise ValueError(lib)


def agreement(totals: np.ndarray, ref, frac_bits: int, scale: float = 1.0) -> tuple[float, float]:
    """(classes equal, output totals equal), fractions of the samples."""
    t = totals.astype(np.float64) / scale * 2 ** frac_bits
    return (float((t.argmax(1) == ref.cls.numpy()).mean()),
            float(np.isclose(t, ref.acc.numpy(), atol=1e-3).all(1).mean()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("net", nargs="?", default="runs/demo/net.json")
    p.add_argument("--samples", default="all")
    p.add_argument("--no-cosim", action="store_true", help="skip the co-simulation of the imported networks")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    import importlib.util

    import torch
    desc = fs.load(args.net)
    x, _ = fs.test_split(desc, args.samples)
    xt = torch.tensor(x, dtype=torch.float32)
    rows = []
    for lib in LIBRARIES:
        if importlib.util.find_spec(lib) is None:
            rows.append((lib, "both", "-", "-", "not installed (make setup installs it)"))
            continue
        forward, export = library_network(lib, desc)
        totals = forward(xt).detach().numpy()
        try:
            graph = export()
        except Exception as exc:                               # the library's own exporter failed
            rows.append((lib, f"{lib} -> flipspike", "-", "-", f"its exporter failed: {type(exc).__name__}: {exc}"))
        else:
            imported, report = from_nir(graph, pixel_bits=desc.input.bits, pixel_max=desc.input.max_value,
                                        timesteps=desc.timesteps, producer=lib)
            ref = run_integer(imported, x)
            scale = float(np.abs(np.asarray(graph.nodes[[n for n in graph.nodes
                                                          if type(graph.nodes[n]).__name__ in ("Affine", "Linear")][-1]].weight)).mean())
            classes, equal = agreement(totals, ref, imported.layers[-1].frac_bits, scale)
            said = "; ".join(report.approximations) or "nothing approximated"
            if not args.no_cosim:
                result = fs.cosim(imported, x, fold="auto", build_dir=f"build/nir_peers/{lib}")
                said += f"; hardware: {result.mismatches} mismatches in {result.samples}"
            rows.append((lib, f"{lib} -> flipspike", f"{100 * classes:.2f} %", f"{100 * equal:.2f} %", said))
        notes = []
        try:
            theirs = run_in_library(lib, to_nir(desc, lib, notes), x, desc.timesteps)
        except Exception as exc:
            rows.append((lib, f"flipspike -> {lib}", "-", "-", f"its importer failed: {type(exc).__name__}: {exc}"))
            continue
        classes, equal = agreement(theirs, run_integer(desc, x), desc.layers[-1].frac_bits)
        rows.append((lib, f"flipspike -> {lib}", f"{100 * classes:.2f} %", f"{100 * equal:.2f} %",
                     "; ".join(notes) or "nothing announced"))
    print(f"NIR conformance on {args.net} ({len(x)} test samples, T={desc.timesteps})\n")
    print("| library | direction | classes equal | output totals equal | announced |\n|---|---|---|---|---|")
    for lib, direction, classes, equal, said in rows:
        print(f"| {lib} | {direction} | {classes} | {equal} | {said} |")


if __name__ == "__main__":
    main()
