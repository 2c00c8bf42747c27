"""The float golden model: a binary SNN (dense or VGG-style convolutional), fed by direct encoding or frames.

hidden layer:  z = BN(alpha * op(sign(W), x)) [+ AGMM during training] [+ x: shortcut]  ->  LIF  ->  spikes
               [-> max-pool of spikes]
output layer:  o[t] = scale * sign(W) s[t] + b, accumulated over T (never fires); class = argmax sum_t o[t]

Direct encoding feeds the same pixels at every step, so the first layer's current is computed once;
frame input (``encoding="frames"``: T frames per sample, frame-major) gives it a frame per step.
Inputs arrive flat in HWC order (as the integer description stores them); convolutions run in torch's
NCHW and a dense layer after a convolution reads the HWC flattening, so export needs no permutation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from flipspike.ir.errors import ConfigError
from flipspike.ir.formats import leak_factor
from flipspike.ir.geometry import size
from flipspike.ir.encoding import DEFAULT_SEED, rate_thresholds
from flipspike.ir.netdesc import ENCODINGS
from .agmm import AGMM
from .arch import LayerSpec, parse_arch
from .layers import BinaryConv2d, BinaryLinear, lif_sequence, spike


@dataclass
class ModelConfig:
    arch: str = "64-128-10"          # see flipspike.sw.arch: "64-128-10", "c16-c32-p2-fc10", ...
    input_shape: tuple = (64,)       # set from the dataset: (H, W, C) for images, (N,) for vectors (of one frame)
    timesteps: int = 4
    encoding: str = "direct"         # "direct" (one image, every step), "frames" (one frame per step) or
                                     # "rate" (one image, a spike per pixel and step: flipspike.ir.encoding)
    input_bits: int | None = None    # rate: the pixels' bits (thresholds are that wide); set from the dataset
    encoder_seed: int = DEFAULT_SEED # rate: the encoder's LFSR start
    leak_shift: int | None = 1       # lambda = 1 - 2**-k = 0.5 (tau = 2); None: IF neuron
    threshold: float = 1.0
    reset: str = "hard"              # "hard" or "soft"
    surrogate: str = "triangular"    # or "sigmoid"
    per_output_scale: bool = False   # optional per-output alpha in hidden layers (folds into BN)
    weight_mode: str = "ste"         # binary layers: "ste" (latent weights), "direct" (+-1, BSO), "fp" (no binarization)
    fp_first_last: bool = False      # first and last layer full precision (the papers' setting; not exportable)
    shortcuts: bool = False          # SEI: identity shortcut around every spike-fed hidden layer whose shapes match
    agmm: str | None = None          # AGMM form after every hidden BN (training only; annealed away)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        if "sizes" in d:                                   # runs saved before architecture strings
            sizes = d.pop("sizes")
            d.setdefault("arch", "-".join(map(str, sizes)))
            d.setdefault("input_shape", (sizes[0],))
        names = {f.name for f in fields(cls)}
        d["input_shape"] = tuple(d.get("input_shape", (64,)))
        return cls(**{k: v for k, v in d.items() if k in names})


class BSNN(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.reset not in ("hard", "soft"):
            raise ConfigError(f"reset must be 'hard' or 'soft', got {cfg.reset!r}")
        if cfg.encoding not in ENCODINGS:
            raise ConfigError(f"encoding must be one of {', '.join(ENCODINGS)}, got {cfg.encoding!r}")
        if cfg.encoding == "rate":
            if not cfg.input_bits:
                raise ConfigError("rate encoding needs the pixels' bits (input_bits), the thresholds' width")
            r = rate_thresholds(cfg.encoder_seed, cfg.timesteps, size(tuple(cfg.input_shape)), cfg.input_bits)
            self.register_buffer("rate_thresholds", torch.from_numpy(r), persistent=False)
        self.cfg = cfg
        self.specs: list[LayerSpec] = parse_arch(cfg.arch, tuple(cfg.input_shape))
        n = len(self.specs)
        mode = lambda i: "fp" if cfg.fp_first_last and i in (0, n - 1) else cfg.weight_mode
        self.hidden = nn.ModuleList(_make_op(spec, cfg.per_output_scale, mode(i)) for i, spec in enumerate(self.specs[:-1]))
        self.norms = nn.ModuleList((nn.BatchNorm2d if s.conv else nn.BatchNorm1d)(s.out) for s in self.specs[:-1])
        self.agmm = nn.ModuleList(AGMM(cfg.timesteps, cfg.agmm) for _ in self.specs[:-1]) if cfg.agmm else None
        prev = [tuple(cfg.input_shape), *(s.output_shape for s in self.specs[:-1])]
        self.shortcut = [cfg.shortcuts and i > 0 and prev[i] == s.out_shape and s.out_shape[:-1] == s.neuron_shape[:-1]
                         for i, s in enumerate(self.specs[:-1])]
        self.out = _make_op(self.specs[-1], False, mode(n - 1))
        self.out_log_scale = nn.Parameter(torch.tensor(-2.0))   # scale = exp(.) > 0: folds into an integer bias
        self.out_bias = nn.Parameter(torch.zeros(self.specs[-1].out))

    @property
    def classes(self) -> int:
        return self.specs[-1].out

    @property
    def leak(self) -> float:
        return leak_factor(self.cfg.leak_shift)

    def layers(self) -> list[nn.Module]:
        return [*self.hidden, self.out]

    @property
    def frames(self) -> bool:
        """Samples arrive as T frames (frame input)."""
        return self.cfg.encoding == "frames"

    def step_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Frame input [B, T * size] -> the frames as one batch [T * B, size], step-major."""
        T, B = self.cfg.timesteps, x.shape[0]
        return x.reshape(B, T, -1).transpose(0, 1).reshape(T * B, -1)

    def _first_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the first layer reads each step: [T, B, ...] (frames, rate spikes), or [1, B, ...] broadcast
        over T (direct)."""
        T, B = self.cfg.timesteps, x.shape[0]
        if self.cfg.encoding == "direct":
            return self.image(x).unsqueeze(0)
        flat = self.image(self.step_inputs(self.frames_of(x)))
        return flat.view(T, B, *flat.shape[1:])

    def frames_of(self, x: torch.Tensor) -> torch.Tensor:
        """A batch as T frames [B, T * size] (flat HWC each): frame input as it is, rate encoding's spikes."""
        if self.cfg.encoding == "rate":
            return (x.unsqueeze(1) > self.rate_thresholds).to(x.dtype).flatten(1)
        return x

    def image(self, x: torch.Tensor) -> torch.Tensor:
        """Flat HWC inputs [B, size] -> what the first layer takes ([B, C, H, W] for a convolution)."""
        if self.specs[0].conv is None:
            return x.reshape(x.shape[0], -1)
        h, w, c = self.cfg.input_shape
        return x.reshape(x.shape[0], h, w, c).permute(0, 3, 1, 2)

    def _layer_op(self, i: int, s: torch.Tensor, trace: torch.Tensor | None = None) -> torch.Tensor:
        """Layer i's operator on spikes [N, C, H, W] or [N, n]; a dense layer reads the HWC flattening."""
        op = self.layers()[i]
        if self.specs[i].conv is None and s.ndim == 4:
            s = _flatten_hwc(s)
            trace = None if trace is None else _flatten_hwc(trace)
        return op(s) if trace is None else op(s, trace)

    def _pool(self, i: int, s: torch.Tensor) -> torch.Tensor:
        p = self.specs[i].pool
        return s if p == 1 else F.max_pool2d(s, p)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: [B, size] pixel values (HWC). Returns (sum over T of the output [B, classes], the spikes of each
        hidden layer [T, B, ...] before pooling)."""
        T, B = self.cfg.timesteps, x.shape[0]
        spikes = []
        s = None                                                       # [T, B, ...] input spikes of the layer
        for i, bn in enumerate(self.norms):
            if i == 0:                 # direct encoding: once, reused T times; frames: a batch of T * B
                first = self._first_input(x)
                z = bn(self._layer_op(0, first.flatten(0, 1)))
                z = z.view(first.shape[0], B, *z.shape[1:])
                z = z.expand(T, *z.shape[1:])
            else:
                z = bn(self._layer_op(i, s.flatten(0, 1)))
                z = z.view(T, B, *z.shape[1:])
            if self.agmm is not None:
                z = self.agmm[i](z)
            if self.shortcut[i]:
                z = z + s
            out = lif_sequence(z, leak_shift=self.cfg.leak_shift, threshold=self.cfg.threshold,
                               reset=self.cfg.reset, surrogate=self.cfg.surrogate)
            spikes.append(out)
            s = self._pool(i, out.flatten(0, 1))
            s = s.view(T, B, *s.shape[1:])
        n = len(self.norms)
        if s is None:
            first = self._first_input(x)
            o = self._layer_op(n, first.flatten(0, 1)).view(first.shape[0], B, -1).expand(T, -1, -1)
        else:
            o = self._layer_op(n, s.flatten(0, 1)).view(T, B, -1)
        o = o * self.out_log_scale.exp() + self.out_bias
        return o.sum(0), spikes

    def online_step(self, x: torch.Tensor, state: dict | None, trace_form: str = "ottt",
                    t: int = 0) -> tuple[torch.Tensor, dict]:
        """One time step for online training: membranes are detached across time, so the graph holds
        this step only, and every layer after the first learns from the presynaptic trace a of its
        (pooled) input spikes (dL/dW = delta (x) a):

            ottt:  a[t] = lambda * a[t-1] + s[t]
            ndot:  a[t] = mu[t] * a[t-1] + s[t],  mu[t] = (u[t] - Vth s[t]) / (u[t-1] - Vth s[t-1])
                   (u before reset; clamped to [-lambda, lambda], lambda where the ratio is undefined)

        ``x``: the sample; with frame input, step ``t`` reads its frame t. Returns (output of this step,
        new state)."""
        if self.agmm is not None:
            raise ConfigError("AGMM needs the whole sequence (its mean over time); train it with BPTT (--method agmm)")
        if trace_form not in ("ottt", "ndot"):
            raise ConfigError(f"trace form must be 'ottt' or 'ndot', got {trace_form!r}")
        if trace_form == "ndot" and any(spec.pool > 1 for spec in self.specs):
            raise ConfigError("the NDOT trace is per neuron and has no pooled form; use the OTTT trace with pooling")
        lam, cfg = self.leak, self.cfg
        n = len(self.norms)
        state = state or {"v": [None] * n, "trace": [None] * n, "post": [None] * n}
        new = {"v": [], "trace": [], "spikes": [], "post": []}
        if self.cfg.encoding != "direct":
            x = self.frames_of(x).reshape(x.shape[0], cfg.timesteps, -1)[:, t]
        s = trace = None
        for i, bn in enumerate(self.norms):
            z = bn(self._layer_op(0, self.image(x)) if i == 0 else self._layer_op(i, s, trace))
            if self.shortcut[i]:
                z = z + s
            v_prev = state["v"][i]
            v = z if v_prev is None else lam * v_prev.detach() + z
            out = spike(v - cfg.threshold, cfg.surrogate)
            post = (v - cfg.threshold * out).detach()
            v = v * (1 - out.detach()) if cfg.reset == "hard" else v - cfg.threshold * out.detach()
            s = self._pool(i, out)
            a_prev = state["trace"][i]
            if a_prev is None:
                trace = s
            else:
                mu = lam if trace_form == "ottt" else _ndot_factor(post, state["post"][i], lam)
                trace = mu * a_prev.detach() + s
            new["post"].append(post)
            new["v"].append(v)
            new["trace"].append(trace)
            new["spikes"].append(out)
        o = self._layer_op(n, self.image(x)) if s is None else self._layer_op(n, s, trace)
        return o * self.out_log_scale.exp() + self.out_bias, new

    def binary_parameters(self) -> list[nn.Parameter]:
        return [op.weight for op in self.layers() if op.binary]

    def float_parameters(self) -> list[nn.Parameter]:
        binary = {id(p) for p in self.binary_parameters()}
        return [p for p in self.parameters() if id(p) not in binary]


def _ndot_factor(post: torch.Tensor, prev: torch.Tensor, lam: float) -> torch.Tensor:
    ratio = torch.where(prev != 0, post / torch.where(prev != 0, prev, torch.ones_like(prev)), torch.full_like(post, lam))
    return ratio.clamp(-lam, lam)


def _make_op(spec: LayerSpec, per_output_scale: bool, mode: str):
    if spec.conv is None:
        return BinaryLinear(spec.fan_in, spec.out, per_output_scale, mode)
    c = spec.conv
    return BinaryConv2d(c.in_shape[2], spec.out, c.kernel, c.stride, c.padding, per_output_scale, mode)


def _flatten_hwc(s: torch.Tensor) -> torch.Tensor:
    return s.permute(0, 2, 3, 1).flatten(1)
