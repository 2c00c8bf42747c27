"""The accelerator's loadable memories: where each lives on the load bus, and its image.

The contents of a network (weight bits, biases, thresholds) can be written at run time through the
accelerator's ``load`` port, so one build serves every network of the same shape (sizes, folding, T,
widths, leak, reset, fractional bits). Load only while the accelerator is idle.
"""

from __future__ import annotations

from dataclasses import dataclass

from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold

from .arith import pack_lanes


@dataclass(frozen=True)
class Region:
    layer: int
    memory: str      # "weights", "bias" or "threshold"
    base: int        # first word address on the load bus
    depth: int       # words
    width: int       # bits per word


def weight_words(layer, fold: Fold) -> list[int]:
    """Weight memory image: word nf*F_in + sf holds bit p*SIMD + i = weight[nf*PE + p][sf*SIMD + i]."""
    words = []
    for nf in range(layer.n_out // fold.pe):
        for sf in range(layer.n_in // fold.simd):
            block = layer.weights[nf * fold.pe:(nf + 1) * fold.pe, sf * fold.simd:(sf + 1) * fold.simd]
            words.append(pack_lanes(block.reshape(-1), 1))
    return words


def lane_groups(values, lanes: int) -> list[list[int]]:
    """Per-neuron values grouped PE lanes per memory word (bias, threshold memories)."""
    return [[int(v) for v in values[g:g + lanes]] for g in range(0, len(values), lanes)]


def memory_map(desc: NetDesc, folds: list[Fold]) -> list[Region]:
    regions, base = [], 0
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        f_in, f_out = layer.n_in // fold.simd, layer.n_out // fold.pe
        mems = [("weights", f_out * f_in, fold.pe * fold.simd), ("bias", f_out, fold.pe * layer.widths.bias)]
        if layer.kind == "lif":
            mems.append(("threshold", f_out, fold.pe * layer.widths.threshold))
        for name, depth, width in mems:
            regions.append(Region(i, name, base, depth, width))
            base += depth
    return regions


def memory_image(desc: NetDesc, folds: list[Fold], region: Region) -> list[int]:
    """The raw words of one region, as written on the load bus."""
    layer, fold = desc.layers[region.layer], folds[region.layer]
    if region.memory == "weights":
        return weight_words(layer, fold)
    values = layer.bias if region.memory == "bias" else layer.threshold
    lane_width = region.width // fold.pe
    return [pack_lanes(group, lane_width) for group in lane_groups(values, fold.pe)]


def load_writes(desc: NetDesc, folds: list[Fold]) -> list[tuple[int, int]]:
    """(address, data) writes that load ``desc``'s contents into a build of the same shape."""
    return [(region.base + k, word) for region in memory_map(desc, folds)
            for k, word in enumerate(memory_image(desc, folds, region))]


def bus_widths(desc: NetDesc, folds: list[Fold]) -> tuple[int, int]:
    """(address bits, data bits) of the load bus."""
    regions = memory_map(desc, folds)
    end = regions[-1].base + regions[-1].depth
    return max(1, (end - 1).bit_length()), max(r.width for r in regions)


def build_shape(desc: NetDesc, folds: list[Fold]) -> dict:
    """Everything a build fixes. Two descriptions with equal shapes can share one build."""
    return {"timesteps": desc.timesteps, "input": [desc.input.size, desc.input.bits, desc.input.max_value],
            "folding": [[f.simd, f.pe] for f in folds],
            "layers": [{"kind": l.kind, "n_in": l.n_in, "n_out": l.n_out, "frac_bits": l.frac_bits,
                        "leak_shift": l.leak_shift, "reset": l.reset, "widths": l.widths.as_dict()}
                       for l in desc.layers]}
