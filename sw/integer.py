"""Integer mode of the golden model: runs a network description exactly as the hardware does.

Integer tensors (int64), vectorized over samples, no Amaranth. This is the reference the
co-simulation holds the Verilog against, bit for bit. Semantics: docs/integer-semantics.md,
flipspike.ir.formats and (for convolutions, HWC layout) flipspike.ir.geometry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from flipspike.ir.errors import DataError
from flipspike.ir import ConvSpec, LayerDesc, NetDesc
from flipspike.ir.encoding import rate_spikes
from flipspike.ir.formats import leak
from flipspike.ir.geometry import covered, size


@dataclass
class LayerTrace:
    in_spikes: torch.Tensor    # [B] active inputs seen: nonzero pixels once (direct first layer), else nonzero inputs over T
    sops: torch.Tensor         # [B] synaptic operations: each active input times the synapses it drives
    out_spikes: torch.Tensor   # [B] spikes emitted over T (0 for the output layer)
    spikes: torch.Tensor | None  # [T, B, *out_shape] spike trains of the neurons (hidden layers), before pooling
    state: torch.Tensor        # [B, *out_shape] final membrane / accumulator
    outputs: torch.Tensor | None = None  # [T, B, output size] what the next layer reads (pooled, flat HWC)


@dataclass
class IntegerResult:
    acc: torch.Tensor          # [B, classes] output accumulations
    cls: torch.Tensor          # [B] argmax, lowest index on ties
    layers: list[LayerTrace]
    frames: torch.Tensor | None = None   # frame or rate input: [T, B, size], what the first layer reads each step

    def layer_inputs(self, index: int) -> torch.Tensor:
        """What layer ``index`` reads at each step, [T, B, n_in]: the previous layer's spikes, or the frames."""
        if index == 0:
            if self.frames is None:
                raise ValueError("a first layer fed by direct encoding reads its pixels once, not a step at a time")
            return self.frames
        return self.layers[index - 1].outputs


def signed_weights(layer: LayerDesc) -> torch.Tensor:
    """The +-1 weight matrix [n_out, n_in] (conv: columns in (ky, kx, c) order)."""
    return torch.from_numpy(layer.weights.astype(np.int64)) * 2 - 1


def _conv(x: torch.Tensor, spec: ConvSpec, weight: torch.Tensor) -> torch.Tensor:
    """x: [N, H, W, C] integers, weight [C_out, k*k*C] in (ky, kx, c) order -> [N, Ho, Wo, C_out].
    float64 is exact here: every partial sum is an integer far below 2**53 (|I| <= fan-in * pixel max),
    whatever order the convolution adds in."""
    k = spec.kernel
    w = weight.reshape(weight.shape[0], k, k, spec.in_shape[2]).permute(0, 3, 1, 2).double()
    y = F.conv2d(x.permute(0, 3, 1, 2).double(), w, stride=spec.stride, padding=spec.padding)
    return torch.round(y).to(torch.int64).permute(0, 2, 3, 1)


def _crop(y: torch.Tensor, pool: int) -> torch.Tensor:
    """Keep the output positions some pooling window covers ([N, H, W, C])."""
    h, w = covered(y.shape[1:3], pool)
    return y[:, :h, :w]


def synaptic_current(layer: LayerDesc, x: torch.Tensor) -> torch.Tensor:
    """I for inputs x [N, *in_shape] -> [N, *out_shape]."""
    w = signed_weights(layer)
    if layer.conv is not None:
        return _crop(_conv(x, layer.conv, w), layer.pool)
    return x.reshape(x.shape[0], -1) @ w.t()


def synaptic_ops(conv: ConvSpec | None, n_out: int, active: torch.Tensor, pool: int = 1) -> torch.Tensor:
    """Synapses driven by the active inputs ([N, *in_shape] of 0/1, HWC), per sample: [N]. A dense layer
    has n_out synapses per input; in a convolution an input drives C_out synapses per window of a neuron
    that exists (with pooling: of the positions some pooling window covers)."""
    if conv is None:
        return active.reshape(active.shape[0], -1).sum(1) * n_out
    window_sums = _crop(_conv(active.to(torch.int64), conv, torch.ones(1, conv.fan_in, dtype=torch.int64)), pool)
    return window_sums.sum((1, 2, 3)) * n_out


def max_pool(spikes: torch.Tensor, pool: int) -> torch.Tensor:
    """OR of 0/1 spikes over non-overlapping pool x pool windows: [..., H, W, C] -> [..., H//p, W//p, C]."""
    if pool == 1:
        return spikes
    *lead, h, w, c = spikes.shape
    ho, wo = h // pool, w // pool
    s = spikes[..., :ho * pool, :wo * pool, :].reshape(*lead, ho, pool, wo, pool, c)
    return s.amax(dim=(-4, -2))


