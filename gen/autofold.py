"""Automatic folding: the cheapest SIMD x PE per layer that meets a cycle target (FINN's balancing).

The slowest layer sets the throughput of a sample stream, so every layer is folded as far as the
target allows and no further: per layer, the fold with the fewest lanes (SIMD * PE, a proxy for
LUTs) whose modelled busy cycles per inference are at most the target; among equals, the faster.
"""

from __future__ import annotations

from flipspike.ir import NetDesc
from flipspike.ir.errors import FoldingError
from flipspike.ir.folding import Fold, divisors, simd_base

from .cycle_model import fold_cycles


def fold_for_cycles(desc: NetDesc, target: int) -> list[Fold]:
    if target < 1:
        raise FoldingError(f"--target-cycles must be >= 1, got {target}")
    folds = []
    for i, layer in enumerate(desc.layers):
        options = []
        for simd in divisors(simd_base(layer)):
            for pe in divisors(layer.n_out):
                cycles, _ = fold_cycles(layer, Fold(simd, pe), desc.timesteps, i == 0)
                options.append((simd * pe, cycles, -simd, Fold(simd, pe)))
        fitting = [o for o in options if o[1] <= target]
        if not fitting:
            fastest = min(o[1] for o in options)
            raise FoldingError(f"layer {layer.name} needs at least {fastest} cycles per inference even fully "
                               f"unrolled; raise --target-cycles to {fastest} or more")
        folds.append(min(fitting)[3])
    return folds


def fold_for_luts(desc: NetDesc, budget: int, *, host_link: bool = False, max_blocks: int | None = None,
                  device: str = "up5k") -> list[Fold]:
    """The fastest balanced folding whose estimated LUT4 count on ``device`` (:mod:`flipspike.gen.estimate`)
    fits ``budget`` (and, with ``max_blocks``, its block RAMs): try the cycle targets every layer's
    folds can reach, fastest first, folding each time with :func:`fold_for_cycles`."""
    from .estimate import estimate

    targets = sorted({fold_cycles(layer, Fold(simd, pe), desc.timesteps, i == 0)[0]
                      for i, layer in enumerate(desc.layers)
                      for simd in divisors(simd_base(layer)) for pe in divisors(layer.n_out)})
    cheapest = None
    for target in targets:
        try:
            folds = fold_for_cycles(desc, target)
        except FoldingError:
            continue
        total = estimate(desc, folds, host_link=host_link, device=device)["total"]
        luts = total["lut4"]
        if luts <= budget and (max_blocks is None or total["blocks"] <= max_blocks):
            return folds
        cheapest = luts if cheapest is None else min(cheapest, luts)
    blocks = f" and {max_blocks} RAM blocks" if max_blocks is not None else ""
    raise FoldingError(f"no folding fits {budget} LUT4s{blocks}: the smallest needs about {cheapest} LUT4s "
                       "(estimated); raise --lut-budget or shrink the network")
