"""What crosses between a simulator and the comparison: pixel words in, per-sample observations out.

Kept free of torch and Amaranth so the cocotb bench can share it.
"""

from __future__ import annotations

COUNTER_FIELDS = ("cycles", "in_spikes", "sops", "skipped")
COUNTER_MOD = 1 << 32


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
