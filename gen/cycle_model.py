"""Analytic cycle model per layer, FINN style: (N_out/PE) * (N_in/SIMD) issue cycles per time step.

Busy cycles of one inference (what the hardware's per-layer ``cycles`` counter measures):

    hidden / output layer:  T * (F_out * F_in + D)
    first layer:            (F_out * F_in + D) + T * (F_out + D)    (direct encoding: synapses once,
                                                                     then only the neuron update per step)

with F_in = N_in/SIMD, F_out = N_out/PE and D = PIPELINE_DRAIN. The slowest layer bounds the throughput
of a stream of samples (layers overlap across steps and samples).
"""

from __future__ import annotations

from flipspike.hw.layer_engine import PIPELINE_DRAIN
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold


def layer_cycles(desc: NetDesc, folds: list[Fold]) -> list[dict]:
    T, D = desc.timesteps, PIPELINE_DRAIN
    rows = []
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        f_in, f_out = layer.n_in // fold.simd, layer.n_out // fold.pe
        if i == 0:
            cycles = (f_out * f_in + D) + T * (f_out + D)
            lower_bound = f_out * f_in + T * f_out
        else:
            cycles = T * (f_out * f_in + D)
            lower_bound = T * f_out * f_in
        rows.append({"name": layer.name, "simd": fold.simd, "pe": fold.pe, "f_in": f_in, "f_out": f_out,
                     "cycles": cycles, "issue_cycles": lower_bound})
    return rows
