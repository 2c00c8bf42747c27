"""A NIR graph's meaning in floats: what the producing library computes, independent of flipspike's integers.

``run_graph(graph, convention, x, T)`` steps a chain-shaped graph (Input, Affine/Linear, Conv2d, LIF/IF,
SumPool2d [-> Threshold], Flatten, Output) T times, on an image or a frame per step, by the library's rules
(:class:`flipspike.gen.nir_conventions.Convention`: time step, Euler or exact, v > or >= threshold,
reset), in float64 numpy, and returns each sample's output summed over time. It shares no code with the
import (``nir_io.from_nir``) or the integer reference: it is what an import is measured against
(``measure_import``), and the tests' oracle for "nothing approximated".
"""

from __future__ import annotations

import numpy as np

from flipspike.ir.errors import DescriptionError

from .nir_conventions import Convention


def _order(graph) -> list[str]:
    succ = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    node = next(n for n, v in graph.nodes.items() if type(v).__name__ == "Input")
    order = [node]
    while succ.get(node):
        node = succ[node][0]
        order.append(node)
    return order


def _arr(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def _per_neuron(values, shape) -> np.ndarray:
    """A parameter as the neurons' shape: scalars broadcast, (C,) per channel over (C, H, W)."""
    v = _arr(values)
    if v.size == 1:
        return np.full(shape, float(v.reshape(-1)[0]))
    if v.shape == tuple(shape):
        return v
    if len(shape) == 3 and v.size == shape[0]:
        return np.broadcast_to(v.reshape(-1, 1, 1), shape).copy()
    return v.reshape(shape)


def _conv2d(x: np.ndarray, node) -> np.ndarray:
    """x: [N, C, H, W]; NIR's Conv2d (dilation 1, groups 1) by im2col."""
    w = _arr(node.weight)
    stride, pad = int(np.max(node.stride)), int(np.max(node.padding))
    n, c, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    cols = np.empty((n, c, k, k, ho, wo))
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
    out = np.einsum("nckluv,ockl->nouv", cols, w)
    bias = np.zeros(w.shape[0]) if node.bias is None else _arr(node.bias).reshape(-1)
    return out + bias[None, :, None, None]


def run_graph(graph, convention: Convention, x: np.ndarray, timesteps: int, in_dims: tuple[int, ...],
              frames: bool = False) -> np.ndarray:
    """Outputs summed over ``timesteps`` steps, [N, classes]. ``x``: [N, prod(in_dims)] input values in
    the graph's own order (C, H, W flattened), the same at every step; with ``frames``, [N, T * prod(in_dims)],
    frame t at step t. ``in_dims``: the input's shape without batch or time dimensions."""
    order = _order(graph)
    x = _arr(x).reshape((len(x), timesteps if frames else 1) + tuple(in_dims))
    state: dict[str, np.ndarray] = {}
    total = None
    for t in range(timesteps):
        a = x[:, t if frames else 0]
        for name in order[1:]:
            node = graph.nodes[name]
            kind = type(node).__name__ if node is not None else "Flatten"   # Norse writes None for Flatten
            if kind == "Output":
                break
            if kind in ("Affine", "Linear"):
                a = a.reshape(len(a), -1) @ _arr(node.weight).T
                if kind == "Affine":
                    a = a + _arr(node.bias).reshape(-1)
            elif kind == "Conv2d":
                a = _conv2d(a, node)
            elif kind == "Flatten":
                a = a.reshape(len(a), -1)
            elif kind in ("LIF", "IF"):
                a = _neuron_step(name, node, kind, a, convention, state)
            elif kind == "SumPool2d":
                p = int(np.max(node.kernel_size))
                n, c, h, w = a.shape
                a = a[:, :, :h // p * p, :w // p * p].reshape(n, c, h // p, p, w // p, p).sum((3, 5))
            elif kind == "Threshold":
                a = (a > _arr(node.threshold)).astype(np.float64)
            else:
                raise DescriptionError(f"node {name!r} ({kind}) has no float reference")
        total = a if total is None else total + a
    return total


def _neuron_step(name, node, kind, drive, conv: Convention, state) -> np.ndarray:
    shape = drive.shape[1:]
    v = state.get(name, np.zeros_like(drive))
    r = _per_neuron(node.r, shape)
    if kind == "LIF":
        lam, gain, offset = conv.step(float(_arr(node.tau).reshape(-1)[0]), r, _per_neuron(node.v_leak, shape))
    else:
        lam, gain, offset = conv.step(None, r, np.zeros(shape))
    theta = _per_neuron(node.v_threshold, shape)
    v = lam * v + gain * drive + offset
    s = (v > theta) if conv.strict else (v >= theta)
    meta = getattr(node, "metadata", None) or {}
    soft = conv.reset == "soft" or meta.get("reset") == "subtract"
    v_reset = getattr(node, "v_reset", None)
    v = np.where(s, v - theta, v) if soft else np.where(s, 0.0 if v_reset is None else _per_neuron(v_reset, shape), v)
    state[name] = v
    return s.astype(np.float64)


def measure_import(graph, convention: Convention, desc, x_hwc: np.ndarray, in_dims: tuple[int, ...]) -> dict:
    """The import against the graph's meaning on ``x_hwc`` ([N, n_in] pixel values, or [N, T * n_in] frames,
    flipspike's HWC order):
    samples whose class differs, and samples with an output total that differs (an IF/LIF output layer's
    totals are its spike counts)."""
    from flipspike.sw.integer import run_integer
    ref = run_integer(desc, x_hwc)
    x = np.asarray(x_hwc)
    frames = desc.input.frames
    if len(in_dims) == 3:                                   # HWC -> the graph's C, H, W (frame by frame)
        c, h, w = in_dims
        steps = desc.timesteps if frames else 1
        x = x.reshape(len(x), steps, h, w, c).transpose(0, 1, 4, 2, 3).reshape(len(x), -1)
    totals = run_graph(graph, convention, x, desc.timesteps, in_dims, frames)
    if desc.meta.get("readout") == "spike_count":           # an IF/LIF output layer: its spikes per neuron
        got = ref.layers[-2].spikes.sum(0).reshape(len(x), -1).numpy().astype(np.float64)
    else:
        last = [n for n in _order(graph) if type(graph.nodes[n]).__name__ in ("Affine", "Linear")][-1]
        scale = float(np.abs(_arr(graph.nodes[last].weight)).mean())
        got = ref.acc.numpy() * scale * 2.0 ** -desc.layers[-1].frac_bits
    classes = int((totals.argmax(1) != ref.cls.numpy()).sum())
    totals_changed = int((~np.isclose(got, totals, rtol=1e-9, atol=1e-9)).any(1).sum())
    return {"samples": len(x), "classes_changed": classes, "totals_changed": totals_changed}
