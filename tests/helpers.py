"""Test helpers: random tiny networks, and a plain-Python integer reference written from the spec.

``plain_run`` deliberately shares no code with flipspike's torch integer reference or the hardware:
it is the independent computation both are held against.
"""

from __future__ import annotations

import numpy as np

from flipspike.ir import ConvSpec, InputSpec, LayerDesc, NetDesc
from flipspike.ir.formats import required_widths


def random_desc(rng: np.random.Generator, sizes: list[int], *, timesteps: int, input_bits: int = 4,
                frac_bits: int = 2, leak_shift: int | None = 1, reset: str = "hard",
                weight_density: float = 0.5, encoding: str = "direct") -> NetDesc:
    """A random network whose thresholds sit near the typical membrane, so neurons really fire."""
    input_max = (1 << input_bits) - 1
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        xmax = input_max if i == 0 else 1
        scale = max(1, int(np.sqrt(n_in) * xmax)) << frac_bits
        layers.append(LayerDesc(
            name=f"l{i}", kind="output" if last else "lif",
            weights=(rng.random((n_out, n_in)) < weight_density).astype(np.uint8),
            bias=rng.integers(-scale, scale + 1, n_out).astype(np.int64),
            threshold=None if last else rng.integers(1, scale + 2, n_out).astype(np.int64),
            frac_bits=frac_bits, leak_shift=None if last else leak_shift, reset=reset))
    desc = NetDesc(timesteps, InputSpec(sizes[0], input_bits, input_max, encoding=encoding), layers)
    # widths from the ranges drawn from, not the values drawn: every draw of one shape fits one build
    for i, layer in enumerate(desc.layers):
        scale = max(1, int(np.sqrt(layer.n_in) * (input_max if i == 0 else 1))) << frac_bits   # (as drawn)
        layer.widths = required_widths(n_in=layer.n_in, input_max=desc.layer_input(i)[0],
                                       input_bits=desc.layer_input(i)[1], frac_bits=frac_bits, bias_max_abs=scale,
                                       threshold_max=scale + 1, timesteps=timesteps, leak_shift=layer.leak_shift,
                                       accumulate=layer.kind == "output")
    return desc.validate()


def randomize_bn(model, *, mean: float, var: float, fire: bool = False) -> None:
    """Random BatchNorm statistics with about half the scales negative (the hard case for folding);
    ``fire``: the first two channels get a low mean, so they certainly fire."""
    import torch
    with torch.no_grad():
        for bn in model.norms:
            bn.weight.copy_(torch.randn_like(bn.weight))
            bn.bias.copy_(torch.randn_like(bn.bias) * 0.5)
            bn.running_mean.copy_(torch.randn_like(bn.running_mean) * mean)
            bn.running_var.copy_(torch.rand_like(bn.running_var) * var + 1)
            if fire:
                bn.running_mean[:2] = -3


def random_conv_desc(rng: np.random.Generator, input_shape: tuple[int, int, int], convs: list[dict], classes: int, *,
                     timesteps: int, input_bits: int = 3, frac_bits: int = 2, leak_shift: int | None = 1,
                     reset: str = "hard", encoding: str = "direct") -> NetDesc:
    """Random conv layers (each a dict: channels, kernel, stride, padding, pool, shortcut) then a dense output."""
    input_max = (1 << input_bits) - 1
    layers, shape = [], tuple(input_shape)
    for i, c in enumerate(convs):
        spec = ConvSpec(shape, c["kernel"], c.get("stride", 1), c.get("padding", 0))
        xmax = input_max if i == 0 else 1
        scale = max(1, int(np.sqrt(spec.fan_in) * xmax)) << frac_bits
        n = c["channels"]
        layer = LayerDesc(
            name=f"c{i}", kind="lif", weights=rng.integers(0, 2, (n, spec.fan_in)).astype(np.uint8),
            bias=rng.integers(-scale, scale + 1, n).astype(np.int64),
            threshold=rng.integers(1, scale + 2, n).astype(np.int64), frac_bits=frac_bits, leak_shift=leak_shift,
            reset=reset, conv=spec, pool=c.get("pool", 1),
            shortcut=rng.integers(-scale, scale + 1, n).astype(np.int64) if c.get("shortcut") else None)
        layers.append(layer)
        shape = layer.output_shape
    n_in = int(np.prod(shape))
    layers.append(LayerDesc(name="out", kind="output", weights=rng.integers(0, 2, (classes, n_in)).astype(np.uint8),
                            bias=rng.integers(-8, 9, classes).astype(np.int64), threshold=None, frac_bits=frac_bits))
    desc = NetDesc(timesteps, InputSpec(int(np.prod(input_shape)), input_bits, input_max, tuple(input_shape), encoding),
                   layers)
    return desc.assign_widths().validate()


