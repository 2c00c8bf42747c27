"""Fold a trained float BSNN into the integer network description.

Hidden layer: BN(alpha*I) = a*I + c with a = g*alpha/sqrt(var+eps), c = beta - g*mean/sqrt(var+eps).
Dividing the LIF equation by a > 0 gives v' = lambda*v' + I + c/a, threshold Vth/a. Where a < 0 the
neuron's weight bits are negated (I -> -I) and a -> -a. c/a and Vth/a are rounded to nearest with
``frac_bits`` fractional bits; thresholds are clamped to >= 1 LSB.

A shortcut (z = BN(..) + x) divides the same way: the input spike adds 1/a, stored as round(2**F / a).
Convolution weights go to [C_out][k*k*C_in] in (ky, kx, c) order (flipspike.ir.geometry).

Output layer: o[t] = s*I + b with one scale s > 0, so argmax sum_t o[t] = argmax sum_t (I + b/s):
the accumulator adds (I << F) + round(b/s * 2**F) every step.
"""

from __future__ import annotations

import numpy as np
import torch

from flipspike.ir import InputSpec, LayerDesc, NetDesc
from flipspike.ir.errors import DescriptionError
from flipspike.ir.formats import divide_by_scale, fixed_point

from .model import BSNN

MIN_SCALE = 1e-6


def weight_bits(op) -> torch.Tensor:
    """The weight matrix as bits [n_out, n_in] (1 = +1; sign(0) = +1); convolutions in (ky, kx, c) column order."""
    w = op.weight.detach()
    if w.ndim == 4:
        w = w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)
    return w >= 0


@torch.no_grad()
def export_model(model: BSNN, *, pixel_bits: int, pixel_max: int, frac_bits: int = 4, meta: dict | None = None) -> NetDesc:
    cfg = model.cfg
    names = [f"{'conv' if spec.conv else 'fc'}{i + 1}" for i, spec in enumerate(model.specs)]
    for name, op in zip(names, model.layers()):
        if not op.binary:
            raise DescriptionError(f"layer {name} has full-precision weights; the hardware needs binary weights "
                                   "in every layer: train without --fp-first-last (and not with --method fp)")
    if model.agmm is not None and any(float(m.mix) != 0 for m in model.agmm):
        raise DescriptionError("the AGMM modules are still active; they have no integer form. Train to the last "
                               "epoch (the trainer anneals AGMM to the identity) before exporting")
    layers = []
    for i, (op, bn, spec) in enumerate(zip(model.hidden, model.norms, model.specs)):
        inv_std = torch.rsqrt(bn.running_var.double() + bn.eps)
        alpha = op.alpha.double() if op.alpha is not None else torch.ones_like(inv_std)
        a = bn.weight.double() * alpha * inv_std
        c = bn.bias.double() - bn.weight.double() * bn.running_mean.double() * inv_std
        bits, bias, threshold, a = divide_by_scale(weight_bits(op).numpy(), a.numpy(), c.numpy(),
                                                   np.full(len(a), cfg.threshold), frac_bits, MIN_SCALE)
        layers.append(LayerDesc(
            name=names[i], kind="lif", weights=bits, bias=bias, threshold=threshold, frac_bits=frac_bits,
            leak_shift=cfg.leak_shift, reset=cfg.reset, conv=spec.conv, pool=spec.pool,
            shortcut=fixed_point(1 / a, frac_bits) if model.shortcut[i] else None))
    scale = model.out_log_scale.double().exp().clamp(min=MIN_SCALE)
    layers.append(LayerDesc(
        name=names[-1], kind="output", weights=weight_bits(model.out).to(torch.uint8).numpy(),
        bias=fixed_point((model.out_bias.double() / scale).numpy(), frac_bits), threshold=None, frac_bits=frac_bits))
    shape = tuple(cfg.input_shape)
    if cfg.encoding == "rate" and cfg.input_bits != pixel_bits:
        raise DescriptionError(f"the run rate-encodes {cfg.input_bits}-bit pixels, but its dataset now gives "
                               f"{pixel_bits}-bit ones; export with the data it was trained on")
    inp = InputSpec(int(np.prod(shape)), pixel_bits, pixel_max, shape if len(shape) == 3 else None, cfg.encoding,
                    cfg.encoder_seed)
    desc = NetDesc(timesteps=cfg.timesteps, input=inp, layers=layers, meta=dict(meta or {}))
    try:
        return desc.assign_widths().validate()
    except DescriptionError as exc:
        raise DescriptionError(f"{exc} (exported with frac_bits={frac_bits}; try a smaller --frac-bits)") from None
