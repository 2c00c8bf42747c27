"""Architecture strings: ``64-128-10`` (fully connected) or ``c16-c32-p2-fc10`` (VGG-style).

Tokens, joined by ``-``:

* ``N`` or ``fcN``  -- a dense layer of N neurons. A leading bare number is the input size (``64-128-10``)
  and must equal the dataset's;
* ``cN[kK][sS]``   -- a binary convolution with N output channels, a K x K kernel (default 3), stride S
  (default 1) and "same" zero padding K // 2;
* ``pP``           -- P x P max-pooling (OR of spikes) of the convolution before it.

The last layer is dense, with one neuron per class. Shapes use the HWC layout of
:mod:`flipspike.ir.geometry`; ``parse_arch`` computes every layer's input and output shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flipspike.ir.errors import ConfigError
from flipspike.ir.geometry import ConvSpec, Shape, neuron_shape, pooled, size

_CONV = re.compile(r"c(\d+)(?:k(\d+))?(?:s(\d+))?$")
_POOL = re.compile(r"p(\d+)$")
_DENSE = re.compile(r"(?:fc)?(\d+)$")


@dataclass(frozen=True)
class LayerSpec:
    in_shape: Shape            # (H, W, C) or (N,)
    out: int                   # output channels (conv) or neurons (dense)
    conv: ConvSpec | None = None
    pool: int = 1

    @property
    def fan_in(self) -> int:
        return self.conv.fan_in if self.conv else size(self.in_shape)

    @property
    def out_shape(self) -> Shape:
        return (*self.conv.out_hw(), self.out) if self.conv else (self.out,)

    @property
    def neuron_shape(self) -> Shape:
        """The neurons that exist: with pooling, the positions some pooling window covers."""
        return neuron_shape(self.conv, self.out, self.pool)

    @property
    def output_shape(self) -> Shape:
        return pooled(self.neuron_shape, self.pool)


def parse_arch(arch: str, input_shape: Shape) -> list[LayerSpec]:
    """Layers of ``arch`` for inputs of ``input_shape`` ((H, W, C), or (N,) for vectors)."""
    def fail(why: str):
        raise ConfigError(f"--arch {arch!r}: {why}. Examples: 64-128-10, c16-c32-p2-fc10, c8k5s2-fc10")

    tokens = [t.strip().lower() for t in arch.split("-")]
    if not tokens or not all(tokens):
        fail("empty layer token")
    if len(tokens) > 1 and tokens[0].isdigit() and not any(_CONV.match(t) for t in tokens):
        if int(tokens[0]) != size(input_shape):
            fail(f"the leading input size {tokens[0]} does not match the dataset's {size(input_shape)} inputs")
        tokens = tokens[1:]
    specs: list[LayerSpec] = []
    shape = tuple(input_shape)
    for tok in tokens:
        if m := _CONV.match(tok):
            if len(shape) != 3:
                fail(f"{tok}: a convolution needs an image input (H, W, C), not a flat vector of {shape[0]}")
            k = int(m[2] or 3)
            spec = ConvSpec(shape, k, int(m[3] or 1), k // 2)
            if int(m[1]) < 1 or min(spec.out_hw()) < 1 or spec.stride < 1:
                fail(f"{tok}: does not fit an input of {shape[0]}x{shape[1]}")
            specs.append(LayerSpec(shape, int(m[1]), spec))
        elif m := _POOL.match(tok):
            if not specs or specs[-1].conv is None or specs[-1].pool != 1:
                fail(f"{tok}: pooling must follow a convolution")
            last = specs[-1]
            p = int(m[1])
            if p < 2 or min(pooled(last.out_shape, p)[:2]) < 1:
                fail(f"{tok}: cannot pool a {last.out_shape[0]}x{last.out_shape[1]} map by {p}")
            specs[-1] = LayerSpec(last.in_shape, last.out, last.conv, p)
        elif m := _DENSE.match(tok):
            if int(m[1]) < 1:
                fail(f"{tok}: a layer needs at least one neuron")
            specs.append(LayerSpec((size(shape),), int(m[1])))
        else:
            fail(f"unknown layer token {tok!r}")
        shape = specs[-1].output_shape
    if not specs or specs[-1].conv is not None:
        fail("the last layer must be dense (one neuron per class)")
    return specs
