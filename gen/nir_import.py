"""NIR in: a chain-shaped graph, read by the conventions of the library that wrote it
(``flipspike.gen.nir_conventions``), as the integer network description. See ``nir_io`` for the mapping."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flipspike.ir import ConvSpec, InputSpec, LayerDesc, NetDesc
from flipspike.ir.errors import DescriptionError
from flipspike.ir.geometry import neuron_shape, pooled
from flipspike.ir.formats import LEAK_SHIFT_RANGE, divide_by_scale, fixed_point, leak_is_exact

from .nir_conventions import convention_for
from .nir_common import _chw_columns, _hwc, _nir


@dataclass
class ImportReport:
    approximations: list[str] = field(default_factory=list)
    convention: str = ""            # how the neurons were read (nir_conventions.Convention.describe)
    rules: object = None            # that Convention itself
    rewrites: list[str] = field(default_factory=list)   # exact, but not node for layer: what the hardware runs

    def note(self, text: str) -> None:
        self.approximations.append(text)

    def rewrite(self, text: str) -> None:
        self.rewrites.append(text)


def _chain(graph) -> list[str]:
    """The nodes from the input to the output, in order; refuses branches."""
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    starts = [n for n, node in graph.nodes.items() if type(node).__name__ == "Input"]
    if len(starts) != 1:
        raise DescriptionError(f"the NIR graph needs exactly one Input node, found {len(starts)}")
    order, node = [], starts[0]
    while True:
        order.append(node)
        nxt = succ.get(node, [])
        if not nxt:
            return order
        if len(nxt) > 1:
            raise DescriptionError(f"node {node!r} feeds {len(nxt)} nodes; flipspike imports chains only "
                                   "(no branches or shortcuts)")
        node = nxt[0]


def _binarize(name: str, w: np.ndarray, report: ImportReport) -> tuple[np.ndarray, np.ndarray]:
    """Rows of +-s_j -> (bits [rows, cols], s_j); other values are binarized by sign, s_j = mean |w|."""
    s = np.abs(w).mean(axis=1)
    if (s <= 0).any():
        raise DescriptionError(f"node {name!r}: a row of weights is all zero; it cannot be binary")
    off = ~np.isclose(np.abs(w), s[:, None], rtol=1e-6, atol=0)
    if off.any():
        report.note(f"{name}: {int(off.sum())} of {w.size} weights are not +-s per row; binarized by sign "
                    "with s = mean |w| of the row")
    return (w >= 0).astype(np.uint8), s


def _per_channel(name: str, values: np.ndarray, channels: int, what: str, report: ImportReport) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 1:
        return np.full(channels, v[0])
    if v.size % channels:
        raise DescriptionError(f"node {name!r}: {what} has {v.size} values for {channels} channels")
    per = v.reshape(channels, -1)                      # a conv layer's neuron arrays are C, H, W
    if not np.allclose(per, per[:, :1]):
        report.note(f"{name}: {what} varies within a channel; using each channel's mean")
    return per.mean(axis=1)


def _input_dims(nodes) -> tuple[int, ...]:
    """The input's (C, H, W) or (N,), without the batch and time dimensions some libraries write into the
    Input node: the trailing dimensions that the first Affine/Linear or Conv2d consumes."""
    dims = [int(d) for d in np.asarray(next(iter(nodes[0][1].input_type.values()))).reshape(-1)]
    first = next((node for _, node in nodes[1:] if type(node).__name__ in ("Affine", "Linear", "Conv2d")), None)
    if first is None:
        return tuple(dims)
    weight = np.asarray(first.weight)
    if type(first).__name__ == "Conv2d":
        if len(dims) >= 3 and dims[-3] == weight.shape[1]:
            return tuple(dims[-3:])
        raise DescriptionError(f"the Input node's shape {dims} does not end in the first convolution's "
                               f"{weight.shape[1]} input channels, height and width")
    for start in range(len(dims)):                   # the longest tail that holds the fan-in
        tail = dims[start:]
        if int(np.prod(tail)) == weight.shape[1]:
            while len(tail) > 3 and tail[0] == 1:    # (1, C, H, W): a batch of one
                tail = tail[1:]
            return tuple(tail) if len(tail) in (1, 3) else (int(np.prod(tail)),)
    raise DescriptionError(f"the Input node's shape {dims} does not hold the first layer's "
                           f"{weight.shape[1]} inputs")


def _neuron_step(name: str, neuron, kind: str, c: int, convention, report: ImportReport):
    """(leak shift or None, input gain [c], offset [c]) of a LIF/IF node, by the convention."""
    r = _per_channel(name, neuron.r, c, "r", report)
    if kind == "IF":
        _, gain, offset = convention.step(None, r, np.zeros(c))
        return None, gain, offset
    tau = _per_channel(name, neuron.tau, c, "tau", report)
    leak_in = _per_channel(name, neuron.v_leak, c, "v_leak", report)
    if not np.allclose(tau, tau[0], rtol=1e-6):
        raise DescriptionError(f"node {name!r}: tau must be one value for the layer (flipspike has one leak per "
                               f"layer); it has {np.unique(tau).size} different values")
    try:
        lam, gain, offset = convention.step(float(tau[0]), r, leak_in)
    except DescriptionError as exc:
        raise DescriptionError(f"node {name!r}: {exc}") from None
    return _leak_shift(name, lam, f"tau = {tau[0]:g}, {convention.describe()}", report), gain, offset


def _leak_shift(name: str, lam: float, how: str, report: ImportReport) -> int:
    """k with lambda = 1 - 2**-k; a lambda that is not of that form is rounded, and said."""
    if not 0 < lam < 1:
        raise DescriptionError(f"node {name!r}: a leak lambda = {lam:g} ({how}) is not in (0, 1)")
    exact = -math.log2(1 - lam)
    k = min(max(int(round(exact)), LEAK_SHIFT_RANGE[0]), LEAK_SHIFT_RANGE[1])
    if abs(exact - k) > 0.5:
        raise DescriptionError(f"node {name!r}: leak lambda = {lam:.6g} ({how}) is beyond flipspike's "
                               f"1 - 2**-k for k in {LEAK_SHIFT_RANGE}")
    if abs(2.0 ** -k - (1 - lam)) > 1e-6 * (1 - lam):
        report.note(f"{name}: leak lambda = {lam:.6g} ({how}) is not 1 - 2**-k; using 1 - 2**-{k} = "
                    f"{1 - 2.0 ** -k:g}")
    return k


#: ``frac_bits="auto"`` searches up to this many fractional bits for a grid that holds the graph exactly.
F_AUTO_MAX = 16


def _layer_frac_bits(frac_bits, neuron, values, k: int | None, T: int) -> int:
    """A layer's F: the one given; else (``"auto"``) the F flipspike wrote into the node, or the fewest bits
    that hold ``values`` (biases, and thresholds a soft reset subtracts) exactly, plus k (T - 1) so that
    the leak never rounds (``leak_is_exact``); at most F_AUTO_MAX. The grid is found through float32 noise
    (a relative 1e-6); whether the values then sit on it exactly is for the caller to say."""
    if frac_bits != "auto":
        return int(frac_bits)
    written = (getattr(neuron, "metadata", None) or {}).get("flipspike_frac_bits")
    if written is not None:
        return int(written)
    flat = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in values])
    grid = next((F for F in range(F_AUTO_MAX + 1)
                 if np.allclose(flat * (1 << F), np.round(flat * (1 << F)), rtol=1e-6, atol=1e-6)), F_AUTO_MAX)
    return min(grid + (0 if k is None else k * (T - 1)), F_AUTO_MAX)


def _threshold(name: str, units: np.ndarray, strict: bool, report: ImportReport) -> np.ndarray:
    """Integer thresholds from v_threshold in units of 2**-F. The membrane lives on that grid, so
    ``v > u`` is ``n >= floor(u) + 1`` and ``v >= u`` is ``n >= ceil(u)``: exact, never rounded."""
    near = np.round(units)
    on_grid = np.abs(units - near) <= 1e-6 * np.maximum(1, np.abs(units))     # float32 parameters
    grid = np.where(on_grid, near, units)
    theta = (np.floor(grid) + 1 if strict else np.ceil(grid)).astype(np.int64)
    if (theta < 1).any():
        report.note(f"{name}: {int((theta < 1).sum())} thresholds at or below 0 raised to 1 LSB (flipspike's "
                    "neurons need a positive threshold)")
    return np.maximum(theta, 1)


def _or_pool(node, convention) -> bool:
    """Whether ``node``, after a SumPool2d of 0/1 spikes, is their OR: Threshold(u), 0 < u <= 1; or an
    IF/LIF neuron (hard reset to 0, no v_leak) that fires on a count of 1 and not on 0: it is 0 before
    every step (reset after firing, else it integrated 0), whatever its leak."""
    kind = type(node).__name__
    if kind == "Threshold":
        return 0 < float(np.max(node.threshold)) <= 1
    if kind not in ("IF", "LIF") or convention.reset == "soft":
        return False
    meta = getattr(node, "metadata", None) or {}
    v_reset = getattr(node, "v_reset", None)
    if meta.get("reset") == "subtract" or (v_reset is not None and not np.allclose(np.asarray(v_reset), 0)):
        return False
    r = np.asarray(node.r, dtype=np.float64)
    if kind == "LIF":
        if not np.allclose(np.asarray(node.v_leak, dtype=np.float64), 0):
            return False
        tau = np.asarray(node.tau, dtype=np.float64).reshape(-1)
        if not np.allclose(tau, tau[0]):
            return False
        _, gain, _ = convention.step(float(tau[0]), r, 0.0)
    else:
        _, gain, _ = convention.step(None, r, 0.0)
    gain, u = np.asarray(gain).reshape(-1), np.asarray(node.v_threshold, dtype=np.float64).reshape(-1)
    return bool(np.all((0 <= u) & (u < gain) if convention.strict else (0 < u) & (u <= gain)))


def _reset(name: str, neuron, convention, report: ImportReport) -> str:
    """"hard" (v <- 0) or "soft" (v <- v - theta)."""
    meta = getattr(neuron, "metadata", {}) or {}
    if convention.reset is not None:
        return convention.reset
    if meta.get("reset") in ("subtract", "zero"):                # flipspike's own graphs say which
        return "soft" if meta["reset"] == "subtract" else "hard"
    v_reset = getattr(neuron, "v_reset", None)
    if v_reset is None:
        report.note(f"{name}: no v_reset given; reset to 0 (hard reset) assumed")
    elif not np.allclose(np.asarray(v_reset), 0):
        report.note(f"{name}: v_reset is not 0; flipspike resets to 0")
    return "hard"


def _synapses(name: str, node, shape) -> tuple[np.ndarray, np.ndarray, ConvSpec | None]:
    """(weight rows [n_out, fan-in] with columns in flipspike's order, bias, ConvSpec or None) of an
    Affine, Linear or Conv2d node reading a map of ``shape`` (H, W, C) or a vector."""
    kind = type(node).__name__
    if kind == "Conv2d":
        wt = np.asarray(node.weight, dtype=np.float64)
        if int(np.max(node.dilation)) != 1 or node.groups != 1:
            raise DescriptionError(f"node {name!r}: dilation and groups must be 1")
        if isinstance(node.padding, str):
            raise DescriptionError(f"node {name!r}: give padding as a number, not {node.padding!r}")
        if len(shape) != 3:
            raise DescriptionError(f"node {name!r}: a convolution needs an image input")
        c_out, _, kk, _ = wt.shape
        conv = ConvSpec(tuple(shape), kk, int(np.max(node.stride)), int(np.max(node.padding)))
        bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if node.bias is not None else np.zeros(c_out)
        return wt.transpose(0, 2, 3, 1).reshape(c_out, -1), bias, conv          # (ky, kx, c) columns
    w = np.asarray(node.weight, dtype=np.float64)
    bias = np.asarray(node.bias, dtype=np.float64) if kind == "Affine" else np.zeros(w.shape[0])
    if len(shape) == 3:                                                # columns in NIR's C, H, W order -> HWC
        hwc = np.empty_like(w)
        hwc[:, _chw_columns(shape)] = w
        w = hwc
    return w, bias, None


def _unpool(name: str, bits: np.ndarray, conv: ConvSpec | None, raw: tuple, p: int,
            report: ImportReport) -> tuple[np.ndarray, ConvSpec | None]:
    """A layer that reads SumPool2d(p)'s spike counts, as one that reads the spikes themselves: a weight
    times a window's count is that weight on each of its p*p spikes, so a k x k convolution (stride s,
    padding q) over the pooled map is a kp x kp one (stride sp, padding qp) over the spikes, each weight
    repeated over a p x p block, and a dense layer's column repeats over its window. Exact; the fan-in,
    and the synaptic operations, grow p*p times (announced)."""
    h, w, c = raw
    if conv is not None:
        k = conv.kernel
        kernel = bits.reshape(-1, k, k, c).repeat(p, axis=1).repeat(p, axis=2)
        wide = ConvSpec(tuple(raw), k * p, conv.stride * p, conv.padding * p)
        report.rewrite(f"{name}: reads SumPool2d({p})'s spike counts; computed exactly as a {k * p}x{k * p} "
                    f"convolution, stride {conv.stride * p}, padding {conv.padding * p}, over the spikes "
                    f"({p * p}x the synaptic operations)")
        return kernel.reshape(len(bits), -1), wide
    wp = w // p
    yy, xx, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    column = ((yy // p) * wp + xx // p) * c + cc                     # each spike's window, pooled HWC
    report.rewrite(f"{name}: reads SumPool2d({p})'s spike counts; computed exactly over the {h}x{w}x{c} spikes, "
                f"each weight repeated over its {p}x{p} window ({p * p}x the synaptic operations)")
    return bits[:, column.reshape(-1)], None


def _spike_count_readout(name: str, n: int, report: ImportReport) -> LayerDesc:
    """An output layer that makes an IF/LIF output layer's spike counts the class. Its weights are +1 from
    neuron j to output j and -1 from every other, so output j accumulates 2 c_j - N over the T steps
    (c_j: neuron j's spikes, N: all of the layer's): the same argmax (and ties) as the counts, which
    are (output + N) / 2. flipspike's weights cannot be 0, hence -1 off the diagonal."""
    report.rewrite(f"{name}: the class is this layer's spike count; an output layer reads it ({n}x{n}, "
                   "+1 on the diagonal, -1 elsewhere: output j = 2 * count j - all the layer's spikes, the same "
                   "argmax)")
    return LayerDesc(f"{name}_count", "output", np.eye(n, dtype=np.uint8), np.zeros(n, dtype=np.int64), None, 0)