def run_integer(desc: NetDesc, x) -> IntegerResult:
    """Run ``x`` through the integer network: [B, input.size] unsigned integers (HWC order for images)
    under direct and rate encoding, [B, T * input.size] (T frames, frame-major) for frame input."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.int64)
    T, B = desc.timesteps, x.shape[0]
    elements = desc.input.elements(T)
    if x.ndim != 2 or x.shape[1] != elements:
        what = f"{T} frames of {desc.input.size}" if desc.input.frames else "one image"
        raise DataError(f"input must be [B, {elements}] ({what} per sample), got {tuple(x.shape)}")
    if (x < 0).any() or (x > desc.input.max_value).any():
        raise DataError(f"input values must lie in 0..{desc.input.max_value}")
    traces = []
    s_in = None                                                                # [T, B, *shape] input spikes
    if desc.input.per_step:                        # frames, or rate-encoded spikes: a hidden layer's input
        steps = x if desc.input.frames else torch.from_numpy(
            rate_spikes(x.numpy(), T, desc.input.bits, desc.input.seed).astype(np.int64))
        s_in = steps.reshape(B, T, *desc.input.dims).transpose(0, 1)
    frames = None if s_in is None else s_in.reshape(T, B, -1)
    acc = None
    for i, layer in enumerate(desc.layers):
        if desc.stores_current(i):                                             # direct encoding: one pass
            pixels = x.reshape(B, *desc.input.dims)
            current = synaptic_current(layer, pixels).unsqueeze(0).expand(T, *([-1] * (1 + len(layer.out_shape))))
            in_spikes = (pixels != 0).reshape(B, -1).sum(1)
            sops = synaptic_ops(layer.conv, layer.n_out, pixels != 0, layer.pool)
        else:
            flat = s_in.reshape(T * B, *s_in.shape[2:])
            current = synaptic_current(layer, flat).reshape(T, B, *layer.out_shape)
            in_spikes = (s_in != 0).reshape(T, B, -1).sum((0, 2))
            sops = synaptic_ops(layer.conv, layer.n_out, flat != 0, layer.pool).reshape(T, B).sum(0)
        drive = (current << layer.frac_bits) + torch.from_numpy(layer.bias)  # [T, B, *out_shape]
        if layer.shortcut is not None:                                         # input spike at the same place
            drive = drive + s_in.reshape(drive.shape) * torch.from_numpy(layer.shortcut)
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
            out_spikes = spikes.reshape(T, B, -1).sum((0, 2))
            s_in = max_pool(spikes, layer.pool)
        traces.append(LayerTrace(in_spikes, sops, out_spikes, spikes, v,
                                 None if spikes is None else s_in.reshape(T, B, -1)))
    return IntegerResult(acc=acc, cls=torch.argmax(acc, dim=1), layers=traces, frames=frames)


#: int64 tensors of a layer's size that the reference holds at once for each sample and step (current,
#: drive, membrane, spikes, the next layer's input, a convolution's float copy): an upper estimate.
TENSORS_PER_LAYER = 6


def reference_bytes(desc: NetDesc, samples: int) -> int:
    """About how many bytes :func:`run_integer` takes for ``samples`` samples at once (an upper estimate)."""
    per_step = sum(TENSORS_PER_LAYER * layer.neurons + size(layer.in_shape) for layer in desc.layers)
    return 8 * desc.timesteps * samples * per_step


def memory_budget() -> int:
    """Bytes the reference may take: half this machine's memory (8 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def reference_chunk(desc: NetDesc) -> int:
    """Samples :func:`run_integer` may take at once: as many as fit a quarter of :func:`memory_budget`."""
    return max(1, memory_budget() // 4 // max(1, reference_bytes(desc, 1)))


def run_integer_chunks(desc: NetDesc, x, chunk: int | None = None):
    """The reference over ``x`` a chunk at a time (default :func:`reference_chunk` samples), so its memory
    does not grow with the number of samples: yields (index of the chunk's first sample, its result)."""
    x = np.asarray(x)
    chunk = chunk or reference_chunk(desc)
    for k in range(0, len(x), chunk):
        yield k, run_integer(desc, x[k:k + chunk])


def classify(desc: NetDesc, x) -> np.ndarray:
    """The class of each sample of ``x`` (accuracy over a whole test split at any size: in chunks)."""
    return np.concatenate([ref.cls.numpy() for _, ref in run_integer_chunks(desc, x)] or [np.zeros(0, int)])