def _plain_current(layer, x: list[int], j: int) -> tuple[int, int]:
    """(current, active inputs in the window) of neuron j (flat HWC index), by loops over the window."""
    n_ch = layer.n_out
    co = j % n_ch
    row = layer.weights[co]
    if layer.conv is None:
        return (sum((1 if b else -1) * xi for b, xi in zip(row, x)), sum(1 for xi in x if xi))
    (h, w, c), k, st, pad = layer.conv.in_shape, layer.conv.kernel, layer.conv.stride, layer.conv.padding
    wo = layer.out_shape[1]
    oy, ox = divmod(j // n_ch, wo)
    current = active = 0
    for ky in range(k):
        for kx in range(k):
            y, xx = oy * st + ky - pad, ox * st + kx - pad
            if not (0 <= y < h and 0 <= xx < w):
                continue                                          # zero padding
            for ci in range(c):
                xi = x[(y * w + xx) * c + ci]
                current += (1 if row[(ky * k + kx) * c + ci] else -1) * xi
                active += xi != 0
    return current, active


def _plain_pool(layer, s: list[int]) -> list[int]:
    p = layer.pool
    if p == 1:
        return s
    h, w, c = layer.out_shape
    return [max(s[((py * p + dy) * w + px * p + dx) * c + ci] for dy in range(p) for dx in range(p))
            for py in range(h // p) for px in range(w // p) for ci in range(c)]


def plain_rate_thresholds(seed: int, count: int, bits: int) -> list[int]:
    """The rate encoder's thresholds from its spec (docs/integer-semantics.md): a 32-bit Fibonacci LFSR
    from ``seed``, each shift giving the state's lowest bit and taking bits 0, 10, 30 and 31 XORed into
    the top; ``bits`` consecutive output bits per threshold, the first the least significant."""
    state, out = seed, []
    for _ in range(count):
        value = 0
        for j in range(bits):
            value |= (state & 1) << j
            top = ((state >> 0) ^ (state >> 10) ^ (state >> 30) ^ (state >> 31)) & 1
            state = (state >> 1) | (top << 31)
        out.append(value)
    return out


def plain_run(desc: NetDesc, pixels) -> dict:
    """One sample through the integer semantics, in Python integers and loops (conv, pool and shortcut too)."""
    T, n = desc.timesteps, desc.input.size
    pixels = [int(p) for p in pixels]
    if desc.input.encoding == "frames":                # frame t: elements t*n .. t*n + n - 1
        inputs = [pixels[t * n:(t + 1) * n] for t in range(T)]
    elif desc.input.encoding == "rate":                # pixel i spikes at step t where x > r(t, i)
        r = plain_rate_thresholds(desc.input.seed, T * n, desc.input.bits)
        inputs = [[int(pixels[i] > r[t * n + i]) for i in range(n)] for t in range(T)]
    else:                                              # direct encoding: the same pixels every step
        inputs = [pixels] * T
    in_spikes, sops = [], []
    for index, layer in enumerate(desc.layers):
        F = layer.frac_bits
        neurons = layer.neurons
        once = index == 0 and desc.input.encoding == "direct"     # pixels counted once per sample
        in_spikes.append(sum(1 for p in inputs[0] if p) if once else sum(1 for frame in inputs for p in frame if p))
        sops.append(0)
        v = [0] * neurons
        outputs = []
        for t in range(T):
            s_t = []
            for j in range(neurons):
                co = j % layer.n_out
                current, active = _plain_current(layer, inputs[t], j)
                if not once or t == 0:
                    sops[-1] += active
                drive = current * 2 ** F + int(layer.bias[co])
                if layer.shortcut is not None:
                    drive += int(layer.shortcut[co]) * inputs[t][j]
                if layer.kind == "output":
                    v[j] = v[j] + drive
                    continue
                if layer.leak_shift is not None:
                    v[j] = v[j] - v[j] // 2 ** layer.leak_shift          # floor division = arithmetic shift
                v[j] = v[j] + drive
                fired = v[j] >= int(layer.threshold[co])
                if fired:
                    v[j] = 0 if layer.reset == "hard" else v[j] - int(layer.threshold[co])
                s_t.append(int(fired))
            outputs.append(_plain_pool(layer, s_t))
        inputs = outputs
    acc = v
    cls = max(range(len(acc)), key=lambda j: (acc[j], -j))    # first index among equal maxima
    return {"acc": acc, "cls": cls, "in_spikes": in_spikes, "sops": sops}


def random_pixels(rng: np.random.Generator, desc: NetDesc, n: int) -> np.ndarray:
    x = rng.integers(0, desc.input.max_value + 1, (n, desc.input.elements(desc.timesteps)))
    x[rng.random(x.shape) < 0.3] = 0                    # some silent inputs
    return x.astype(np.int64)


def divisor_fold(rng: np.random.Generator, desc: NetDesc):
    from flipspike.ir import Fold
    from flipspike.ir.folding import divisors
    return [Fold(int(rng.choice(divisors(l.n_in))), int(rng.choice(divisors(l.n_out)))) for l in desc.layers]


def assert_reference_is_plain(desc: NetDesc, x, ref) -> None:
    """``ref`` (the torch reference on ``x``) equals :func:`plain_run` sample by sample: accumulations, and
    each layer's input and SOP counts."""
    for n in range(len(x)):
        want = plain_run(desc, x[n])
        assert ref.acc[n].tolist() == want["acc"]
        assert [int(t.in_spikes[n]) for t in ref.layers] == want["in_spikes"]
        assert [int(t.sops[n]) for t in ref.layers] == want["sops"]
