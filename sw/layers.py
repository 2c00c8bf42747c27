"""Float building blocks of a binary SNN: binary weights (STE), LIF neurons with surrogate gradients."""

from __future__ import annotations

import torch
from torch import nn

from flipspike.ir.errors import ConfigError
from flipspike.ir.formats import leak_factor


def sign_pm1(w: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1: a binary weight is never 0."""
    return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)


class _SignSTE(torch.autograd.Function):
    """Forward sign(w) (sign(0)=+1); backward the clipped straight-through estimator 1{|w| <= 1}."""

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return sign_pm1(w)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1).to(grad.dtype)


WEIGHT_MODES = ("ste", "direct", "fp")


class _BinaryOp(nn.Module):
    """A linear operator whose weight is used one of three ways:

    * ``ste``:    W_b = sign(W) of a latent float W, clipped straight-through gradient (STBP, AGMM, SEI);
    * ``direct``: W holds exactly +-1 and is used as is; an optimizer flips it (BSO, T-BSO: no latent weights);
    * ``fp``:     W is an ordinary float weight (full-precision baselines; first/last layers in the papers).

    Output y = alpha * op(W_b, x), with an optional per-output scale alpha (folds into BN).
    """

    def __init__(self, shape: tuple[int, ...], per_output_scale: bool, mode: str):
        super().__init__()
        if mode not in WEIGHT_MODES:
            raise ConfigError(f"weight mode must be one of {WEIGHT_MODES}, got {mode!r}")
        self.mode = mode
        w = torch.empty(shape)
        if mode == "direct":
            w = sign_pm1(nn.init.kaiming_normal_(w))
        elif mode == "fp":
            nn.init.kaiming_uniform_(w, a=5 ** 0.5)
        else:
            w.uniform_(-0.1, 0.1)
        self.weight = nn.Parameter(w)
        self.alpha = nn.Parameter(torch.ones(shape[0])) if per_output_scale else None

    @property
    def binary(self) -> bool:
        return self.mode != "fp"

    def effective_weight(self) -> torch.Tensor:
        return _SignSTE.apply(self.weight) if self.mode == "ste" else self.weight

    def _op(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, trace: torch.Tensor | None = None) -> torch.Tensor:
        """With ``trace`` (online training): the value is op(W, x), but the weight gradient is delta (x) trace
        and the input gradient flows through the trace's current-step term (OTTT)."""
        w = self.effective_weight()
        if trace is None:
            y = self._op(x, w)
        else:
            with torch.no_grad():
                rest = self._op(x - trace, w)
            y = self._op(trace, w) + rest
        if self.alpha is None:
            return y
        return y * (self.alpha if y.ndim == 2 else self.alpha.view(-1, 1, 1))


class BinaryLinear(_BinaryOp):
    """y = alpha * (W_b x) for x [B, n_in]."""

    def __init__(self, n_in: int, n_out: int, per_output_scale: bool = False, mode: str = "ste"):
        super().__init__((n_out, n_in), per_output_scale, mode)

    def _op(self, x, w):
        return x @ w.t()


class BinaryConv2d(_BinaryOp):
    """y = alpha * conv(W_b, x) for x [B, C, H, W] (torch's NCHW; the integer description is HWC)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0,
                 per_output_scale: bool = False, mode: str = "ste"):
        super().__init__((c_out, c_in, kernel, kernel), per_output_scale, mode)
        self.stride, self.padding = stride, padding

    def _op(self, x, w):
        return torch.nn.functional.conv2d(x, w, stride=self.stride, padding=self.padding)


class _Heaviside(torch.autograd.Function):
    """Spike = (x >= 0); the backward is a surrogate derivative."""

    @staticmethod
    def forward(ctx, x, kind: str, width: float):
        ctx.save_for_backward(x)
        ctx.kind, ctx.width = kind, width
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        if ctx.kind == "triangular":       # max(0, 1 - |x|/w) / w
            d = torch.clamp(1 - x.abs() / ctx.width, min=0) / ctx.width
        else:                              # sigmoid with slope alpha = 1/width
            sg = torch.sigmoid(x / ctx.width)
            d = sg * (1 - sg) / ctx.width
        return grad * d, None, None


SURROGATES = {"triangular": 1.0, "sigmoid": 0.25}


def spike(x: torch.Tensor, surrogate: str = "triangular") -> torch.Tensor:
    if surrogate not in SURROGATES:
        raise ConfigError(f"unknown surrogate {surrogate!r}; choose one of {sorted(SURROGATES)}")
    return _Heaviside.apply(x, surrogate, SURROGATES[surrogate])


def lif_sequence(z: torch.Tensor, *, leak_shift: int | None, threshold: float, reset: str,
                 surrogate: str) -> torch.Tensor:
    """Run a LIF population over time. z: input current [T, B, N]; returns spikes [T, B, N].

    Same order as the integer semantics: leak (lambda = 1 - 2**-k), integrate, fire (v >= threshold), reset.
    """
    lam = leak_factor(leak_shift)
    v = torch.zeros_like(z[0])
    out = []
    for t in range(z.shape[0]):
        v = lam * v + z[t]
        s = spike(v - threshold, surrogate)
        v = v * (1 - s.detach()) if reset == "hard" else v - threshold * s.detach()
        out.append(s)
    return torch.stack(out)
