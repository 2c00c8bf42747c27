"""Shapes of convolutional layers, defined once for sw (float and integer models) and hw.

Activations are laid out **HWC** (channel innermost, as FINN does): element ``(y, x, c)`` of an
``H x W x C`` tensor has flat index ``(y * W + x) * C + c``. A dense layer after a convolution reads
the flattened HWC tensor. A convolution's weight matrix is ``[C_out][k * k * C_in]`` with columns in
``(ky, kx, c)`` order, so a sliding window emits exactly one row's worth of inputs, channels innermost.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from . import schema
from .errors import DescriptionError

Shape = tuple[int, ...]


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output positions along one axis (floor, as torch)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ConvSpec:
    in_shape: tuple[int, int, int]   # H, W, C_in of the layer's input
    kernel: int                      # k x k window
    stride: int = 1
    padding: int = 0                 # zeros on every side; a zero input adds nothing to the current

    def validate(self, where: str) -> None:
        if len(self.in_shape) != 3 or min(self.in_shape) < 1:
            raise DescriptionError(f"{where}: conv in_shape must be [H, W, C] of positive sizes, got {list(self.in_shape)}")
        if self.kernel < 1 or self.stride < 1 or not 0 <= self.padding < self.kernel:
            raise DescriptionError(f"{where}: conv needs kernel >= 1, stride >= 1 and 0 <= padding < kernel, got "
                                   f"kernel={self.kernel} stride={self.stride} padding={self.padding}")
        h, w, _ = self.in_shape
        if min(conv_out(h, self.kernel, self.stride, self.padding),
               conv_out(w, self.kernel, self.stride, self.padding)) < 1:
            raise DescriptionError(f"{where}: a {self.kernel}x{self.kernel} kernel does not fit an input of {h}x{w} "
                                   f"with padding {self.padding}")

    @property
    def fan_in(self) -> int:
        return self.kernel * self.kernel * self.in_shape[2]

    def out_hw(self) -> tuple[int, int]:
        h, w, _ = self.in_shape
        return (conv_out(h, self.kernel, self.stride, self.padding), conv_out(w, self.kernel, self.stride, self.padding))

    def to_json(self) -> dict:
        return {"in_shape": list(self.in_shape), "kernel": self.kernel, "stride": self.stride, "padding": self.padding}

    @classmethod
    def from_json(cls, doc: dict, path: str = "conv") -> "ConvSpec":
        return cls(schema.shape3(schema.key(doc, "in_shape", path), f"{path}.in_shape"),
                   schema.integer(schema.key(doc, "kernel", path), f"{path}.kernel", 1, 64),
                   schema.integer(doc.get("stride", 1), f"{path}.stride", 1, 64),
                   schema.integer(doc.get("padding", 0), f"{path}.padding", 0, 63))


def covered(hw: tuple[int, int], pool: int) -> tuple[int, int]:
    """The part of an output map that some pooling window covers (from the top-left corner): the
    neurons a pooled layer really has. Rows and columns outside it would feed nothing."""
    return (hw[0] // pool * pool, hw[1] // pool * pool)


def neuron_shape(conv: ConvSpec | None, channels: int, pool: int) -> Shape:
    """The neuron array of a layer: (channels,) dense, or the covered output map (H, W, channels)."""
    return (*covered(conv.out_hw(), pool), channels) if conv is not None else (channels,)


def pooled(shape: Shape, pool: int) -> Shape:
    """Shape after a non-overlapping ``pool x pool`` max-pool (stride = pool, remainder rows/columns dropped)."""
    if pool == 1:
        return shape
    h, w, c = shape
    return (h // pool, w // pool, c)


def size(shape: Shape) -> int:
    return prod(shape)


def shape_text(in_shape, out_shape) -> str:
    """``64->128`` for a dense layer, ``8x8x1->8x8x16`` for a convolution (HWC, after pooling)."""
    return f"{'x'.join(map(str, in_shape))}->{'x'.join(map(str, out_shape))}"
