"""Fold a trained float BSNN into the integer network description.

Hidden layer: BN(alpha*I) = a*I + c with a = g*alpha/sqrt(var+eps), c = beta - g*mean/sqrt(var+eps).
Dividing the LIF equation by a > 0 gives v' = lambda*v' + I + c/a, threshold Vth/a. Where a < 0 the
neuron's weight bits are negated (I -> -I) and a -> -a. c/a and Vth/a are rounded to nearest with
``frac_bits`` fractional bits; thresholds are clamped to >= 1 LSB.

Output layer: o[t] = s*I + b with one scale s > 0, so argmax sum_t o[t] = argmax sum_t (I + b/s):
the accumulator adds (I << F) + round(b/s * 2**F) every step.
"""

from __future__ import annotations

import numpy as np
import torch

from flipspike.ir import InputSpec, LayerDesc, NetDesc
from flipspike.ir.errors import DescriptionError

from .model import BSNN

MIN_SCALE = 1e-6


def _fixed(x: torch.Tensor, frac_bits: int) -> np.ndarray:
    return torch.round(x.double() * (1 << frac_bits)).to(torch.int64).numpy()


@torch.no_grad()
def export_model(model: BSNN, *, pixel_bits: int, pixel_max: int, frac_bits: int = 4, meta: dict | None = None) -> NetDesc:
    cfg = model.cfg
    for name, fc in [*((f"fc{i + 1}", fc) for i, fc in enumerate(model.hidden)), (f"fc{len(model.hidden) + 1}", model.out)]:
        if not fc.binary:
            raise DescriptionError(f"layer {name} has full-precision weights; the hardware needs binary weights "
                                   "in every layer: train without --fp-first-last (and not with --method fp)")
    layers = []
    for i, (fc, bn) in enumerate(zip(model.hidden, model.norms)):
        bits = (fc.weight >= 0)                                          # sign(0) = +1
        inv_std = torch.rsqrt(bn.running_var.double() + bn.eps)
        alpha = fc.alpha.double() if fc.alpha is not None else torch.ones_like(inv_std)
        a = bn.weight.double() * alpha * inv_std
        c = bn.bias.double() - bn.weight.double() * bn.running_mean.double() * inv_std
        negative = a < 0
        bits = bits ^ negative.unsqueeze(1)                              # negate the neuron's weights
        a = a.abs().clamp(min=MIN_SCALE)
        threshold = np.maximum(_fixed(cfg.threshold / a, frac_bits), 1)
        layers.append(LayerDesc(
            name=f"fc{i + 1}", kind="lif", weights=bits.to(torch.uint8).numpy(), bias=_fixed(c / a, frac_bits),
            threshold=threshold, frac_bits=frac_bits, leak_shift=cfg.leak_shift, reset=cfg.reset))
    scale = model.out_log_scale.double().exp().clamp(min=MIN_SCALE)
    layers.append(LayerDesc(
        name=f"fc{len(layers) + 1}", kind="output", weights=(model.out.weight >= 0).to(torch.uint8).numpy(),
        bias=_fixed(model.out_bias.double() / scale, frac_bits), threshold=None, frac_bits=frac_bits))
    desc = NetDesc(timesteps=cfg.timesteps, input=InputSpec(cfg.sizes[0], pixel_bits, pixel_max), layers=layers,
                   meta=dict(meta or {}))
    try:
        return desc.assign_widths().validate()
    except DescriptionError as exc:
        raise DescriptionError(f"{exc} (exported with frac_bits={frac_bits}; try a smaller --frac-bits)") from None
