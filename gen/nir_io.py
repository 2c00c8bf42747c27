"""NIR (the Neuromorphic Intermediate Representation) in and out of the integer network description.

Export writes the description as it runs in hardware, so the graph is exact: weights are +-1, the
folded BatchNorm is in the bias and threshold, values are the fixed-point integers times 2**-F.

    dense / conv layer  ->  Affine (weight +-1, bias c * 2**-F) or Conv2d (+-1 kernels, bias)
    LIF neuron          ->  LIF(tau = 2**k, r = tau, v_leak = 0, v_threshold = theta * 2**-F, v_reset = 0)
                            (IF when there is no leak; soft reset: v_reset omitted, metadata reset="subtract")
    OR max-pooling      ->  SumPool2d(P, stride P) + Threshold(0.5)   (exact for 0/1 spikes)
    conv -> dense       ->  Flatten (NIR flattens C, H, W; the dense weights are permuted to that order)
    output layer        ->  Affine -> Output (the class is the argmax of the output summed over time)

The mapping from continuous time is forward Euler with dt = 1: NIR's LIF, tau dv/dt = v_leak - v + r*I,
becomes v <- (1 - 1/tau) v + (r/tau) I + v_leak/tau, so the leak is lambda = 1 - 1/tau and the
integer leak shift is k = log2(tau). Import inverts this for graphs written elsewhere and reports
every approximation: tau that is not a power of two, weights that are not +-s per row, per-row output
scales that differ, biases and thresholds rounded to 2**-F.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flipspike.ir import ConvSpec, InputSpec, LayerDesc, NetDesc
from flipspike.ir.errors import DescriptionError
from flipspike.ir.files import write_atomic
from flipspike.ir.formats import LEAK_SHIFT_RANGE, divide_by_scale, fixed_point


def _nir():
    try:
        import nir
    except ImportError:
        raise DescriptionError("NIR support needs the nir package: pip install nir") from None
    return nir


# -- export ----------------------------------------------------------------------------------------------

def _signs(layer: LayerDesc) -> np.ndarray:
    return layer.weights.astype(np.float64) * 2 - 1


def _chw_columns(shape) -> np.ndarray:
    """For a flattened (H, W, C) map: the HWC index of each position of the C, H, W flattening."""
    h, w, c = shape
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def _chw(shape) -> np.ndarray:
    """Our (H, W, C) as NIR's (C, H, W); vectors unchanged."""
    return np.array([shape[2], shape[0], shape[1]] if len(shape) == 3 else list(shape))


def _hwc(dims) -> tuple:
    """NIR's (C, H, W) as our (H, W, C); a vector as (N,)."""
    return (dims[1], dims[2], dims[0]) if len(dims) == 3 else (int(np.prod(dims)),)


def to_nir(desc: NetDesc):
    nir = _nir()
    nodes, edges = {}, []
    dims = desc.input.dims
    nodes["input"] = nir.Input(input_type={"input": _chw(dims)})
    prev, shape = "input", dims
    for i, layer in enumerate(desc.layers):
        scale = 2.0 ** -layer.frac_bits
        w = _signs(layer)
        if layer.conv is not None:
            k, c_in = layer.conv.kernel, layer.conv.in_shape[2]
            kernel = w.reshape(layer.n_out, k, k, c_in).transpose(0, 3, 1, 2)
            nodes[layer.name] = nir.Conv2d(input_shape=tuple(layer.conv.in_shape[:2]), weight=kernel,
                                           stride=layer.conv.stride, padding=layer.conv.padding, dilation=1, groups=1,
                                           bias=layer.bias * scale)
        else:
            if len(shape) == 3:                                    # flatten C, H, W as NIR does
                flat = f"flatten{i}"
                nodes[flat] = nir.Flatten(input_type={"input": _chw(shape)}, start_dim=0)
                edges.append((prev, flat))
                prev = flat
                w = w[:, _chw_columns(shape)]
            nodes[layer.name] = nir.Affine(weight=w, bias=layer.bias * scale)
        edges.append((prev, layer.name))
        prev = layer.name
        if layer.kind == "output":
            break
        neuron = f"{layer.name}_lif"
        neurons = tuple(_chw(layer.out_shape))                   # (C, H, W) or (N,)
        per = lambda values: np.broadcast_to(np.asarray(values, dtype=np.float64).reshape(
            (-1,) + (1,) * (len(neurons) - 1)), neurons).copy()
        theta = per(layer.threshold) * scale
        reset = np.zeros(neurons) if layer.reset == "hard" else None
        meta = {"flipspike_frac_bits": layer.frac_bits, "reset": "zero" if layer.reset == "hard" else "subtract"}
        if layer.leak_shift is None:
            nodes[neuron] = nir.IF(r=np.ones(neurons), v_threshold=theta, v_reset=reset, metadata=meta)
        else:
            tau = np.full(neurons, 2.0 ** layer.leak_shift)
            nodes[neuron] = nir.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(neurons), v_threshold=theta,
                                    v_reset=reset, metadata=meta)
        edges.append((prev, neuron))
        if layer.shortcut is not None:
            raise DescriptionError(f"layer {layer.name}: shortcut gains have no NIR form yet (an edge carries no "
                                   "weight); export a network without shortcuts")
        prev, shape = neuron, layer.out_shape
        if layer.pool > 1:
            pool, thr = f"{layer.name}_pool", f"{layer.name}_or"
            p = layer.pool
            nodes[pool] = nir.SumPool2d(kernel_size=np.array([p, p]), stride=np.array([p, p]), padding=np.array([0, 0]))
            nodes[thr] = nir.Threshold(threshold=np.full(tuple(_chw(layer.output_shape)), 0.5))
            edges += [(prev, pool), (pool, thr)]
            prev, shape = thr, layer.output_shape
    nodes["output"] = nir.Output(output_type={"output": np.array([desc.layers[-1].n_out])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"producer": "flipspike", "timesteps": desc.timesteps,
                                                             "dt": 1.0}, type_check=False)


