"""Analytic resource estimate per layer, before any synthesis: LUT4s, flip-flops, memory bits, iCE40 blocks.

Memory bits are exact: the engines' memories (:attr:`flipspike.ir.plan.LayerPlan.memories`) plus
the spike buffers (:class:`flipspike.ir.plan.SpikeBufferPlan`). LUT4s and flip-flops are linear in a few datapath sizes per layer::

    synapses  PE * SIMD                   layers fed by spikes: AND gates and the popcount tree
    pixels    PE * SIMD * pixel bits      the first layer: +x / -x per synapse and the adder tree
    neurons   PE * (state + current bits) accumulate, leak, fire, reset
    buffer    bits of the layer's input spike buffer, all banks, where it is in flip-flops (read through a
              SIMD-wide mux); in block RAM only an event-driven reader's nonzero flags
    small     bits of memories too shallow for block RAM (kept in flip-flops)
    outputs   output layer: N_out * state bits (every class's accumulator is a register)
    layer     1 per layer: walk, control, four 32-bit counters
    conv      1 per convolution (the window walk)

with coefficients fitted per device by least squares to yosys' ``synth_ice40`` / ``synth_ecp5`` counts
of a set of designs (``python bench/estimate_calibration.py --device up5k|ecp5-85f`` refits them and
prints the errors). The block RAM count takes, for each memory of at least ``BLOCK_MIN_DEPTH`` words,
the block's best aspect ratio (iCE40 SB_RAM40_4K: 256x16 ... 2048x2; ECP5 DP16KD: 512x36 ... 16384x1).
"""

from __future__ import annotations

import math

from flipspike.ir import NetDesc
from flipspike.ir.errors import FlipspikeError
from flipspike.ir.folding import Fold, spram_tiles
from flipspike.ir.plan import NetPlan

FEATURES = ("synapses", "pixels", "neurons", "buffer", "small", "outputs", "layer", "conv")
#: Per device (flipspike.gen.synth.DEVICES): LUT4 and flip-flop coefficients fitted by
#: bench/estimate_calibration.py, and what a board build adds to the accelerator's synthesis (the UART
#: host link and PLL reset, less what the board flow saves; measured by the same script). "buffer":
#: no calibration design keeps its spike buffers in flip-flops any more, so the fit cannot see them;
#: both devices keep the last iCE40 fit that could.
COEFFICIENTS = {
    "up5k": {
        "lut4": {"synapses": 4.748, "pixels": 4.489, "neurons": 4.69, "buffer": 1.784, "small": 0.501,
                 "outputs": 5.602, "layer": 185.887, "conv": 26.46},
        "ff": {"synapses": 6.444, "pixels": 1.968, "neurons": 2.709, "buffer": 0.866, "small": 1.142,
               "outputs": 5.595, "layer": 184.579, "conv": 0.0},
        "host_link": {"lut4": 880, "ff": 315, "blocks": 2}},
    "ecp5-85f": {
        "lut4": {"synapses": 8.755, "pixels": 5.74, "neurons": 2.177, "buffer": 1.784, "small": 1.053,
                 "outputs": 9.848, "layer": 57.581, "conv": 51.29},
        "ff": {"synapses": 6.863, "pixels": 2.387, "neurons": 1.765, "buffer": 0.866, "small": 0.5,
               "outputs": 6.07, "layer": 135.549, "conv": 0.0},
        "host_link": {"lut4": 1290, "ff": 549, "blocks": 1}},
}
#: Block RAM aspect ratios (depth, width) per device: SB_RAM40_4K, DP16KD (512x36 as PDPW16KD).
BLOCK_MODES = {"up5k": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
               "ecp5-85f": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))}
BRAM_MIN_DEPTH = 8
#: The shallowest memory counted in block RAMs: yosys keeps the iCE40's shallow ones in flip-flops (the
#: "small" feature) and maps the ECP5's up to 16 words to LUT RAM (16 words per TRELLIS_DPR16X4). The
#: pixel and spike buffers sit in the iCE40's block RAM however shallow.
BLOCK_MIN_DEPTH = {"up5k": BRAM_MIN_DEPTH, "ecp5-85f": 17}
BUFFER_MIN_DEPTH = {"up5k": 1, "ecp5-85f": 17}


