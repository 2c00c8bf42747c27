"""The integer network description (schema version 2): everything the hardware is built from.

File format: one UTF-8 JSON document. Weight bits are packed row-major ([n_out][n_in]), LSB first
within each byte (numpy ``packbits(bitorder="little")``), base64-encoded, with a SHA-256 of the packed
bytes. Bit 1 is weight +1, bit 0 is weight -1. Biases and thresholds are integer lists in fixed point
with ``frac_bits`` fractional bits. See docs/integer-semantics.md for what the numbers mean.

Version 2 adds convolutions (``conv``: the weight matrix is [C_out][k*k*C_in], see
:mod:`flipspike.ir.geometry`), spike max-pooling (``pool``) and membrane-level shortcuts
(``shortcut``). Version 1 files (dense layers only) still load.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import schema
from .encoding import DEFAULT_SEED, LFSR_WIDTH, check_seed
from .errors import DescriptionError
from .files import write_text_atomic
from .formats import LEAK_SHIFT_RANGE, MAX_WIDTH, LayerWidths, required_widths
from .geometry import ConvSpec, Shape, neuron_shape, pooled, size

FORMAT = "flipspike-net"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
KINDS = ("lif", "output")
RESETS = ("hard", "soft")
#: How a sample reaches the first layer: ``direct`` (one multi-bit image, the same at every step: the first
#: layer's current is computed once per sample), ``frames`` (one frame per time step, e.g. binned events)
#: or ``rate`` (one image, turned into a spike per pixel and step on chip: flipspike.ir.encoding). Fed
#: frames or rate spikes the first layer computes its current at every step, as a hidden layer does.
ENCODINGS = ("direct", "frames", "rate")
MAX_TIMESTEPS = 1024
#: The most weight bits one layer may declare (refused before they are unpacked).
MAX_WEIGHTS = 1 << 30


@dataclass
class InputSpec:
    size: int        # number of input elements (pixels)
    bits: int        # unsigned bits per element
    max_value: int   # largest value an element takes (<= 2**bits - 1); bounds the first layer's widths
    shape: Shape | None = None   # (H, W, C) for images (HWC order); None: a flat vector of ``size``
    encoding: str = "direct"     # ENCODINGS: one image per sample, or one frame of ``size`` per time step
    seed: int = DEFAULT_SEED     # rate encoding: the LFSR's start at every sample

    @property
    def dims(self) -> Shape:
        """Shape of one image (direct) or one frame (frames)."""
        return tuple(self.shape) if self.shape is not None else (self.size,)

    @property
    def frames(self) -> bool:
        """The host sends T frames a sample."""
        return self.encoding == "frames"

    @property
    def per_step(self) -> bool:
        """The first layer reads a new input at every step (frames, or rate spikes), not one image once."""
        return self.encoding != "direct"

    def step_input(self) -> tuple[int, int]:
        """(max value, bits) of what the first layer reads: the values sent, or rate-encoded spikes."""
        return (1, 1) if self.encoding == "rate" else (self.max_value, self.bits)

    def elements(self, timesteps: int) -> int:
        """Elements of one sample as the hardware takes it: ``size``, or T frames of ``size`` (frame-major)."""
        return self.size * (timesteps if self.frames else 1)

    def validate(self) -> None:
        if self.size < 1:
            raise DescriptionError(f"input.size must be >= 1, got {self.size}")
        if self.shape is not None and (len(self.shape) != 3 or size(self.shape) != self.size):
            raise DescriptionError(f"input.shape {list(self.shape)} must be [H, W, C] with H*W*C = input.size={self.size}")
        if not 1 <= self.bits <= 16:
            raise DescriptionError(f"input.bits must be 1..16, got {self.bits}")
        if not 1 <= self.max_value <= (1 << self.bits) - 1:
            raise DescriptionError(f"input.max_value={self.max_value} does not fit input.bits={self.bits}")
        if self.encoding not in ENCODINGS:
            raise DescriptionError(f"input.encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}")
        try:
            check_seed(self.seed)
        except ValueError as exc:
            raise DescriptionError(f"input.seed: {exc}") from None


@dataclass
class LayerDesc:
    name: str
    kind: str                      # "lif" (spiking hidden layer) or "output" (accumulates over T, never fires)
    weights: np.ndarray            # uint8 [n_out, n_in] of {0,1}; 1 is +1
    bias: np.ndarray               # int64 [n_out], frac_bits fractional bits
    threshold: np.ndarray | None   # int64 [n_out] >= 1 (lif only)
    frac_bits: int
    leak_shift: int | None = None  # lambda = 1 - 2**-k; None: no leak (IF). lif only
    reset: str = "hard"            # "hard" (v <- 0) or "soft" (v <- v - theta). lif only
    widths: LayerWidths | None = None
    conv: ConvSpec | None = None   # a convolution (weights [C_out][k*k*C_in]); None: dense
    pool: int = 1                  # max-pool (OR) of the output spikes over pool x pool windows (conv lif only)
    shortcut: np.ndarray | None = None  # int64 per output channel: v += shortcut * (input spike at the same place)

    @property
    def n_out(self) -> int:
        """Rows of the weight matrix: neurons (dense) or output channels (conv)."""
        return int(self.weights.shape[0])

    @property
    def n_in(self) -> int:
        """Columns of the weight matrix: the fan-in of one neuron."""
        return int(self.weights.shape[1])

    @property
    def in_shape(self) -> Shape:
        return self.conv.in_shape if self.conv else (self.n_in,)

    @property
    def out_shape(self) -> Shape:
        """Shape of the neuron array (before pooling; with pooling, the part its windows cover)."""
        return neuron_shape(self.conv, self.n_out, self.pool)

    @property
    def output_shape(self) -> Shape:
        """Shape of what the next layer reads (after pooling)."""
        return pooled(self.out_shape, self.pool)

    @property
    def neurons(self) -> int:
        return size(self.out_shape)

    def required_widths(self, input_max: int, input_bits: int, timesteps: int) -> LayerWidths:
        return required_widths(
            n_in=self.n_in, input_max=input_max, input_bits=input_bits, frac_bits=self.frac_bits,
            bias_max_abs=int(np.abs(self.bias).max(initial=0)),
            shortcut_max_abs=int(np.abs(self.shortcut).max(initial=0)) if self.shortcut is not None else 0,
            threshold_max=int(self.threshold.max(initial=1)) if self.threshold is not None else 1,
            timesteps=timesteps, leak_shift=self.leak_shift, accumulate=self.kind == "output")


@dataclass
class NetDesc:
    timesteps: int
    input: InputSpec
    layers: list[LayerDesc]
    meta: dict = field(default_factory=dict)

    # -- derived ---------------------------------------------------------------------------------
    def stores_current(self, index: int) -> bool:
        """Whether layer ``index`` computes its current once per sample and replays it for T steps: the
        first layer under direct encoding (its plan's ``first``). A frame-fed first layer does not."""
        return index == 0 and not self.input.per_step

    def layer_input(self, index: int) -> tuple[int, int]:
        """(max value, bits) of one input element of layer ``index``: pixels (or frames, or rate-encoded
        spikes) for the first, spikes after."""
        return self.input.step_input() if index == 0 else (1, 1)

    def assign_widths(self) -> "NetDesc":
        """Set every layer's widths to the narrowest that cannot overflow (used by exporters)."""
        for i, layer in enumerate(self.layers):
            layer.widths = layer.required_widths(*self.layer_input(i), self.timesteps)
        return self

    # -- validation --------------------------------------------------------------------------------
    def validate(self) -> "NetDesc":
        if not isinstance(self.timesteps, int) or isinstance(self.timesteps, bool) or \
                not 1 <= self.timesteps <= MAX_TIMESTEPS:
            raise DescriptionError(f"timesteps must be an integer in 1..{MAX_TIMESTEPS}, got {self.timesteps!r}")
        self.input.validate()
        if not self.layers:
            raise DescriptionError("the network has no layers")
        prev_shape = self.input.dims
        for i, layer in enumerate(self.layers):
            where = f"layer {i} ({layer.name})"
            last = i == len(self.layers) - 1
            if layer.kind not in KINDS:
                raise DescriptionError(f"{where}: unsupported layer kind {layer.kind!r}; supported: {', '.join(KINDS)}")
            if layer.kind != ("output" if last else "lif"):
                raise DescriptionError(f"{where}: kind {layer.kind!r} not allowed here; hidden layers are 'lif' "
                                       "and the last layer is 'output'")
            w = layer.weights
            if w.ndim != 2 or w.dtype != np.uint8 or (w > 1).any():
                raise DescriptionError(f"{where}: weights must be a 2-D array of bits {{0,1}}")
            if min(w.shape) < 1:
                raise DescriptionError(f"{where}: a layer needs at least one input and one neuron, got weights "
                                       f"of shape {w.shape}")
            self._validate_geometry(i, layer, prev_shape)
            if layer.neurons > schema.MAX_ELEMENTS:
                raise DescriptionError(f"{where}: {layer.neurons} neurons exceed the limit of {schema.MAX_ELEMENTS} "
                                       "(no FPGA flipspike builds for holds their membranes); shrink the layer")
            prev_shape = layer.output_shape
            if layer.bias.shape != (layer.n_out,):
                raise DescriptionError(f"{where}: bias has shape {layer.bias.shape}, expected ({layer.n_out},)")
            if not 0 <= layer.frac_bits <= 16:
                raise DescriptionError(f"{where}: frac_bits must be 0..16, got {layer.frac_bits}")
            if layer.kind == "lif":
                if layer.threshold is None or layer.threshold.shape != (layer.n_out,):
                    raise DescriptionError(f"{where}: a lif layer needs one threshold per neuron")
                if (layer.threshold < 1).any():
                    raise DescriptionError(f"{where}: thresholds must be >= 1 (in units of 2**-frac_bits)")
                if layer.leak_shift is not None and not LEAK_SHIFT_RANGE[0] <= layer.leak_shift <= LEAK_SHIFT_RANGE[1]:
                    raise DescriptionError(f"{where}: leak_shift must be None (no leak) or in {LEAK_SHIFT_RANGE}")
                if layer.reset not in RESETS:
                    raise DescriptionError(f"{where}: reset must be one of {RESETS}, got {layer.reset!r}")
            elif layer.threshold is not None:
                raise DescriptionError(f"{where}: an output layer has no thresholds")
            needed = layer.required_widths(*self.layer_input(i), self.timesteps)
            if layer.widths is None:
                raise DescriptionError(f"{where}: no register widths declared")
            # the one rule shared with the hardware: widths may be wider than the worst case needs (up to
            # MAX_WIDTH), except the input's, which is a format (pixel bits, or 1 for spikes), and a
            # shortcut's, which is 0 where the layer has none
            if layer.widths.input != needed.input:
                raise DescriptionError(f"{where}: widths.input is {layer.widths.input}; it must be {needed.input} "
                                       f"({'input.bits' if i == 0 else 'one bit per spike'}): it is the format of "
                                       "the layer's inputs, not a bound")
            if layer.shortcut is None and layer.widths.shortcut != 0:
                raise DescriptionError(f"{where}: widths.shortcut is {layer.widths.shortcut} but the layer has no "
                                       "shortcut; it must be 0")
            for name, need in needed.as_dict().items():
                have = getattr(layer.widths, name)
                if have < need:
                    raise DescriptionError(
                        f"{where}: declared {name} width {have} bits would overflow; the worst case needs {need} bits "
                        "(re-export the network, or lower frac_bits/timesteps)")
                if have > MAX_WIDTH:
                    raise DescriptionError(
                        f"{where}: {name} width {have} bits exceeds the limit of {MAX_WIDTH}; "
                        "lower frac_bits or timesteps, or reduce the fan-in")
        return self

    def _validate_geometry(self, i: int, layer: LayerDesc, prev: Shape) -> None:
        where = f"layer {i} ({layer.name})"
        if layer.conv is not None:
            layer.conv.validate(where)
            if layer.kind == "output":
                raise DescriptionError(f"{where}: the output layer must be dense (flatten, then a dense layer)")
            if tuple(layer.conv.in_shape) != tuple(prev):
                raise DescriptionError(f"{where}: conv expects input shape {list(layer.conv.in_shape)} (H, W, C) but the "
                                       f"previous stage gives {list(prev)}")
            if layer.n_in != layer.conv.fan_in:
                raise DescriptionError(f"{where}: conv weights have {layer.n_in} columns; a {layer.conv.kernel}x"
                                       f"{layer.conv.kernel} kernel over {layer.conv.in_shape[2]} channels needs "
                                       f"{layer.conv.fan_in}")
        elif layer.n_in != size(prev):
            raise DescriptionError(f"{where}: takes {layer.n_in} inputs but the previous stage gives {size(prev)}")
        if not isinstance(layer.pool, int) or layer.pool < 1:
            raise DescriptionError(f"{where}: pool must be an integer >= 1 (1: no pooling), got {layer.pool!r}")
        if layer.pool > 1:
            if layer.conv is None or layer.kind != "lif":
                raise DescriptionError(f"{where}: pooling needs a convolutional lif layer")
            if min(layer.output_shape[:2]) < 1:
                raise DescriptionError(f"{where}: {layer.pool}x{layer.pool} pooling of a "
                                       f"{layer.out_shape[0]}x{layer.out_shape[1]} map leaves nothing")
        if layer.shortcut is not None:
            if layer.kind != "lif" or i == 0:
                raise DescriptionError(f"{where}: a shortcut needs a lif layer fed by spikes (not the first layer)")
            if tuple(prev) != tuple(layer.out_shape):
                raise DescriptionError(f"{where}: a shortcut needs the input shape {list(prev)} to equal the "
                                       f"neuron array {list(layer.out_shape)}")
            if layer.shortcut.shape != (layer.n_out,):
                raise DescriptionError(f"{where}: shortcut has shape {layer.shortcut.shape}, expected ({layer.n_out},)")

    # -- file format ---------------------------------------------------------------------------------
    def to_json(self) -> dict:
        layers = []
        for layer in self.layers:
            packed = np.packbits(layer.weights, axis=None, bitorder="little").tobytes()
            entry = {
                "name": layer.name, "kind": layer.kind, "n_in": layer.n_in, "n_out": layer.n_out,
                "weights": {"packing": "row-major [n_out][n_in], LSB-first bytes, 1 = +1",
                            "base64": base64.b64encode(packed).decode("ascii"),
                            "sha256": hashlib.sha256(packed).hexdigest()},
                "bias": [int(b) for b in layer.bias],
                "frac_bits": layer.frac_bits,
                "widths": layer.widths.as_dict() if layer.widths else None,
            }
            if layer.kind == "lif":
                entry.update(threshold=[int(t) for t in layer.threshold], leak_shift=layer.leak_shift,
                             reset=layer.reset)
            if layer.conv is not None:
                entry["conv"] = layer.conv.to_json()
            if layer.pool != 1:
                entry["pool"] = layer.pool
            if layer.shortcut is not None:
                entry["shortcut"] = [int(g) for g in layer.shortcut]
            layers.append(entry)
        inp = {"size": self.input.size, "bits": self.input.bits, "max_value": self.input.max_value}
        if self.input.shape is not None:
            inp["shape"] = list(self.input.shape)
        if self.input.per_step:
            inp["encoding"] = self.input.encoding
        if self.input.encoding == "rate":
            inp["seed"] = self.input.seed
        return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "timesteps": self.timesteps,
                "input": inp, "layers": layers, "meta": self.meta}

    @classmethod
    def from_json(cls, doc: dict) -> "NetDesc":
        """A description from its parsed JSON, every value checked for type and range first (see
        :mod:`flipspike.ir.schema`), then validated as a network."""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise DescriptionError(f"not a flipspike network description (missing \"format\": \"{FORMAT}\")")
        version = doc.get("schema_version")
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise DescriptionError(
                f"schema_version {version!r} is not supported by this flipspike (it reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}); re-export the network with this version of flipspike, "
                "or upgrade flipspike")
        timesteps = schema.integer(schema.key(doc, "timesteps", "$"), "$.timesteps", 1, MAX_TIMESTEPS)
        raw = schema.obj(schema.key(doc, "input", "$"), "$.input")
        shape = raw.get("shape")
        inp = InputSpec(schema.integer(schema.key(raw, "size", "$.input"), "$.input.size", 1, schema.MAX_ELEMENTS),
                        schema.integer(schema.key(raw, "bits", "$.input"), "$.input.bits", 1, 16),
                        schema.integer(schema.key(raw, "max_value", "$.input"), "$.input.max_value", 1, (1 << 16) - 1),
                        None if shape is None else schema.shape3(shape, "$.input.shape"),
                        schema.choice(raw.get("encoding", "direct"), "$.input.encoding", ENCODINGS),
                        schema.integer(raw.get("seed", DEFAULT_SEED), "$.input.seed", 1, (1 << LFSR_WIDTH) - 1))
        layers = schema.key(doc, "layers", "$")
        schema.require(isinstance(layers, list) and len(layers) > 0, "$.layers", layers, "a non-empty list of layers")
        meta = doc.get("meta", {})
        schema.require(isinstance(meta, dict), "$.meta", meta, "an object")
        net = cls(timesteps=timesteps, input=inp,
                  layers=[_layer_from_json(i, entry, version) for i, entry in enumerate(layers)], meta=dict(meta))
        return net.validate()

    def save(self, path: str | os.PathLike) -> Path:
        """Validate, then write atomically (temporary file + rename): a crash never leaves half a file."""
        self.validate()
        return write_text_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NetDesc":
        path = Path(path)
        if not path.is_file():
            raise DescriptionError(f"{path}: no such description file; create one with `flipspike export RUN --out {path}`")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DescriptionError(f"{path}: not valid JSON ({exc}); the file is corrupt or truncated, "
                                   "re-export it with `flipspike export`") from None
        try:
            return cls.from_json(doc)
        except DescriptionError as exc:
            raise DescriptionError(f"{path}: {exc}") from None

    def copy(self) -> "NetDesc":
        return NetDesc.from_json(json.loads(json.dumps(self.to_json())))


