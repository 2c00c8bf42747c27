"""The float golden model: a fully connected binary SNN with direct encoding.

hidden layer:  z = BN(alpha * sign(W) x)  ->  LIF  ->  spikes
output layer:  o[t] = scale * sign(W) s[t] + b, accumulated over T (never fires); class = argmax sum_t o[t]

Direct encoding feeds the same pixels at every step, so the first layer's current is computed once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import BinaryLinear, lif_sequence


@dataclass
class ModelConfig:
    sizes: list[int]                 # e.g. [64, 128, 10]
    timesteps: int = 4
    leak_shift: int | None = 1       # lambda = 1 - 2**-k = 0.5 (tau = 2); None: IF neuron
    threshold: float = 1.0
    reset: str = "hard"              # "hard" or "soft"
    surrogate: str = "triangular"    # or "sigmoid"
    per_output_scale: bool = False   # optional per-output alpha in hidden layers (folds into BN)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_arch(arch: str) -> list[int]:
    try:
        sizes = [int(s) for s in arch.split("-")]
    except ValueError:
        raise ValueError(f"--arch {arch!r}: expected sizes joined by '-', e.g. 64-128-10") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"--arch {arch!r}: need at least an input and an output size, all >= 1")
    return sizes


class BSNN(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {cfg.reset!r}")
        self.cfg = cfg
        pairs = list(zip(cfg.sizes[:-1], cfg.sizes[1:]))
        self.hidden = nn.ModuleList(BinaryLinear(a, b, cfg.per_output_scale) for a, b in pairs[:-1])
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for _, b in pairs[:-1])
        self.out = BinaryLinear(*pairs[-1])
        self.out_log_scale = nn.Parameter(torch.tensor(-2.0))   # scale = exp(.) > 0: folds into an integer bias
        self.out_bias = nn.Parameter(torch.zeros(cfg.sizes[-1]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: [B, n_in] pixel values. Returns (sum over T of the output [B, classes], spikes per hidden layer [T, B, N])."""
        T = self.cfg.timesteps
        spikes = []
        s = None
        for i, (fc, bn) in enumerate(zip(self.hidden, self.norms)):
            if i == 0:
                z = bn(fc(x)).unsqueeze(0).expand(T, -1, -1)        # direct encoding: once, reused T times
            else:
                z = bn(fc(s.flatten(0, 1))).view(T, s.shape[1], -1)
            s = lif_sequence(z, leak_shift=self.cfg.leak_shift, threshold=self.cfg.threshold,
                             reset=self.cfg.reset, surrogate=self.cfg.surrogate)
            spikes.append(s)
        if s is None:
            o = self.out(x).unsqueeze(0).expand(T, -1, -1)
        else:
            o = self.out(s.flatten(0, 1)).view(T, s.shape[1], -1)
        o = o * self.out_log_scale.exp() + self.out_bias
        return o.sum(0), spikes
