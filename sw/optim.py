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

import torch
from torch.optim import Optimizer


def _check_binary(p: torch.Tensor) -> None:
    if not torch.all(p.abs() == 1):
        raise ValueError("BSO/T-BSO take binary parameters holding exactly +-1 (weight_mode='direct'); "
                         "this one holds other values")


class BSO(Optimizer):
    def __init__(self, params, gamma: float = 5e-7, beta: float = 1 - 1e-3, reset_momentum: bool = False):
        if gamma < 0 or not 0 <= beta < 1:
            raise ValueError(f"BSO needs gamma >= 0 and 0 <= beta < 1, got gamma={gamma}, beta={beta}")
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
            raise ValueError(f"T-BSO needs timesteps >= 1, got {timesteps}")
        Optimizer.__init__(self, params, dict(gamma=gamma, betas=tuple(betas), timesteps=timesteps, eps=eps))
        for group in self.param_groups:
            for p in group["params"]:
                _check_binary(p.data)

    def _beta1(self, group) -> float:
        return group["betas"][0]

    def _flip_threshold(self, group, state, grad, t):
        if t is None or not 0 <= t < group["timesteps"]:
            raise ValueError(f"T-BSO step() needs the time step index t in 0..{group['timesteps'] - 1}, got {t}")
        if "v" not in state:
            state["v"] = torch.zeros(group["timesteps"], device=grad.device, dtype=grad.dtype)
        beta2 = group["betas"][1]
        state["v"][t] = beta2 * state["v"][t] + (1 - beta2) * grad.pow(2).mean()
        return group["gamma"] * (state["v"][t].sqrt() + group["eps"])
