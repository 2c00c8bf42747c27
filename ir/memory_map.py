"""The accelerator's loadable memories: where each lives on the load bus, and its image.

The contents of a network (weight bits, biases, thresholds) can be written at run time through the
accelerator's ``load`` port, so one build serves every network of the same shape (sizes, folding, T,
widths, leak, reset, fractional bits). Load only while the accelerator is idle.
"""

from __future__ import annotations

from dataclasses import dataclass

from .folding import Fold
from .formats import pack_lanes, unpack_lanes
from .learning import FlipRule, Learning
from .netdesc import NetDesc
from .plan import LayerPlan


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


def words_to_matrix(words: list[int], n_out: int, n_in: int, fold: Fold, width: int = 1, signed: bool = False):
    """Inverse of the weight-word layout: words of PE x SIMD lanes (``width`` bits each) -> [n_out][n_in]."""
    f_in = n_in // fold.simd
    out = [[0] * n_in for _ in range(n_out)]
    for addr, word in enumerate(words):
        nf, sf = divmod(addr, f_in)
        for lane, v in enumerate(unpack_lanes(word, fold.pe * fold.simd, width, signed)):
            p, i = divmod(lane, fold.simd)
            out[nf * fold.pe + p][sf * fold.simd + i] = v
    return out


def lane_groups(values, lanes: int) -> list[list[int]]:
    """Per-neuron values grouped PE lanes per memory word (bias, threshold memories)."""
    return [[int(v) for v in values[g:g + lanes]] for g in range(0, len(values), lanes)]


def memory_map(desc: NetDesc, folds: list[Fold], learn: "Learning | None" = None) -> list[Region]:
    """Regions on the load bus. With on-chip learning, the learning layer also takes per-neuron errors
    ("delta", PE per word) and per-input traces ("trace", SIMD per word) before each update."""
    regions, base = [], 0
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        f_in, f_out = layer.n_in // fold.simd, layer.n_out // fold.pe
        mems = [("weights", f_out * f_in, fold.pe * fold.simd), ("bias", f_out, fold.pe * layer.widths.bias)]
        if layer.kind == "lif":
            mems.append(("threshold", f_out, fold.pe * layer.widths.threshold))
        if layer.shortcut is not None:
            mems.append(("shortcut", f_out, fold.pe * layer.widths.shortcut))
        if learn is not None and learn.layer == i:
            mems += [("delta", f_out, fold.pe * learn.rule.delta_bits), ("trace", f_in, fold.simd * learn.rule.trace_bits)]
        for name, depth, width in mems:
            regions.append(Region(i, name, base, depth, width))
            base += depth
    return regions


def monitor_map(desc: NetDesc, folds: list[Fold], learn: "Learning | None" = None) -> list[Region]:
    """The monitor's read-only address space: every load-bus region at its load-bus address (read back
    what was written), then each spiking layer's membranes (words of PE membranes, in the engine's
    group order: position-major, HWC like the neurons)."""
    regions = memory_map(desc, folds, learn)
    base = regions[-1].base + regions[-1].depth
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        if layer.kind == "lif":
            depth = LayerPlan(layer, fold).groups
            regions.append(Region(i, "membrane", base, depth, fold.pe * layer.widths.state))
            base += depth
    return regions


def address_widths(regions: list[Region]) -> tuple[int, int]:
    """(address bits, data bits) of a bus serving ``regions`` (laid out from address 0)."""
    end = regions[-1].base + regions[-1].depth
    return max(1, (end - 1).bit_length()), max(r.width for r in regions)


def monitor_widths(desc: NetDesc, folds: list[Fold], learn: "Learning | None" = None) -> tuple[int, int]:
    """(address bits, data bits) of the monitor port."""
    return address_widths(monitor_map(desc, folds, learn))


def update_writes(regions: list[Region], fold: Fold, rule: FlipRule, delta, trace) -> list[tuple[int, int]]:
    """Load-bus writes of one update's per-neuron errors and per-input traces."""
    by_name = {r.memory: r for r in regions}
    writes = []
    for name, values, lanes, width in (("delta", delta, fold.pe, rule.delta_bits),
                                       ("trace", trace, fold.simd, rule.trace_bits)):
        region = by_name[name]
        writes += [(region.base + k, pack_lanes(group, width)) for k, group in enumerate(lane_groups(values, lanes))]
    return writes


def memory_image(desc: NetDesc, folds: list[Fold], region: Region) -> list[int]:
    """The raw words of one region, as written on the load bus."""
    layer, fold = desc.layers[region.layer], folds[region.layer]
    if region.memory == "weights":
        return weight_words(layer, fold)
    values = {"bias": layer.bias, "threshold": layer.threshold, "shortcut": layer.shortcut}[region.memory]
    lane_width = region.width // fold.pe
    return [pack_lanes(group, lane_width) for group in lane_groups(values, fold.pe)]


def load_writes(desc: NetDesc, folds: list[Fold], learn: Learning | None = None) -> list[tuple[int, int]]:
    """(address, data) writes that load ``desc``'s contents into a build of the same shape."""
    return _writes(desc, folds, [r for r in memory_map(desc, folds, learn)
                                 if r.memory in ("weights", "bias", "threshold", "shortcut")])


def boot_writes(desc: NetDesc, folds: list[Fold]) -> list[tuple[int, int]]:
    """The writes a build of ``desc`` needs before its first sample: the weights of layers whose fold keeps
    them in SPRAM (``s``), which has no initial contents. Empty where every memory is initialised."""
    return _writes(desc, folds, [r for r in memory_map(desc, folds)
                                 if r.memory == "weights" and folds[r.layer].spram])


def _writes(desc: NetDesc, folds: list[Fold], regions: list[Region]) -> list[tuple[int, int]]:
    return [(region.base + k, word) for region in regions for k, word in enumerate(memory_image(desc, folds, region))]


def bus_widths(desc: NetDesc, folds: list[Fold], learn: Learning | None = None) -> tuple[int, int]:
    """(address bits, data bits) of the load bus."""
    return address_widths(memory_map(desc, folds, learn))


def build_shape(desc: NetDesc, folds: list[Fold]) -> dict:
    """Everything a build fixes. Two descriptions with equal shapes can share one build."""
    return {"timesteps": desc.timesteps, "input": [desc.input.size, desc.input.bits, desc.input.max_value,
                                                   list(desc.input.dims)]
            + ([desc.input.encoding] if desc.input.per_step else [])
            + ([desc.input.seed] if desc.input.encoding == "rate" else []),
            "folding": [[f.simd, f.pe, f.event, f.spram] for f in folds],
            "layers": [{"kind": l.kind, "n_in": l.n_in, "n_out": l.n_out, "frac_bits": l.frac_bits,
                        "leak_shift": l.leak_shift, "reset": l.reset, "widths": l.widths.as_dict(),
                        "conv": l.conv.to_json() if l.conv else None, "pool": l.pool,
                        "shortcut": l.shortcut is not None}
                       for l in desc.layers]}
