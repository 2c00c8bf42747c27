"""The float golden model: a fully connected binary SNN with direct encoding.

hidden layer:  z = BN(alpha * sign(W) x)  ->  LIF  ->  spikes
output layer:  o[t] = scale * sign(W) s[t] + b, accumulated over T (never fires); class = argmax sum_t o[t]

Direct encoding feeds the same pixels at every step, so the first layer's current is computed once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import BinaryLinear, lif_sequence, spike


@dataclass
class ModelConfig:
    sizes: list[int]                 # e.g. [64, 128, 10]
    timesteps: int = 4
    leak_shift: int | None = 1       # lambda = 1 - 2**-k = 0.5 (tau = 2); None: IF neuron
    threshold: float = 1.0
    reset: str = "hard"              # "hard" or "soft"
    surrogate: str = "triangular"    # or "sigmoid"
    per_output_scale: bool = False   # optional per-output alpha in hidden layers (folds into BN)
    weight_mode: str = "ste"         # binary layers: "ste" (latent weights), "direct" (+-1, BSO), "fp" (no binarization)
    fp_first_last: bool = False      # first and last layer full precision (the papers' setting; not exportable)

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
        mode = lambda i: "fp" if cfg.fp_first_last and i in (0, len(pairs) - 1) else cfg.weight_mode
        self.hidden = nn.ModuleList(BinaryLinear(a, b, cfg.per_output_scale, mode(i))
                                    for i, (a, b) in enumerate(pairs[:-1]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for _, b in pairs[:-1])
        self.out = BinaryLinear(*pairs[-1], mode=mode(len(pairs) - 1))
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

    @property
    def leak(self) -> float:
        return 1.0 if self.cfg.leak_shift is None else 1.0 - 2.0 ** -self.cfg.leak_shift

    def online_step(self, x: torch.Tensor, state: dict | None) -> tuple[torch.Tensor, dict]:
        """One time step for online training (OTTT): membranes are detached across time, so the graph
        holds this step only, and every layer after the first learns from the presynaptic trace
        a[t] = lambda * a[t-1] + s[t] (dL/dW = delta (x) a). Returns (output of this step, new state)."""
        lam, cfg = self.leak, self.cfg
        state = state or {"v": [None] * len(self.hidden), "trace": [None] * len(self.hidden)}
        new = {"v": [], "trace": [], "spikes": []}
        s = trace = None
        for i, (fc, bn) in enumerate(zip(self.hidden, self.norms)):
            z = bn(fc(x) if i == 0 else fc(s, trace))
            v_prev = state["v"][i]
            v = z if v_prev is None else lam * v_prev.detach() + z
            s = spike(v - cfg.threshold, cfg.surrogate)
            v = v * (1 - s.detach()) if cfg.reset == "hard" else v - cfg.threshold * s.detach()
            a_prev = state["trace"][i]
            trace = s if a_prev is None else lam * a_prev.detach() + s
            new["v"].append(v)
            new["trace"].append(trace)
            new["spikes"].append(s)
        o = self.out(x) if s is None else self.out(s, trace)
        return o * self.out_log_scale.exp() + self.out_bias, new

    def binary_parameters(self) -> list[nn.Parameter]:
        return [fc.weight for fc in [*self.hidden, self.out] if fc.binary]

    def float_parameters(self) -> list[nn.Parameter]:
        binary = {id(p) for p in self.binary_parameters()}
        return [p for p in self.parameters() if id(p) not in binary]
