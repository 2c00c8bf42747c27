"""Every number format of the integer network, defined once.

The integer semantics (see ``docs/integer-semantics.md``), per neuron and time step t:

    v <- v - (v >>> k)                 leak, arithmetic shift (floor); skipped when k is None (IF neuron)
    v <- v + (I << F) + c              integrate: I = sum_i w_i x_i, w in {-1,+1}; c the bias, F fractional bits
    s <- (v >= theta)                  fire
    v <- 0  or  v - theta  if s        hard or soft reset

The output layer never fires: acc <- acc + (I << F) + c at every step, class = argmax(acc) (lowest index wins ties).

Widths below come from worst-case bounds, so no register can wrap: the accelerator and the integer
reference agree because neither ever overflows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Registers wider than this are refused (lower ``frac_bits`` or ``timesteps`` instead).
MAX_WIDTH = 40
#: Width of every hardware event counter (cycles, input spikes, SOPs); readers take differences modulo 2**32.
COUNTER_WIDTH = 32
#: Each layer's hardware counters, in the order every port, frame and report lists them: busy cycles
#: (issuing or draining the pipeline), active inputs seen, synaptic operations (active input x synapse it
#: reaches), and all-zero input words an event-driven layer did not issue.
COUNTERS = ("cycles", "in_spikes", "sops", "skipped")


def counter_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """One layer's counter increments between two readings (the counters wrap modulo 2**COUNTER_WIDTH)."""
    return {name: (after[name] - before[name]) % (1 << COUNTER_WIDTH) for name in COUNTERS}
#: Cycles from a monitor-port address to its word on the port's data (the address is decoded into a
#: register, the memory answers, its word is registered); the benches and the host link wait this long.
MONITOR_LATENCY = 3
#: Leak shifts allowed: lambda = 1 - 2**-k.
LEAK_SHIFT_RANGE = (1, 15)


def unsigned_width(hi: int) -> int:
    """Bits of an unsigned register holding 0..hi."""
    if hi < 0:
        raise ValueError(f"unsigned range needs hi >= 0, got {hi}")
    return max(1, int(hi).bit_length())


def signed_width(lo: int, hi: int) -> int:
    """Bits of a two's complement register holding lo..hi."""
    lo, hi = int(min(lo, 0)), int(max(hi, 0))
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def leak(v, k: int | None):
    """The leak: v - (v >>> k), i.e. ceil((1 - 2**-k) * v); no leak when k is None.

    The one definition, applied as is to Python ints, torch int64 tensors (sw's integer reference) and
    Amaranth signed values (hw's neuron update): ``>>`` is an arithmetic shift for all three.
    """
    return v if k is None else v - (v >> k)


def leak_factor(k: int | None) -> float:
    """The leak as a real factor, lambda = 1 - 2**-k (1 without leak): what the float model multiplies by."""
    return 1.0 if k is None else 1.0 - 2.0 ** -k


def trailing_zeros(values) -> int:
    """The largest z with every value a multiple of 2**z (MAX_WIDTH for all zeros)."""
    z = MAX_WIDTH
    for v in np.asarray(values, dtype=np.int64).reshape(-1).tolist():
        if v:
            z = min(z, (v & -v).bit_length() - 1)
    return z


def leak_is_exact(*, frac_bits: int, k: int | None, timesteps: int, bias, threshold=None) -> bool:
    """Whether ``leak`` never rounds in a layer, for any input: then the integer membrane equals the real
    one, lambda * v exactly, at every step. Each step adds a multiple of 2**g (g: the trailing zero bits
    common to 2**F, the biases, and for a soft reset the thresholds it subtracts); a hard reset returns
    to 0; so the membrane before the t-th leak is a multiple of 2**(g - k (t - 2)) and the leak is exact
    as long as k (T - 1) <= g. (The first step leaks v = 0.)"""
    if k is None or timesteps < 2:
        return True
    g = min(frac_bits, trailing_zeros(bias), MAX_WIDTH if threshold is None else trailing_zeros(threshold))
    return k * (timesteps - 1) <= g


def leak_bound(vmax: int, k: int | None) -> int:
    """Largest |leak(v)| over |v| <= vmax: ceil(lambda * vmax), reached at v = +vmax."""
    return leak(vmax, k)