def ram_blocks(depth: int, width: int, device: str = "up5k") -> int:
    """Block RAMs of ``device`` for one memory, at the block's best aspect ratio."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in BLOCK_MODES[device])


def layer_features(plan: NetPlan, index: int) -> dict[str, float]:
    desc, layer, fold = plan.desc, plan.desc.layers[index], plan.folds[index]
    W = layer.widths
    small = sum(d * w for d, w in plan.layers[index].memories.values() if d < BRAM_MIN_DEPTH)
    in_bits = desc.layer_input(index)[1]
    buffer = 0
    b = plan.buffers[index]
    if b is not None:
        if b.ram is None:
            buffer = b.banks * b.size
        elif b.mask:
            buffer = b.banks * b.size // min(b.pe, b.simd)
    elif desc.input.per_step and fold.event:               # the frame buffer's nonzero flags, in flip-flops
        buffer = desc.timesteps * (desc.input.size // fold.simd)
    lanes = fold.pe * fold.simd
    pixels = index == 0 and (desc.stores_current(0) or in_bits > 1)   # +x / -x per synapse, not AND-popcount
    return {"synapses": 0 if pixels else lanes * in_bits, "pixels": lanes * in_bits if pixels else 0,
            "neurons": fold.pe * (W.state + W.current),
            "buffer": buffer, "small": small, "outputs": layer.n_out * W.state if layer.kind == "output" else 0,
            "layer": 1, "conv": int(layer.conv is not None)}


def rate_encoder_cost(bits: int, simd: int) -> dict:
    """LUT4 and FF of the rate encoder (``hw.rate_encoder``), counted from its XOR networks (a LUT4 takes
    an XOR of 4 bits, each more costs one more), a comparator per lane (a LUT4 per bit) and its
    registers: the LFSR state and the word and step counters."""
    from flipspike.ir.encoding import LFSR_WIDTH, leap_matrices
    outputs, leap = leap_matrices(bits * simd)
    xors = sum(max(0, int(row.sum()) - 1 + 2) // 3 for row in (*outputs, *leap))
    return {"lut4": xors + bits * simd, "ff": LFSR_WIDTH + 32}


def aer_port_cost(timesteps: int, words: int) -> dict:
    """LUT4 and FF of the AER port (``hw.event_frames``): a "written" flag per frame word and bank in
    flip-flops, each set, cleared and read through a multiplexer (about 3 LUT4 a flag), and the event's
    address and read-modify-write path. Calibrated on two iCE40UP5K syntheses against the same design fed
    frames: 200 flags +717 LUT4 +239 FF, 1024 flags +3112 LUT4 +1073 FF."""
    flags = timesteps * words
    return {"lut4": 3 * flags + 110, "ff": flags + 45}


def estimate(desc: NetDesc, folds: list[Fold], *, host_link: bool = False, device: str = "up5k",
             aer: bool = False) -> dict:
    """Per layer and in total: LUT4, FF, memory bits (in block RAM and in flip-flops), block RAMs, on
    ``device`` (a key of COEFFICIENTS). ``aer``: with an AER port (``aer_port_cost``)."""
    if device not in COEFFICIENTS:
        raise FlipspikeError(f"no resource estimate for device {device!r}; calibrated: {', '.join(COEFFICIENTS)}")
    from .synth import check_device_folds
    check_device_folds(folds, device)
    coef, shallowest, buffer_depth = COEFFICIENTS[device], BLOCK_MIN_DEPTH[device], BUFFER_MIN_DEPTH[device]
    rows = []
    plan = NetPlan(desc, folds)
    for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
        f = layer_features(plan, i)
        big = {n: dw for n, dw in plan.layers[i].memories.items() if dw[0] >= shallowest}
        spram = {n: big.pop(n) for n in ("weights",) if fold.spram and n in big}
        buf = plan.buffers[i]
        if buf is not None and buf.ram is not None and buf.ram[0] >= buffer_depth:
            big |= {f"spikes{j or ''}": buf.ram for j in range(buf.ports)}     # (a copy per read port)
        rows.append({"name": layer.name, "fold": str(fold),
                     "lut4": round(sum(coef["lut4"][k] * f[k] for k in FEATURES)),
                     "ff": round(sum(coef["ff"][k] * f[k] for k in FEATURES)),
                     "bram_bits": sum(d * w for d, w in big.values()),
                     "ff_memory_bits": f["small"] + f["buffer"],
                     "blocks": sum(ram_blocks(d, w, device) for d, w in big.values()),
                     "spram_bits": sum(d * w for d, w in spram.values()),
                     "spram": sum(math.prod(spram_tiles(d, w)) for d, w in spram.values())})
    inputs = [plan.input_buffer] * plan.input_ports + [plan.encoder_memory or (0, 0)]   # (a copy per read port)
    pixel = sum(ram_blocks(d, w, device) for d, w in inputs if d >= buffer_depth)
    total = {k: sum(r[k] for r in rows) for k in ("lut4", "ff", "bram_bits", "ff_memory_bits", "blocks", "spram_bits",
                                                  "spram")}
    total["blocks"] += pixel
    if host_link:
        for key in ("lut4", "ff", "blocks"):
            total[key] += coef["host_link"][key]
    extra = None
    if desc.input.encoding == "rate":             # not calibrated: its XOR networks and comparators, counted
        extra = rate_encoder_cost(desc.input.bits, plan.input_simd)
    if aer:
        extra = aer_port_cost(desc.timesteps, desc.input.size // plan.input_simd)
        total["ff_memory_bits"] += desc.timesteps * (desc.input.size // plan.input_simd)
    for key in ("lut4", "ff"):
        total[key] += 0 if extra is None else extra[key]
    return {"layers": rows, "total": total, "host_link": host_link, "device": device, **({"aer": True} if aer else {})}


def estimate_table(report: dict) -> str:
    from .synth import DEVICES
    part = DEVICES[report["device"]]["part"]
    spram = "spram" in DEVICES[report["device"]]["totals"]       # (a column where the device has SPRAM)
    what = "LUT4, flip-flops, block RAMs and SPRAMs" if spram else "LUT4, flip-flops and block RAMs"
    lines = [f"resource estimate (analytic, before synthesis; {part} {what}):",
             f"  {'layer':10s} {'fold':>8s} {'LUT4':>7s} {'FF':>7s} {'BRAM bits':>10s} {'blocks':>7s}"
             + (f" {'SPRAM':>6s}" if spram else "")]
    for r in [*report["layers"], {"name": "total", "fold": "", **report["total"]}]:
        lines.append(f"  {r['name']:10s} {r['fold']:>8s} {r['lut4']:7d} {r['ff']:7d} {r['bram_bits']:10d} "
                     f"{r['blocks']:7d}" + (f" {r['spram']:6d}" if spram else ""))
    if report["host_link"] or report.get("aer"):
        lines[-1] += " (with " + " and ".join(part for part, on in (("the UART host link", report["host_link"]),
                                                                  ("the AER port", report.get("aer"))) if on) + ")"
    return "\n".join(lines)
