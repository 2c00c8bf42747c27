"""Integer mode of the golden model: runs a network description exactly as the hardware does.

Integer tensors (int64), vectorized over samples, no Amaranth. This is the reference the
co-simulation holds the Verilog against, bit for bit. Semantics: docs/integer-semantics.md and
flipspike.ir.formats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flipspike.ir import NetDesc
from flipspike.ir.formats import leak


@dataclass
class LayerTrace:
    in_spikes: torch.Tensor    # [B] active inputs seen: nonzero pixels once (first layer), else input spikes over T
    sops: torch.Tensor         # [B] synaptic operations: in_spikes * n_out
    out_spikes: torch.Tensor   # [B] spikes emitted over T (0 for the output layer)
    spikes: torch.Tensor | None  # [T, B, n_out] spike trains (hidden layers)
    state: torch.Tensor        # [B, n_out] final membrane / accumulator


@dataclass
class IntegerResult:
    acc: torch.Tensor          # [B, classes] output accumulations
    cls: torch.Tensor          # [B] argmax, lowest index on ties
    layers: list[LayerTrace]


def run_integer(desc: NetDesc, x) -> IntegerResult:
    """Run ``x`` ([B, n_in] unsigned integers) through the integer network."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.int64)
    if x.ndim != 2 or x.shape[1] != desc.input.size:
        raise ValueError(f"input must be [B, {desc.input.size}], got {tuple(x.shape)}")
    if (x < 0).any() or (x > desc.input.max_value).any():
        raise ValueError(f"input values must lie in 0..{desc.input.max_value}")
    T = desc.timesteps
    traces = []
    s_in = None
    acc = None
    for i, layer in enumerate(desc.layers):
        w = torch.from_numpy(layer.weights.astype(np.int64)) * 2 - 1          # [n_out, n_in] of +-1
        bias = torch.from_numpy(layer.bias)
        if i == 0:                                                             # direct encoding: one pass
            current = (x @ w.t()).unsqueeze(0).expand(T, -1, -1)
            in_spikes = (x != 0).sum(1)
        else:
            current = s_in @ w.t()
            in_spikes = s_in.sum((0, 2))
        drive = (current << layer.frac_bits) + bias                            # [T, B, n_out]
        v = torch.zeros_like(drive[0])
        if layer.kind == "output":
            for t in range(T):
                v = v + drive[t]
            acc = v
            spikes = None
            out_spikes = torch.zeros_like(in_spikes)
        else:
            theta = torch.from_numpy(layer.threshold)
            out = []
            for t in range(T):
                v = leak(v, layer.leak_shift) + drive[t]
                s = v >= theta
                v = torch.where(s, 0 if layer.reset == "hard" else v - theta, v)
                out.append(s.to(torch.int64))
            spikes = torch.stack(out)
            out_spikes = spikes.sum((0, 2))
            s_in = spikes
        traces.append(LayerTrace(in_spikes, in_spikes * layer.n_out, out_spikes, spikes, v))
    return IntegerResult(acc=acc, cls=torch.argmax(acc, dim=1), layers=traces)