def write_nir(desc: NetDesc, path: str | Path) -> Path:
    """Write atomically (temporary name, then rename)."""
    graph = to_nir(desc)
    return write_atomic(path, lambda tmp: _nir().write(tmp, graph))


# -- import ----------------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    approximations: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.approximations.append(text)


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


def from_nir(graph, *, pixel_bits: int, pixel_max: int, frac_bits: int = 4,
             timesteps: int | None = None) -> tuple[NetDesc, ImportReport]:
    report = ImportReport()
    meta = dict(getattr(graph, "metadata", {}) or {})
    T = int(timesteps or meta.get("timesteps", 4))
    order = _chain(graph)
    nodes = [(n, graph.nodes[n]) for n in order]
    inp = nodes[0][1]
    in_dims = tuple(int(d) for d in np.asarray(next(iter(inp.input_type.values()))).reshape(-1))
    shape = in_shape = _hwc(in_dims)
    layers: list[LayerDesc] = []
    k = 1
    while k < len(nodes):
        name, node = nodes[k]
        kind = type(node).__name__
        if kind == "Output":
            break
        if kind == "Flatten":
            k += 1
            continue
        if kind not in ("Affine", "Linear", "Conv2d"):
            raise DescriptionError(f"node {name!r} ({kind}) is not supported here; flipspike imports chains of "
                                   "Affine/Linear/Conv2d -> LIF/IF [-> SumPool2d -> Threshold] [-> Flatten] "
                                   "ending in Affine/Linear -> Output")
        conv = None
        if kind == "Conv2d":
            wt = np.asarray(node.weight, dtype=np.float64)
            if int(np.max(node.dilation)) != 1 or node.groups != 1:
                raise DescriptionError(f"node {name!r}: dilation and groups must be 1")
            if isinstance(node.padding, str):
                raise DescriptionError(f"node {name!r}: give padding as a number, not {node.padding!r}")
            stride, pad = int(np.max(node.stride)), int(np.max(node.padding))
            if len(shape) != 3:
                raise DescriptionError(f"node {name!r}: a convolution needs an image input")
            c_out, c_in, kk, _ = wt.shape
            conv = ConvSpec(tuple(shape), kk, stride, pad)
            w = wt.transpose(0, 2, 3, 1).reshape(c_out, -1)          # (ky, kx, c) columns
            bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if node.bias is not None else np.zeros(c_out)
        else:
            w = np.asarray(node.weight, dtype=np.float64)
            bias = np.asarray(node.bias, dtype=np.float64) if kind == "Affine" else np.zeros(w.shape[0])
            if len(shape) == 3:                                      # columns in NIR's C, H, W order -> HWC
                hwc = np.empty_like(w)
                hwc[:, _chw_columns(shape)] = w
                w = hwc
        bits, s = _binarize(name, w, report)
        nxt = nodes[k + 1] if k + 1 < len(nodes) else (None, None)
        nkind = type(nxt[1]).__name__
        if nkind == "Output":                                        # the output layer
            if conv is not None:
                raise DescriptionError(f"node {name!r}: the last layer must be dense")
            scale = float(s.mean())
            if not np.allclose(s, scale, rtol=1e-6):
                report.note(f"{name}: output rows have different scales; using their mean (argmax may change)")
            layers.append(LayerDesc(name, "output", bits, fixed_point(bias / scale, frac_bits), None, frac_bits))
            k += 1
            continue
        if nkind not in ("LIF", "IF"):
            raise DescriptionError(f"node {nxt[0]!r} ({nkind}) after {name!r} is not supported; a LIF or IF "
                                   "neuron must follow each hidden Affine/Linear/Conv2d")
        neuron = nxt[1]
        c = bits.shape[0]
        r = _per_channel(nxt[0], neuron.r, c, "r", report)
        theta = _per_channel(nxt[0], neuron.v_threshold, c, "v_threshold", report)
        if nkind == "LIF":
            tau = _per_channel(nxt[0], neuron.tau, c, "tau", report)
            leak_in = _per_channel(nxt[0], neuron.v_leak, c, "v_leak", report)
            if not np.allclose(tau, tau[0]) or tau[0] <= 1:
                raise DescriptionError(f"node {nxt[0]!r}: tau must be one value > 1 (in time steps) for the layer")
            shift = math.log2(tau[0])
            k_shift = int(round(shift))
            if not LEAK_SHIFT_RANGE[0] <= k_shift <= LEAK_SHIFT_RANGE[1]:
                raise DescriptionError(f"node {nxt[0]!r}: tau={tau[0]:g} gives a leak shift of {shift:.2f}, "
                                       f"outside {LEAK_SHIFT_RANGE}")
            if abs(shift - k_shift) > 1e-9:
                report.note(f"{nxt[0]}: tau={tau[0]:g} is not a power of two; leak lambda = 1 - 2**-{k_shift} "
                            f"instead of {1 - 1 / tau[0]:.4f}")
            gain = r / tau
            offset = leak_in / tau
        else:
            k_shift, gain, offset = None, r, np.zeros(c)
        reset = "hard"
        if neuron.v_reset is None or (getattr(neuron, "metadata", {}) or {}).get("reset") == "subtract":
            reset = "soft" if (getattr(neuron, "metadata", {}) or {}).get("reset") == "subtract" else "hard"
            if reset == "hard":
                report.note(f"{nxt[0]}: no v_reset given; reset to 0 (hard reset) assumed")
        elif not np.allclose(np.asarray(neuron.v_reset), 0):
            report.note(f"{nxt[0]}: v_reset is not 0; flipspike resets to 0")
        cst = gain * bias + offset
        bits, b_int, threshold, a = divide_by_scale(bits, gain * s, cst, theta, frac_bits)
        for what, val, fx in (("bias", cst / a, b_int), ("threshold", theta / a, threshold)):
            if not np.allclose(val * (1 << frac_bits), fx, atol=1e-6):
                report.note(f"{name}: {what} rounded to multiples of 2**-{frac_bits}")
        pool, k_next = 1, k + 2
        if k_next < len(nodes) and type(nodes[k_next][1]).__name__ == "SumPool2d":
            sp = nodes[k_next][1]
            thr = nodes[k_next + 1] if k_next + 1 < len(nodes) else (None, None)
            p = int(np.max(sp.kernel_size))
            if type(thr[1]).__name__ != "Threshold" or not (0 < float(np.max(thr[1].threshold)) <= 1) \
                    or int(np.max(sp.stride)) != p or int(np.max(sp.padding)) != 0:
                raise DescriptionError(f"node {nodes[k_next][0]!r}: only SumPool2d(P, stride P, no padding) followed "
                                       "by Threshold in (0, 1] (OR-pooling of spikes) is supported")
            pool, k_next = p, k_next + 2
        layer = LayerDesc(name, "lif", bits, b_int, threshold, frac_bits, k_shift, reset, conv=conv, pool=pool)
        layers.append(layer)
        shape = layer.output_shape
        k = k_next
    desc = NetDesc(T, InputSpec(int(np.prod(in_dims)), pixel_bits, pixel_max, in_shape if len(in_shape) == 3 else None),
                   layers, meta={"source": "nir", "approximations": report.approximations})
    return desc.assign_widths().validate(), report


def read_nir(path: str | Path, **kw) -> tuple[NetDesc, ImportReport]:
    path = Path(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: no such NIR file")
    try:
        graph = _nir().read(path)
    except (OSError, KeyError, ValueError) as exc:
        raise DescriptionError(f"{path}: not a readable NIR file ({exc})") from None
    return from_nir(graph, **kw)
