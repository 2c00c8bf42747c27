"""Integer mode of on-chip learning: the BSO flip rule exactly as the flip unit computes it.

Vectorized over a layer's weights with int64 tensors. Formats: flipspike.ir.learning.FlipRule.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from flipspike.ir.errors import ConfigError
from flipspike.ir.learning import FlipRule


@dataclass
class FlipState:
    bits: torch.Tensor       # uint8/bool [n_out, n_in]: 1 is +1
    momentum: torch.Tensor   # int64 [n_out, n_in]
    v: int = 0               # T-BSO mode: the layer's second moment


def flip_step(state: FlipState, delta: torch.Tensor, trace: torch.Tensor, rule: FlipRule) -> tuple[FlipState, int]:
    """One update from per-neuron errors ``delta`` [n_out] and per-input traces ``trace`` [n_in].

    Returns the new state and the number of weights that flipped."""
    delta = torch.as_tensor(delta, dtype=torch.int64)
    trace = torch.as_tensor(trace, dtype=torch.int64)
    lo, hi = -(1 << (rule.delta_bits - 1)), (1 << (rule.delta_bits - 1)) - 1
    if (delta < lo).any() or (delta > hi).any() or (trace < 0).any() or (trace >= 1 << rule.trace_bits).any():
        raise ConfigError(f"delta must fit {rule.delta_bits} signed bits and trace {rule.trace_bits} unsigned bits")
    v = state.v
    if rule.tbso:
        sample = (int((delta * delta).sum()) * int((trace * trace).sum())) >> rule.v_in_shift
        v = min(v - (v >> rule.v_rate_shift) + sample, rule.v_max)
    bits, m, flip = momentum_step(state.bits, state.momentum, delta[:, None] * trace[None, :], rule, v)
    return FlipState(bits, m, v), int(flip.sum())


def momentum_step(bits: torch.Tensor, momentum: torch.Tensor, g: torch.Tensor, rule: FlipRule, v: int = 0):
    """The rule's core for integer gradient samples ``g`` (any shape): saturating EMA, flip where
    w*m > gamma (and, in T-BSO mode, m*m > theta2*v), optional reset. Returns (new bits as uint8,
    new momentum, flip mask)."""
    m = torch.clamp(momentum - (momentum >> rule.rate_shift) + (g >> rule.grad_shift), rule.m_min, rule.m_max)
    plus = bits.bool()
    flip = torch.where(plus, m > rule.threshold, m < -rule.threshold)
    if rule.tbso:
        flip &= m * m > rule.threshold2 * v
    if rule.reset_on_flip:
        m = torch.where(flip, 0, m)
    return (plus ^ flip).to(torch.uint8), m, flip