def _layer_from_json(index: int, entry, version: int) -> LayerDesc:
    path = f"$.layers[{index}]"
    entry = schema.obj(entry, path)
    get = lambda name: schema.key(entry, name, path)
    kind = schema.choice(get("kind"), f"{path}.kind", KINDS)
    n_in = schema.integer(get("n_in"), f"{path}.n_in", 1, schema.MAX_ELEMENTS)
    n_out = schema.integer(get("n_out"), f"{path}.n_out", 1, schema.MAX_ELEMENTS)
    if n_in * n_out > MAX_WEIGHTS:
        raise DescriptionError(f"{path}: {n_out} x {n_in} = {n_in * n_out} weights exceed the limit of {MAX_WEIGHTS} "
                               "(no FPGA flipspike builds for holds them); shrink the layer")
    extra = {"lif": (), "output": ("threshold", "leak_shift", "reset", "pool", "shortcut", "conv")}[kind]
    for name in extra:
        if entry.get(name) is not None:
            raise DescriptionError(f"{path}.{name}: an output layer has no {name}; remove it (the output layer "
                                   "accumulates over T, never fires, and is dense)")
    weights = schema.obj(get("weights"), f"{path}.weights")
    try:
        blob = base64.b64decode(schema.string(schema.key(weights, "base64", f"{path}.weights"), f"{path}.weights.base64"),
                                validate=True)
    except ValueError:
        raise DescriptionError(f"{path}.weights.base64 is not valid base64; the file is corrupt") from None
    if hashlib.sha256(blob).hexdigest() != schema.key(weights, "sha256", f"{path}.weights"):
        raise DescriptionError(f"layer {index}: weight bits do not match their sha256; the file is corrupt")
    bits = np.unpackbits(np.frombuffer(blob, dtype=np.uint8), bitorder="little")
    if bits.size < n_in * n_out:
        raise DescriptionError(f"layer {index}: {bits.size} weight bits stored, {n_in * n_out} needed")
    threshold, shortcut, conv = entry.get("threshold"), entry.get("shortcut"), entry.get("conv")
    if conv is not None and version < 2:
        raise DescriptionError(f"{path}.conv: schema version 1 holds dense layers only; a convolution needs "
                               "\"schema_version\": 2")
    widths = schema.obj(get("widths"), f"{path}.widths")
    names = [f.name for f in dataclasses.fields(LayerWidths)]
    unknown = set(widths) - set(names)
    if unknown:
        raise DescriptionError(f"{path}.widths has unknown field(s) {', '.join(sorted(unknown))}; the fields are "
                               f"{', '.join(names)}")
    return LayerDesc(
        name=schema.string(get("name"), f"{path}.name"), kind=kind,
        weights=bits[: n_in * n_out].reshape(n_out, n_in).astype(np.uint8),
        bias=np.asarray(schema.integers(get("bias"), f"{path}.bias", n_out), dtype=np.int64),
        threshold=None if threshold is None else np.asarray(
            schema.integers(threshold, f"{path}.threshold", n_out, 1), dtype=np.int64),
        frac_bits=schema.integer(get("frac_bits"), f"{path}.frac_bits", 0, 16),
        leak_shift=schema.optional_integer(entry.get("leak_shift"), f"{path}.leak_shift", *LEAK_SHIFT_RANGE),
        reset=schema.choice(entry.get("reset", "hard"), f"{path}.reset", RESETS),
        widths=LayerWidths(**{name: schema.integer(widths[name] if name in widths else (0 if name == "shortcut" else
                                                   schema.key(widths, name, f"{path}.widths")),
                                                   f"{path}.widths.{name}", 0, MAX_WIDTH) for name in names}),
        conv=None if conv is None else ConvSpec.from_json(schema.obj(conv, f"{path}.conv"), f"{path}.conv"),
        pool=schema.integer(entry.get("pool", 1), f"{path}.pool", 1, 64),
        shortcut=None if shortcut is None else np.asarray(
            schema.integers(shortcut, f"{path}.shortcut", n_out), dtype=np.int64))
