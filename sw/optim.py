"""BSO and T-BSO: binary weight optimizers with no latent weights (Liang et al., ICML 2025).

Usable outside flipspike's trainer, the way larq's ``Bop`` is::

    from flipspike.sw import BSO, TBSO
    bso = BSO(model.binary_parameters(), gamma=5e-7, beta=1 - 1e-3)
    sgd = torch.optim.SGD(model.float_parameters(), lr=0.1)       # full-precision parameters: any optimizer
    ...
    loss.backward(); sgd.step(); bso.step(t)

State per binary weight: the weight itself (exactly +-1) and one momentum M. T-BSO adds one second-moment
scalar per tensor per time step. After every step every binary weight is exactly +1 or -1.

    BSO:    M <- beta*M + (1-beta)*g;                          flip where W*M > gamma
    T-BSO:  M <- beta1*M + (1-beta1)*g;  v[t] <- beta2*v[t] + (1-beta2)*mean(g^2)
            flip where W*M > gamma*(sqrt(v[t]) + eps)          (the official code's eps placement)

Option ``reset_momentum`` zeroes M where a weight flipped (the official code's BSO branch).
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from flipspike.ir.errors import ConfigError


def _check_binary(p: torch.Tensor) -> None:
    if not torch.all(p.abs() == 1):
        raise ConfigError("BSO/T-BSO take binary parameters holding exactly +-1 (weight_mode='direct'); "
                         "this one holds other values")


class BSO(Optimizer):
    def __init__(self, params, gamma: float = 5e-7, beta: float = 1 - 1e-3, reset_momentum: bool = False):
        if gamma < 0 or not 0 <= beta < 1:
            raise ConfigError(f"BSO needs gamma >= 0 and 0 <= beta < 1, got gamma={gamma}, beta={beta}")
        super().__init__(params, dict(gamma=gamma, beta=beta, reset_momentum=reset_momentum))
        for group in self.param_groups:
            for p in group["params"]:
                _check_binary(p.data)

    def _flip_threshold(self, group, state, grad, t):
        return group["gamma"]

    def _beta1(self, group) -> float:
        return group["beta"]

    @torch.no_grad()
    def step(self, t: int | None = None, closure=None):
        """One update. ``t`` is the time step index (used by T-BSO; ignored by BSO)."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta = self._beta1(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros_like(p)
                    state["flips"] = 0
                m = state["momentum"]
                m.mul_(beta).add_(p.grad, alpha=1 - beta)
                flip = p * m > self._flip_threshold(group, state, p.grad, t)
                p.copy_(torch.where(flip, -p, p))
                if group.get("reset_momentum"):
                    m.masked_fill_(flip, 0)
                state["last_flips"] = int(flip.sum())
                state["flips"] += state["last_flips"]
        return loss

    def flips(self) -> int:
        """Weights flipped by the last step, over all parameters."""
        return sum(s.get("last_flips", 0) for s in self.state.values())


class TBSO(BSO):
    def __init__(self, params, gamma: float = 5e-7, betas: tuple[float, float] = (1 - 1e-3, 1 - 1e-5),
                 timesteps: int = 1, eps: float = 1e-10):
        if timesteps < 1:
            raise ConfigError(f"T-BSO needs timesteps >= 1, got {timesteps}")
        Optimizer.__init__(self, params, dict(gamma=gamma, betas=tuple(betas), timesteps=timesteps, eps=eps))
        for group in self.param_groups:
            for p in group["params"]:
                _check_binary(p.data)

    def _beta1(self, group) -> float:
        return group["betas"][0]

    def _flip_threshold(self, group, state, grad, t):
        if t is None or not 0 <= t < group["timesteps"]:
            raise ConfigError(f"T-BSO step() needs the time step index t in 0..{group['timesteps'] - 1}, got {t}")
        if "v" not in state:
            state["v"] = torch.zeros(group["timesteps"], device=grad.device, dtype=grad.dtype)
        beta2 = group["betas"][1]
        state["v"][t] = beta2 * state["v"][t] + (1 - beta2) * grad.pow(2).mean()
        return group["gamma"] * (state["v"][t].sqrt() + group["eps"])


