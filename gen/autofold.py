"""Automatic folding: the cheapest SIMD x PE per layer that meets a cycle target (FINN's balancing).

The slowest layer sets the throughput of a sample stream, so every layer is folded as far as the
target allows and no further: per layer, the fold with the fewest lanes (SIMD * PE, a proxy for
LUTs) whose modelled busy cycles per inference are at most the target; among equals, the one with the
fewest read ports (a word spanning several kernel positions reads a copy of its input buffer per
position: taken where words within one pixel cannot reach the target), then the fewest neurons per
cycle (PE: a neuron lane costs tens of LUTs, a synapse lane a few), then the faster.

Event-driven layers (``spikes``: layer index -> its input spikes [T, samples, n_in], e.g. from the
integer reference on training images) are planned with the cycles those spikes give each candidate
fold (:func:`flipspike.ir.cycle_model.mean_event_words`), so the planner sees that SIMD 1 walks
active inputs while a wider word pays for every word with a spike.
"""

from __future__ import annotations

import dataclasses
import math

from flipspike.ir import NetDesc
from flipspike.ir.aer import port_simd_ok
from flipspike.ir.errors import FoldingError
from flipspike.ir.folding import Fold, divisors, simd_base, simd_options, spram_tiles
from flipspike.ir.plan import LayerPlan, NetPlan

from flipspike.ir.cycle_model import fold_cycles, mean_event_words


def fold_options(desc: NetDesc, index: int, spikes: dict | None = None, aer: bool = False) -> list[tuple[Fold, float]]:
    """Every fold of layer ``index`` with its modelled cycles per inference: event-driven where its
    input spikes are given, else dense. ``aer``: the build takes events (the first layer's SIMD suits
    the port: ``ir.aer.port_simd_ok``)."""
    layer, event = desc.layers[index], bool(spikes) and spikes.get(index) is not None
    options = []
    # (window-wide words, SIMD beyond the input channels, where the layer reads its input densely and not
    # from the AER port)
    simds = divisors(simd_base(layer)) if event or (aer and index == 0) else simd_options(layer)
    for simd in simds:
        if aer and index == 0 and not port_simd_ok(simd, layer.n_in):
            continue
        for pe in divisors(layer.n_out):
            fold = Fold(simd, pe, event)
            words = mean_event_words(layer, fold, spikes[index]) if event else None
            options.append((fold, fold_cycles(layer, fold, desc.timesteps, desc.stores_current(index), words)[0]))
    return options


def fold_for_cycles(desc: NetDesc, target: int, spikes: dict | None = None, *, table=None,
                    aer: bool = False) -> list[Fold]:
    """``table``: fold_options of every layer, where the caller has them already."""
    if target < 1:
        raise FoldingError(f"--target-cycles must be >= 1, got {target}")
    table = table or [fold_options(desc, i, spikes, aer) for i in range(len(desc.layers))]
    folds = []
    for layer, layer_options in zip(desc.layers, table):
        # (a window-wide word costs a copy of the input buffer per kernel position it spans: taken only
        # where no word within one pixel reaches the target with as few lanes)
        options = [(f.simd * f.pe, LayerPlan(layer, f).ports, f.pe, cycles, f) for f, cycles in layer_options]
        fitting = [o for o in options if o[3] <= target]
        if not fitting:
            fastest = min(o[3] for o in options)
            raise FoldingError(f"layer {layer.name} needs at least {math.ceil(fastest)} cycles per inference "
                               f"even fully unrolled; raise --target-cycles to {math.ceil(fastest)} or more")
        folds.append(min(fitting)[4])
    return folds


def fold_for_luts(desc: NetDesc, budget: int, *, host_link: bool = False, max_blocks: int | None = None,
                  device: str = "up5k", spikes: dict | None = None, aer: bool = False, table=None) -> list[Fold]:
    """The fastest balanced folding whose estimated LUT4 count on ``device`` (:mod:`flipspike.gen.estimate`)
    fits ``budget`` (and, with ``max_blocks``, its block RAMs): try the cycle targets every layer's
    folds can reach, fastest first, folding each time with :func:`fold_for_cycles`. ``table``: as there."""
    from .estimate import estimate

    table = table or [fold_options(desc, i, spikes, aer) for i in range(len(desc.layers))]
    targets = sorted({cycles for options in table for _, cycles in options})
    cheapest = None
    for target in targets:
        try:
            folds = fold_for_cycles(desc, target, table=table)
        except FoldingError:
            continue
        if max_blocks is not None:
            folds = place_weights(desc, folds, device=device, max_blocks=max_blocks, host_link=host_link)
        total = estimate(desc, folds, host_link=host_link, device=device, aer=aer)["total"]
        luts = total["lut4"]
        if luts <= budget and (max_blocks is None or total["blocks"] <= max_blocks):
            return folds
        cheapest = luts if cheapest is None else min(cheapest, luts)
    blocks = f" and {max_blocks} RAM blocks" if max_blocks is not None else ""
    raise FoldingError(f"no folding fits {budget} LUT4s{blocks}: the smallest needs about {cheapest} LUT4s "
                       "(estimated); raise --lut-budget or shrink the network")


def place_weights(desc: NetDesc, folds: list[Fold], *, device: str, max_blocks: int,
                  host_link: bool = False) -> list[Fold]:
    """``folds`` with layers' weights moved into SPRAM (``s``), largest first, while the estimate's block
    RAMs exceed ``max_blocks`` and the device's SPRAMs hold them (the iCE40UP5K: four of 256 kbit; a
    device without SPRAM gets ``folds`` back). Layers already in SPRAM stay there."""
    from .estimate import estimate
    from .synth import DEVICES

    folds = list(folds)
    total = lambda: estimate(desc, folds, host_link=host_link, device=device)["total"]
    now = total()
    spare = DEVICES[device]["totals"].get("spram", 0) - now["spram"]
    if spare <= 0 or now["blocks"] <= max_blocks:
        return folds
    plan = NetPlan(desc, folds)
    weights = [plan.layers[i].memories["weights"] for i in range(len(folds))]
    for i in sorted(range(len(folds)), key=lambda i: -math.prod(weights[i])):
        need = math.prod(spram_tiles(*weights[i]))
        if folds[i].spram or need > spare:
            continue
        folds[i] = dataclasses.replace(folds[i], spram=True)
        spare -= need
        if total()["blocks"] <= max_blocks:
            break
    return folds
