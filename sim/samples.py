"""What crosses between a simulator and the comparison: pixel words in, per-sample observations out.

Kept free of torch and Amaranth so the cocotb bench can share it.
"""

from __future__ import annotations


def field(value: int, offset: int, width: int, signed: bool = False) -> int:
    """The ``width``-bit field at ``offset`` of a flat port value (two's complement when ``signed``)."""
    v = (value >> offset) & ((1 << width) - 1)
    return v - (1 << width) if signed and v >> (width - 1) else v


def decode_counters(raw: int, ports: dict) -> list[dict[str, int]]:
    """Every layer's counters ({name: value}, as the port map names them) from the flat ``counters`` port."""
    return [{name: field(raw, *place) for name, place in layer.items()} for layer in ports["counters"]]


def decode_result(payload: int, ports: dict) -> dict:
    """(class, output accumulations) from the flat ``result`` payload."""
    return {"cls": field(payload, *ports["result"]["cls"]),
            "acc": [field(payload, off, width, True) for off, width in ports["result"]["acc"]]}


def pack_word(pixels, bits: int) -> int:
    """One pixel stream word as the flat port value (element i at bits i*bits ...)."""
    return sum(int(p) << (i * bits) for i, p in enumerate(pixels))


def event_words(events, ports: dict) -> list[int]:
    """One sample's events [(x, y, p, t), ...] as flat ``events`` port values, closed by an ``end`` word
    (field offsets from the port map)."""
    place = ports["events"]
    pack = lambda fields: sum(int(v) << place[name][0] for name, v in fields.items())
    return [pack({"x": x, "y": y, "p": p, "t": t}) for x, y, p, t in events] + [pack({"end": 1})]


def pixel_words(pixels, simd: int) -> list[list[int]]:
    """Split one sample's pixels into SIMD-pixel stream words (element i of word k is pixel k*SIMD + i)."""
    pixels = [int(p) for p in pixels]
    return [pixels[k:k + simd] for k in range(0, len(pixels), simd)]


def counter_delta(before: list[dict[str, int]], after: list[dict[str, int]], ports: dict) -> list[dict[str, int]]:
    """Per-layer counter increments over one sample: the counters wrap modulo 2**width, their width from
    the port map. (The bench runs inside the simulator and imports no numpy: flipspike.ir.formats'
    counter_delta is the same rule for the processes that may.)"""
    return [{name: (la[name] - lb[name]) % (1 << place[1]) for name, place in layer.items()}
            for lb, la, layer in zip(before, after, ports["counters"])]


def stream_summary(results: list[dict], arrival: list[float]) -> dict:
    """A back-to-back run: its results in order, and the steady-state interval between results (cycles)."""
    interval = (arrival[-1] - arrival[0]) / (len(arrival) - 1) if len(arrival) > 1 else None
    return {"results": results, "cycles_per_inference": interval}
