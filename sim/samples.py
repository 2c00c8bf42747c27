"""What crosses between a simulator and the comparison: pixel words in, per-sample observations out.

Kept free of torch and Amaranth so the cocotb bench can share it.
"""

from __future__ import annotations

COUNTER_FIELDS = ("cycles", "in_spikes", "sops", "skipped")
COUNTER_MOD = 1 << 32


def field(value: int, offset: int, width: int, signed: bool = False) -> int:
    """The ``width``-bit field at ``offset`` of a flat port value (two's complement when ``signed``)."""
    v = (value >> offset) & ((1 << width) - 1)
    return v - (1 << width) if signed and v >> (width - 1) else v


def decode_counters(raw: int, ports: dict) -> list[list[int]]:
    """Every layer's counters (in COUNTER_FIELDS order) from the flat ``counters`` port."""
    return [[field(raw, *layer[name]) for name in COUNTER_FIELDS] for layer in ports["counters"]]


def decode_result(payload: int, ports: dict) -> dict:
    """(class, output accumulations) from the flat ``result`` payload."""
    return {"cls": field(payload, *ports["result"]["cls"]),
            "acc": [field(payload, off, width, True) for off, width in ports["result"]["acc"]]}


def pack_word(pixels, bits: int) -> int:
    """One pixel stream word as the flat port value (element i at bits i*bits ...)."""
    return sum(int(p) << (i * bits) for i, p in enumerate(pixels))


def pixel_words(pixels, simd: int) -> list[list[int]]:
    """Split one sample's pixels into SIMD-pixel stream words (element i of word k is pixel k*SIMD + i)."""
    pixels = [int(p) for p in pixels]
    return [pixels[k:k + simd] for k in range(0, len(pixels), simd)]


def counter_delta(before: list[list[int]], after: list[list[int]]) -> list[dict[str, int]]:
    """Per-layer counter increments over one sample (the counters wrap modulo 2**32)."""
    return [{name: (a - b) % COUNTER_MOD for name, b, a in zip(COUNTER_FIELDS, lb, la)}
            for lb, la in zip(before, after)]


def stream_summary(results: list[dict], arrival: list[float]) -> dict:
    """A back-to-back run: its results in order, and the steady-state interval between results (cycles)."""
    interval = (arrival[-1] - arrival[0]) / (len(arrival) - 1) if len(arrival) > 1 else None
    return {"results": results, "cycles_per_inference": interval}
