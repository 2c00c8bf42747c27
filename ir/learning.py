"""Number formats of on-chip learning: the integer BSO flip rule (see docs/integer-semantics.md).

Per binary weight: its bit b (1 is +1) and a momentum m, a signed ``momentum_bits``-wide integer. One
update with gradient sample g (an integer: g = delta_i * trace_j, both integers):

    m <- sat(m - (m >>> k) + (g >>> kg))      EMA with rate 1 - beta = 2**-k; >>> is the arithmetic shift
                                              (floor); sat clamps to [-2**(M-1), 2**(M-1) - 1]
    flip <- (b == 1 and m > gamma) or (b == 0 and m < -gamma)       i.e. w * m > gamma
    b <- b xor flip;   m <- 0 where flip, if reset_on_flip

T-BSO mode (``tbso``): one second moment v per layer, an unsigned saturating ``v_bits`` integer, and
a second condition on the flip. With S = (sum_i delta_i**2) * (sum_j trace_j**2) >>> ``v_in_shift``
(the sum of g**2 over the layer, since g = delta_i * trace_j is an outer product):

    v <- min(v - (v >>> k2) + S, 2**v_bits - 1)          k2 = v_rate_shift (1 - beta2 = 2**-k2)
    flip <- (w * m > gamma) and (m * m > theta2 * v)      theta2 = ``threshold2`` (gamma**2 of T-BSO)

i.e. T-BSO's w*m > gamma*sqrt(v) without a square root (w*m > 0 there), with BSO's gamma as a floor.

Widths are derived here and nowhere else: the hardware sizes its multipliers and adders from them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import DescriptionError
from .formats import signed_width


@dataclass(frozen=True)
class FlipRule:
    # defaults: the setting of the on-device adaptation demo (bench/learning_memory.py compares others)
    momentum_bits: int = 10     # M: width of the signed, saturating momentum per weight
    rate_shift: int = 4         # k: 1 - beta = 2**-k
    grad_shift: int = 0         # kg: the gradient sample enters as g >>> kg
    threshold: int = 32         # gamma >= 0, in momentum units
    reset_on_flip: bool = False
    delta_bits: int = 4         # signed per-neuron error delta
    trace_bits: int = 3         # unsigned per-input presynaptic trace (spike counts 0..T for T <= 7)
    tbso: bool = False          # T-BSO mode: the second-moment condition below
    v_bits: int = 16            # unsigned, saturating second moment v
    v_rate_shift: int = 4       # k2: 1 - beta2 = 2**-k2
    v_in_shift: int = 0         # the layer's sum of g**2 enters v as S >>> v_in_shift
    threshold2: int = 1         # theta2: flip needs m*m > theta2 * v

    def __post_init__(self):
        checks = [
            (2 <= self.momentum_bits <= 16, "momentum_bits must be 2..16"),
            (1 <= self.rate_shift <= self.momentum_bits, "rate_shift must be 1..momentum_bits"),
            (0 <= self.grad_shift <= 24, "grad_shift must be 0..24"),
            (0 <= self.threshold <= self.m_max, f"threshold must be 0..{self.m_max} (the largest momentum)"),
            (2 <= self.delta_bits <= 16, "delta_bits must be 2..16"),
            (1 <= self.trace_bits <= 16, "trace_bits must be 1..16"),
            (2 <= self.v_bits <= 32, "v_bits must be 2..32"),
            (1 <= self.v_rate_shift <= self.v_bits, "v_rate_shift must be 1..v_bits"),
            (0 <= self.v_in_shift <= 64, "v_in_shift must be 0..64"),
            (0 <= self.threshold2 < 1 << 16, "threshold2 must be 0..65535"),
        ]
        for ok, message in checks:
            if not ok:
                raise DescriptionError(f"flip rule: {message}, got {self}")

    @property
    def m_min(self) -> int:
        return -(1 << (self.momentum_bits - 1))

    @property
    def m_max(self) -> int:
        return (1 << (self.momentum_bits - 1)) - 1

    @property
    def grad_width(self) -> int:
        """Signed width of g = delta * trace."""
        d = 1 << (self.delta_bits - 1)
        t = (1 << self.trace_bits) - 1
        return signed_width(-d * t, (d - 1) * t)

    @property
    def sum_width(self) -> int:
        """Signed width of m - (m >>> k) + (g >>> kg) before saturation."""
        g_lo = -(1 << (self.grad_width - 1)) >> self.grad_shift
        g_hi = ((1 << (self.grad_width - 1)) - 1) >> self.grad_shift
        return signed_width(self.m_min + g_lo, self.m_max + g_hi)

    @property
    def v_max(self) -> int:
        return (1 << self.v_bits) - 1

    def square_sums(self, n_out: int, n_in: int) -> tuple[int, int, int]:
        """Widths (unsigned) of sum(delta**2) over n_out, sum(trace**2) over n_in, and their product."""
        d = (1 << (self.delta_bits - 1)) ** 2 * n_out
        t = ((1 << self.trace_bits) - 1) ** 2 * n_in
        return d.bit_length(), t.bit_length(), (d * t).bit_length()

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Learning:
    """On-chip learning: a flip unit on layer ``layer``'s weights, following ``rule``."""
    layer: int
    rule: FlipRule

    def as_dict(self) -> dict:
        return {"layer": self.layer, "rule": self.rule.as_dict()}
