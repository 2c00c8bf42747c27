"""Rate encoding, defined once: a sample's pixels become a spike per pixel and step, on chip.

Under ``input.encoding: rate`` the host sends one image of ``size`` pixels (``bits`` each) per sample, and
the first layer reads at step t the spikes

    s[t, i] = (x[i] > r[t, i]),   r[t, i] = sum_j b[(t * size + i) * bits + j] * 2**j

where b[0], b[1], ... is the output of a 32-bit Fibonacci LFSR (polynomial x^32 + x^22 + x^2 + x + 1,
maximal length) started from ``seed`` at every sample: each shift outputs the state's lowest bit and
shifts in the XOR of bits 0, 10, 30 and 31 at the top. So a pixel spikes with probability x / 2**bits
(frozen noise: every sample sees the same thresholds, whatever came before it, so a sample's result
never depends on its neighbours). numpy only: the reference, the training model and the hardware's
leap-forward matrices (:func:`leap_matrices`) all come from here.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

LFSR_WIDTH = 32
#: Bits XORed into the top at each shift (right-shifting Fibonacci form of x^32 + x^22 + x^2 + x + 1).
LFSR_TAPS = (0, 10, 30, 31)
DEFAULT_SEED = 1


def check_seed(seed: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 1 <= seed < 1 << LFSR_WIDTH:
        raise ValueError(f"the rate encoder's seed must be an integer in 1..2**{LFSR_WIDTH} - 1 (an LFSR "
                         f"never leaves 0), got {seed!r}")


@lru_cache(maxsize=16)
def lfsr_stream(seed: int, n: int) -> np.ndarray:
    """The first ``n`` output bits of the LFSR from ``seed`` (uint8), shift by shift."""
    check_seed(seed)
    out = np.empty(n, dtype=np.uint8)
    s = seed
    for k in range(n):
        out[k] = s & 1
        fb = 0
        for tap in LFSR_TAPS:
            fb ^= s >> tap
        s = (s >> 1) | ((fb & 1) << (LFSR_WIDTH - 1))
    out.flags.writeable = False
    return out


def rate_thresholds(seed: int, timesteps: int, size: int, bits: int) -> np.ndarray:
    """r[t, i] (int64 [T, size]): ``bits`` consecutive LFSR bits per pixel and step, LSB first, frame-major."""
    stream = lfsr_stream(seed, timesteps * size * bits).astype(np.int64).reshape(timesteps, size, bits)
    return (stream << np.arange(bits)).sum(axis=2)


def rate_spikes(x, timesteps: int, bits: int, seed: int) -> np.ndarray:
    """The spike frames of pixels ``x`` [B, size]: [B, T * size] of 0/1 (uint8), frame-major."""
    x = np.asarray(x)
    r = rate_thresholds(seed, timesteps, x.shape[1], bits)
    return (x[:, None, :] > r[None]).reshape(len(x), -1).astype(np.uint8)


def _shift_matrix() -> np.ndarray:
    """One shift of the state as a GF(2) matrix M (state' = M @ state), bit k of the state in row k."""
    m = np.zeros((LFSR_WIDTH, LFSR_WIDTH), dtype=np.uint8)
    for k in range(LFSR_WIDTH - 1):
        m[k, k + 1] = 1                                  # bit k <- bit k + 1
    for tap in LFSR_TAPS:
        m[LFSR_WIDTH - 1, tap] ^= 1                      # the top bit <- the taps' XOR
    return m


def leap_matrices(bits_per_cycle: int) -> tuple[np.ndarray, np.ndarray]:
    """(O, L) for an encoder that takes ``bits_per_cycle`` output bits a cycle: output bit j of a cycle is
    the GF(2) product of row j of O with the state, and the next cycle's state is L @ state. The
    hardware's XOR networks are these matrices' rows."""
    m = _shift_matrix()
    power = np.eye(LFSR_WIDTH, dtype=np.uint8)
    rows = []
    for _ in range(bits_per_cycle):
        rows.append(power[0].copy())                      # the output is bit 0 of the state so far
        power = (m.astype(np.int64) @ power) % 2
    return np.array(rows, dtype=np.uint8), power.astype(np.uint8)
