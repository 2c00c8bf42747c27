"""Analytic cycle model per layer, FINN style: G * F_in issue cycles per time step.

Busy cycles of one inference (what the hardware's per-layer ``cycles`` counter measures):

    hidden / output layer:  T * (G * F_in + D)
    first layer:            (G * F_in + D) + T * (G + D)    (direct encoding: synapses once,
                                                             then only the neuron update per step)

with F_in = N_in/SIMD (a convolution: k*k*C_in/SIMD), D = PIPELINE_DRAIN and G the neuron groups
walked per step: N_out/PE for a dense layer, output positions x C_out/PE for a convolution (with
pooling, the positions some pooling window covers). The slowest layer bounds the throughput
of a stream of samples (layers overlap across steps and samples).
"""

from __future__ import annotations

from flipspike.hw.layer_engine import PIPELINE_DRAIN, GroupWalk
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold


def fold_cycles(layer, fold: Fold, timesteps: int, first: bool) -> tuple[int, int]:
    """(busy cycles, issue cycles) of one inference of ``layer`` at ``fold`` (dense mode)."""
    T, D = timesteps, PIPELINE_DRAIN
    f_in = layer.n_in // fold.simd
    groups = GroupWalk(layer, fold).groups
    if first:
        return (groups * f_in + D) + T * (groups + D), groups * f_in + T * groups
    return T * (groups * f_in + D), T * groups * f_in


def layer_cycles(desc: NetDesc, folds: list[Fold]) -> list[dict]:
    rows = []
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        cycles, issue = fold_cycles(layer, fold, desc.timesteps, i == 0)
        rows.append({"name": layer.name, "simd": fold.simd, "pe": fold.pe, "f_in": layer.n_in // fold.simd,
                     "f_out": layer.n_out // fold.pe, "groups": GroupWalk(layer, fold).groups, "cycles": cycles,
                     "issue_cycles": issue})
    return rows


def event_cycles(desc: NetDesc, folds: list[Fold], ref) -> list[list[dict]]:
    """Per sample and layer, {"cycles", "skipped"} with event-driven layers modelled from the spikes
    they receive (``ref``: the integer reference's result for the samples): a step of an event-driven
    layer costs F_out * max(1, nonzero words) + D, where a word is SIMD inputs holding a spike; the
    words it does not issue are ``skipped``. Other layers cost what :func:`layer_cycles` says."""
    import numpy as np

    T, D = desc.timesteps, PIPELINE_DRAIN
    dense = layer_cycles(desc, folds)
    n = int(ref.cls.shape[0])
    out = [[{"cycles": row["cycles"], "skipped": 0} for row in dense] for _ in range(n)]
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        if not fold.event:
            continue
        f_in, f_out = layer.n_in // fold.simd, layer.n_out // fold.pe
        spikes = ref.layers[i - 1].outputs.numpy()                      # [T, B, n_in]
        words = spikes.reshape(T, n, f_in, fold.simd).any(axis=3).sum(axis=2)   # [T, B] nonzero words
        issued = np.maximum(words, 1) * f_out
        for b in range(n):
            out[b][i] = {"cycles": int((issued[:, b] + D).sum()), "skipped": int((f_in * f_out - issued[:, b]).sum())}
    return out
