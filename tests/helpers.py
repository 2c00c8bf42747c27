"""Test helpers: random tiny networks, and a plain-Python integer reference written from the spec.

``plain_run`` deliberately shares no code with flipspike's torch integer reference or the hardware:
it is the independent computation both are held against.
"""

from __future__ import annotations

import numpy as np

from flipspike.ir import InputSpec, LayerDesc, NetDesc
from flipspike.ir.formats import required_widths


def random_desc(rng: np.random.Generator, sizes: list[int], *, timesteps: int, input_bits: int = 4,
                frac_bits: int = 2, leak_shift: int | None = 1, reset: str = "hard",
                weight_density: float = 0.5) -> NetDesc:
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
    desc = NetDesc(timesteps, InputSpec(sizes[0], input_bits, input_max), layers)
    # widths from the ranges drawn from, not the values drawn: every draw of one shape fits one build
    for i, layer in enumerate(desc.layers):
        scale = max(1, int(np.sqrt(layer.n_in) * desc.layer_input(i)[0])) << frac_bits
        layer.widths = required_widths(n_in=layer.n_in, input_max=desc.layer_input(i)[0],
                                       input_bits=desc.layer_input(i)[1], frac_bits=frac_bits, bias_max_abs=scale,
                                       threshold_max=scale + 1, timesteps=timesteps, leak_shift=layer.leak_shift,
                                       accumulate=layer.kind == "output")
    return desc.validate()


def plain_run(desc: NetDesc, pixels) -> dict:
    """One sample through the integer semantics, in Python integers and loops."""
    T = desc.timesteps
    inputs = [[int(p) for p in pixels]] * T            # direct encoding: the same pixels every step
    in_spikes = []
    for index, layer in enumerate(desc.layers):
        w = [[1 if b else -1 for b in row] for row in layer.weights]
        F = layer.frac_bits
        in_spikes.append(sum(1 for p in inputs[0] if p) if index == 0 else sum(map(sum, inputs)))
        v = [0] * layer.n_out
        outputs = []
        for t in range(T):
            s_t = []
            for j in range(layer.n_out):
                current = sum(wj * x for wj, x in zip(w[j], inputs[t]))
                if layer.kind == "output":
                    v[j] = v[j] + current * 2 ** F + int(layer.bias[j])
                    continue
                if layer.leak_shift is not None:
                    v[j] = v[j] - v[j] // 2 ** layer.leak_shift          # floor division = arithmetic shift
                v[j] = v[j] + current * 2 ** F + int(layer.bias[j])
                fired = v[j] >= int(layer.threshold[j])
                if fired:
                    v[j] = 0 if layer.reset == "hard" else v[j] - int(layer.threshold[j])
                s_t.append(int(fired))
            outputs.append(s_t)
        inputs = outputs
    acc = v
    cls = max(range(len(acc)), key=lambda j: (acc[j], -j))    # first index among equal maxima
    return {"acc": acc, "cls": cls, "in_spikes": in_spikes}


def random_pixels(rng: np.random.Generator, desc: NetDesc, n: int) -> np.ndarray:
    x = rng.integers(0, desc.input.max_value + 1, (n, desc.input.size))
    x[rng.random(x.shape) < 0.3] = 0                    # some silent inputs
    return x.astype(np.int64)


def divisor_fold(rng: np.random.Generator, desc: NetDesc):
    from flipspike.ir import Fold
    from flipspike.ir.folding import divisors
    return [Fold(int(rng.choice(divisors(l.n_in))), int(rng.choice(divisors(l.n_out)))) for l in desc.layers]