@dataclass(frozen=True)
class LayerWidths:
    """Register widths of one layer, in bits. ``current``, ``bias`` and ``state`` are signed."""

    input: int       # one input element: pixel bits for the first layer, 1 for spikes
    current: int     # I = sum_i w_i x_i over the whole fan-in
    bias: int        # per-neuron bias c, fixed point with F fractional bits
    threshold: int   # per-neuron threshold theta >= 1, unsigned, F fractional bits (1 for output layers)
    state: int       # membrane v (LIF) or accumulator (output), F fractional bits
    shortcut: int = 0  # per-channel shortcut gain, signed, F fractional bits (0: the layer has no shortcut)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def drive(self, frac_bits: int) -> int:
        """Bits of the drive (I << F) + c [+ g], signed: no sum of the three overflows it."""
        return max(self.current + frac_bits, self.bias, self.shortcut) + 2

    @property
    def margin(self) -> int:
        """Bits of v1 - theta (the leaked membrane less the threshold): the state and the unsigned
        threshold, signed, plus one."""
        return max(self.state, self.threshold + 1) + 1


def state_bound(*, n_in: int, input_max: int, frac_bits: int, bias_max_abs: int,
                timesteps: int, leak_shift: int | None, accumulate: bool, shortcut_max_abs: int = 0) -> int:
    """Worst-case |v| after integrate, over all inputs and all T steps.

    Each step adds at most M = n_in * input_max * 2**F + max|c| + max|g| (g: shortcut gain). Leak never grows |v| beyond
    ceil(lambda |v|), and reset only moves v towards 0 (theta >= 1), so iterating
    V <- leak_bound(V) + M from V = 0 for T steps bounds |v| tightly. An output layer does not leak.
    """
    step = n_in * input_max * (1 << frac_bits) + bias_max_abs + shortcut_max_abs
    bound = 0
    for _ in range(timesteps):
        bound = (bound if accumulate else leak_bound(bound, leak_shift)) + step
    return bound


def required_widths(*, n_in: int, input_max: int, input_bits: int, frac_bits: int, bias_max_abs: int,
                    threshold_max: int, timesteps: int, leak_shift: int | None, accumulate: bool,
                    shortcut_max_abs: int = 0) -> LayerWidths:
    """The narrowest widths with which no register of the layer can overflow."""
    current_max = n_in * input_max
    bound = state_bound(n_in=n_in, input_max=input_max, frac_bits=frac_bits, bias_max_abs=bias_max_abs,
                        timesteps=timesteps, leak_shift=leak_shift, accumulate=accumulate,
                        shortcut_max_abs=shortcut_max_abs)
    return LayerWidths(
        input=input_bits,
        current=signed_width(-current_max, current_max),
        bias=signed_width(-bias_max_abs, bias_max_abs),
        threshold=unsigned_width(threshold_max),
        state=signed_width(-bound, bound),
        shortcut=signed_width(-shortcut_max_abs, shortcut_max_abs) if shortcut_max_abs else 0,
    )


def to_signed(value: int, width: int) -> int:
    """A ``width``-bit two's complement field's value."""
    return value - (1 << width) if value >> (width - 1) & 1 else value


def pack_lanes(values, width: int) -> int:
    """Pack integers (two's complement, ``width`` bits each) into one word, lane 0 in the low bits."""
    word = 0
    mask = (1 << width) - 1
    for lane, value in enumerate(values):
        word |= (int(value) & mask) << (lane * width)
    return word


def unpack_lanes(word: int, lanes: int, width: int, signed: bool = False) -> list[int]:
    """The inverse of :func:`pack_lanes`: ``lanes`` fields of ``width`` bits, lane 0 in the low bits."""
    mask = (1 << width) - 1
    fields = [(int(word) >> (k * width)) & mask for k in range(lanes)]
    return [to_signed(v, width) for v in fields] if signed else fields


def fixed_point(x, frac_bits: int) -> np.ndarray:
    """Real values on the 2**-F grid: round(x * 2**F) to nearest (ties to even), as int64."""
    return np.round(np.asarray(x, dtype=np.float64) * (1 << frac_bits)).astype(np.int64)


def divide_by_scale(bits: np.ndarray, scale, offset, threshold, frac_bits: int, min_scale: float = 0.0):
    """A layer whose neuron j integrates ``scale[j] * I + offset[j]`` against ``threshold`` (float) as
    the integer LIF of the semantics: divide the neuron's equation by a = |scale[j]| (at least
    ``min_scale``), negating its weight bits where scale[j] < 0 (I -> -I, free in binary). Returns
    (bits, bias, threshold, a) with bias = round(offset/a * 2**F) and threshold = round(theta/a * 2**F),
    at least 1 LSB. The one rule for ``flipspike export`` (BatchNorm) and NIR import (r/tau gains)."""
    scale = np.asarray(scale, dtype=np.float64)
    a = np.maximum(np.abs(scale), min_scale)
    flipped = np.asarray(bits).astype(np.uint8) ^ (scale < 0)[:, None].astype(np.uint8)
    return (flipped, fixed_point(np.asarray(offset, dtype=np.float64) / a, frac_bits),
            np.maximum(fixed_point(np.asarray(threshold, dtype=np.float64) / a, frac_bits), 1), a)