def from_nir(graph, *, pixel_bits: int, pixel_max: int, frac_bits: int | str = "auto", timesteps: int | None = None,
             producer: str | None = None, dt: float | None = None, integration: str | None = None,
             encoding: str | None = None) -> tuple[NetDesc, ImportReport]:
    """The description of a chain-shaped NIR graph. ``frac_bits``: per layer, "auto" picks the grid that
    holds the graph exactly (``_layer_frac_bits``), an int fixes it. ``producer`` (a key of
    ``nir_conventions.CONVENTIONS``), ``dt`` (seconds per step) and ``integration`` ("euler"/"exact")
    say how to read its neurons where the graph's metadata does not (see ``convention_for``).
    ``encoding``: what its Input takes at each step, "direct" (the same image) or "frames" (a frame per
    step: an event-driven graph); default the graph's metadata (``input_encoding``), else direct."""
    meta = dict(getattr(graph, "metadata", {}) or {})
    encoding = encoding or meta.get("input_encoding", "direct")
    convention = convention_for(meta, producer, dt, integration, graph.nodes.values())
    report = ImportReport(convention=convention.describe(), rules=convention)
    T = int(timesteps or meta.get("timesteps", 4))
    order = _chain(graph)
    nodes = [(n, graph.nodes[n]) for n in order]
    in_dims = _input_dims(nodes)
    shape = in_shape = _hwc(in_dims)
    image = meta.get("input_shape_hwc")                  # flipspike writes a dense-first image flat, C-H-W
    if len(in_dims) == 1 and image is not None and len(image) == 3 and int(np.prod(image)) == in_dims[0]:
        shape = in_shape = tuple(int(d) for d in image)
    layers: list[LayerDesc] = []
    readout = "accumulate"               # the class: the last layer's output summed over time (or spike counts)
    summed = None                        # the pool of a SumPool2d whose spike counts the next layer reads
    k = 1
    while k < len(nodes):
        name, node = nodes[k]
        kind = type(node).__name__
        if kind == "Output":
            break
        if kind == "Flatten":
            k += 1
            continue
        if node is None:
            following = type(nodes[k + 1][1]).__name__ if k + 1 < len(nodes) else None
            if len(shape) == 3 and following in ("Affine", "Linear"):
                report.note(f"node {name!r} is empty (None; Norse 1.1 writes torch.nn.Flatten so); read as the "
                            "Flatten an image needs before a dense layer")
                k += 1
                continue
            raise DescriptionError(f"node {name!r} is empty (None): the exporter had no NIR node for one of the "
                                   "network's modules")
        if kind not in ("Affine", "Linear", "Conv2d"):
            raise DescriptionError(f"node {name!r} ({kind}) is not supported here; flipspike imports chains of "
                                   "Affine/Linear/Conv2d -> LIF/IF [-> SumPool2d [-> Threshold]] [-> Flatten] "
                                   "ending in Affine/Linear [-> LIF/IF] -> Output")
        w, bias, conv = _synapses(name, node, shape)
        bits, s = _binarize(name, w, report)
        if summed is not None:                                       # a SumPool2d's counts feed this layer
            bits, conv = _unpool(name, bits, conv, layers[-1].output_shape, summed, report)
            summed = None
        nxt = nodes[k + 1] if k + 1 < len(nodes) else (None, None)
        nkind = type(nxt[1]).__name__
        if nkind == "Output":                                        # the output layer
            if conv is not None:
                raise DescriptionError(f"node {name!r}: the last layer must be dense")
            scale = float(s.mean())
            if not np.allclose(s, scale, rtol=1e-6):
                report.note(f"{name}: output rows have different scales; using their mean (argmax may change)")
            F = _layer_frac_bits(frac_bits, node, [bias / scale], None, T)
            if not np.allclose(bias / scale * (1 << F), fixed_point(bias / scale, F), rtol=0, atol=1e-6):
                report.note(f"{name}: bias rounded to multiples of 2**-{F}")
            layers.append(LayerDesc(name, "output", bits, fixed_point(bias / scale, F), None, F))
            k += 1
            continue
        if nkind == "CubaLIF":
            raise DescriptionError(f"node {nxt[0]!r} (CubaLIF) after {name!r}: a current-based LIF filters its "
                                   "input through a synapse (tau_syn), and flipspike's neurons integrate their "
                                   "input directly; export the network with plain LIF neurons (Rockpool: LIFTorch "
                                   "writes CubaLIF whatever tau_syn; snnTorch Leaky, Norse LIFBoxCell, "
                                   "SpikingJelly LIFNode or Sinabs LIF write LIF)")
        if nkind not in ("LIF", "IF"):
            raise DescriptionError(f"node {nxt[0]!r} ({nkind}) after {name!r} is not supported; a LIF or IF "
                                   "neuron must follow each hidden Affine/Linear/Conv2d")
        neuron = nxt[1]
        k_shift, gain, offset = _neuron_step(nxt[0], neuron, nkind, bits.shape[0], convention, report)
        reset = _reset(nxt[0], neuron, convention, report)
        cst = gain * bias + offset
        theta = _per_channel(nxt[0], neuron.v_threshold, bits.shape[0], "v_threshold", report)
        a = np.abs(gain * s)
        F = _layer_frac_bits(frac_bits, neuron, [cst / a] + ([theta / a] if reset == "soft" else []), k_shift, T)
        bits, b_int, _, a = divide_by_scale(bits, gain * s, cst, np.ones_like(s), F)
        if not np.allclose(cst / a * (1 << F), b_int, rtol=0, atol=1e-6):
            report.note(f"{name}: bias rounded to multiples of 2**-{F}")
        threshold = _threshold(nxt[0], theta / a * (1 << F), convention.strict, report)
        ours = convention.name == "flipspike"            # flipspike's own graph: its integer network is the meaning
        if reset == "soft" and not ours and not np.allclose(theta / a * (1 << F), threshold, atol=1e-6):
            report.note(f"{nxt[0]}: the soft reset subtracts the integer threshold, not v_threshold itself "
                        f"(off the 2**-{F} grid, or fired above it)")
        if not ours and not leak_is_exact(frac_bits=F, k=k_shift, timesteps=T, bias=b_int,
                             threshold=threshold if reset == "soft" else None):
            report.note(f"{nxt[0]}: the integer leak rounds up to the 2**-{F} grid where the graph's is exact "
                        f"(exact from frac_bits {F_AUTO_MAX} only if the biases allow; see integer-semantics.md)")
        pool, k_next = 1, k + 2
        if k_next < len(nodes) and type(nodes[k_next][1]).__name__ == "SumPool2d":
            sp = nodes[k_next][1]
            thr = nodes[k_next + 1] if k_next + 1 < len(nodes) else (None, None)
            p = int(np.max(sp.kernel_size))
            if int(np.max(sp.stride)) != p or int(np.max(sp.padding)) != 0:
                raise DescriptionError(f"node {nodes[k_next][0]!r}: only SumPool2d(P, stride P, no padding) is "
                                       "supported (non-overlapping windows)")
            if conv is None:
                raise DescriptionError(f"node {nodes[k_next][0]!r}: a SumPool2d needs a convolution's output map")
            if _or_pool(thr[1], convention):                         # OR-pooling: the layer pools its spikes
                pool, k_next = p, k_next + 2
            elif type(thr[1]).__name__ in ("Conv2d", "Affine", "Linear", "Flatten") or thr[1] is None:
                summed, k_next = p, k_next + 1                       # counts: the next layer reads them
                h, w_, _ = neuron_shape(conv, bits.shape[0], 1)
                if (h % p or w_ % p) and (thr[1] is None or type(thr[1]).__name__ != "Conv2d"
                                          or int(np.max(thr[1].padding)) > 0):
                    raise DescriptionError(f"node {nodes[k_next - 1][0]!r}: SumPool2d({p}) of a {h}x{w_} map drops "
                                           "its last rows or columns, which flipspike can fold into the next layer "
                                           "only when that is a convolution without padding; make the map a "
                                           f"multiple of {p}")
            else:
                raise DescriptionError(f"node {nodes[k_next][0]!r}: a SumPool2d must feed a Conv2d, Affine or "
                                       "Flatten (its spike counts) or a Threshold in (0, 1] / an IF or LIF that "
                                       "fires on one spike and resets to 0 (OR-pooling)")
        layer = LayerDesc(name, "lif", bits, b_int, threshold, F, k_shift, reset, conv=conv, pool=pool)
        layers.append(layer)
        shape = layer.output_shape if summed is None else pooled(layer.output_shape, summed)
        k = k_next
        if k < len(nodes) and type(nodes[k][1]).__name__ == "Output":   # an IF/LIF output: its spikes count
            if conv is not None or summed is not None:
                raise DescriptionError(f"node {nxt[0]!r}: a spiking output layer must be dense (its neurons "
                                       "are the classes)")
            layers.append(_spike_count_readout(nxt[0], layer.n_out, report))
            readout = "spike_count"
    if summed is not None:
        raise DescriptionError("the graph ends in a SumPool2d; flipspike's last layer is an Affine/Linear or an "
                               "IF/LIF")
    desc = NetDesc(T, InputSpec(int(np.prod(in_dims)), pixel_bits, pixel_max, in_shape if len(in_shape) == 3 else None,
                                encoding), layers, meta={"source": "nir", "convention": report.convention,
                                    "approximations": report.approximations, "rewrites": report.rewrites,
                                    "readout": readout})
    return desc.assign_widths().validate(), report


def read_graph(path: str | Path):
    """A NIR file's graph, read without nir's type check: flipspike needs only the input size, and
    libraries write batch and time dimensions the check refuses."""
    import inspect
    path = Path(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: no such NIR file")
    nir = _nir()
    try:
        checked = "type_check" in inspect.signature(nir.read).parameters
        return nir.read(path, type_check=False) if checked else nir.read(path)
    except (OSError, KeyError, ValueError) as exc:
        raise DescriptionError(f"{path}: not a readable NIR file ({exc})") from None


def read_nir(path: str | Path, **kw) -> tuple[NetDesc, ImportReport]:
    """``from_nir`` of a file (``read_graph``)."""
    return from_nir(read_graph(path), **kw)
