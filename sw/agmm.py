"""AGMM: adaptive gradient modulation (Liang et al., AAAI 2025), after each binary layer + BN.

The published equation was not available to us. The default form follows the paper's description
(a trainable temporal factor and a sigmoid of the time-averaged feature map, which shrinks the
gradient reaching the binary weights and so the rate of weight sign flips):

    gate:   O[t] = X[t] * sigmoid(alpha[t] * E[X]),     E[X] = mean over t of X[t],  alpha in R^T, init 1
    scale:  O[t] = alpha[t] * X[t] * sigmoid(E[X])      (the other reading in shared/reference)

Forms are pluggable: add a function ``(x, mean, alpha) -> O`` to ``FORMS``.

E[X] needs every time step before the first can be computed, so AGMM is a training-time module: the
hardware folds it away. The trainer anneals it to the identity over the last epochs
(O = X + mix * (AGMM(X) - X), ``mix`` 1 -> 0), so the network that is evaluated and exported at the end
contains no AGMM and costs nothing in hardware. See docs/training-methods.md.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from flipspike.ir.errors import ConfigError

FORMS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "gate": lambda x, mean, alpha: x * torch.sigmoid(alpha * mean),
    "scale": lambda x, mean, alpha: alpha * x * torch.sigmoid(mean),
}


class AGMM(nn.Module):
    def __init__(self, timesteps: int, form: str = "gate"):
        super().__init__()
        if form not in FORMS:
            raise ConfigError(f"unknown AGMM form {form!r}; available: {', '.join(FORMS)}")
        self.form = form
        self.alpha = nn.Parameter(torch.ones(timesteps))
        self.register_buffer("mix", torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [T, B, ...] (BN output of every step) -> same shape."""
        if float(self.mix) == 0.0:
            return x
        alpha = self.alpha.view(-1, *([1] * (x.ndim - 1)))
        modulated = FORMS[self.form](x, x.mean(0, keepdim=True), alpha)
        return x + self.mix * (modulated - x)