class IntBSO(Optimizer):
    """BSO with the integer rule of the on-chip flip unit (flipspike.ir.learning.FlipRule): the
    momentum is a saturating ``momentum_bits`` integer, the EMA rate a power of two, the threshold an
    integer. It follows float BSO with

        g_int = round(g * 2**s)            (s = ``grad_shift_bits``; stochastic rounding optional)
        rate_shift k = round(-log2(1 - beta)),   threshold = round(gamma * 2**(k + s))

    because the integer EMA m <- m - m/2**k + g_int accumulates 2**k * 2**s times the float momentum.
    ``shadow=True`` also runs float BSO's momentum on the same gradients (on the weights the integer
    rule produces) and counts the integer flips, the float rule's flip decisions that are new at a step
    (its condition W*M > gamma became true), and how often each coincides with the other's:
    ``agreement()``.
    """

    def __init__(self, params, gamma: float = 5e-7, beta: float = 1 - 1e-3, momentum_bits: int = 16,
                 grad_shift_bits: int = 22, stochastic: bool = False, reset_momentum: bool = False,
                 shadow: bool = True, generator: torch.Generator | None = None):
        super().__init__(params, dict(gamma=gamma, beta=beta))
        self.momentum_bits, self.grad_shift_bits, self.stochastic = momentum_bits, grad_shift_bits, stochastic
        self.reset_momentum, self.shadow, self.generator = reset_momentum, shadow, generator
        self.counts = {"int": 0, "float": 0, "int_also_float": 0, "float_also_int": 0}
        for group in self.param_groups:
            for p in group["params"]:
                _check_binary(p.data)

    def rule(self, group):
        from flipspike.ir.learning import FlipRule
        k = max(1, min(self.momentum_bits, round(-math.log2(1 - group["beta"]))))
        m_max = (1 << (self.momentum_bits - 1)) - 1
        threshold = min(m_max, round(group["gamma"] * 2 ** (k + self.grad_shift_bits)))
        return FlipRule(momentum_bits=self.momentum_bits, rate_shift=k, threshold=threshold,
                        reset_on_flip=self.reset_momentum)

    def _quantize(self, g: torch.Tensor) -> torch.Tensor:
        scaled = g.double() * 2.0 ** self.grad_shift_bits
        if self.stochastic:
            noise = torch.rand(scaled.shape, generator=self.generator, dtype=scaled.dtype).to(scaled.device)
            return torch.floor(scaled + noise).to(torch.int64)
        return torch.round(scaled).to(torch.int64)

    @torch.no_grad()
    def step(self, t: int | None = None, closure=None):
        from .integer_learning import momentum_step
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            rule = self.rule(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros(p.shape, dtype=torch.int64, device=p.device)
                    if self.shadow:
                        state["float_momentum"] = torch.zeros_like(p)
                        state["float_wants"] = torch.zeros(p.shape, dtype=torch.bool, device=p.device)
                bits, m, flip = momentum_step(p > 0, state["momentum"], self._quantize(p.grad), rule)
                if self.shadow:
                    fm = state["float_momentum"]
                    fm.mul_(group["beta"]).add_(p.grad, alpha=1 - group["beta"])
                    wants = p * fm > group["gamma"]
                    new = wants & ~state["float_wants"]
                    self.counts["float"] += int(new.sum())
                    self.counts["float_also_int"] += int((new & flip).sum())
                    self.counts["int_also_float"] += int((wants & flip).sum())
                    state["float_wants"] = wants & ~flip
                    if self.reset_momentum:
                        fm.masked_fill_(flip, 0)
                self.counts["int"] += int(flip.sum())
                state["momentum"] = m
                p.copy_(bits.to(p.dtype) * 2 - 1)
        return loss

    def agreement(self) -> dict:
        """Counts so far, and the fraction of integer flips the float rule also made at that step
        (``of_int``) and of new float flip decisions the integer rule also made (``of_float``)."""
        c = self.counts
        return {**c, "of_int": c["int_also_float"] / c["int"] if c["int"] else 1.0,
                "of_float": c["float_also_int"] / c["float"] if c["float"] else 1.0}
