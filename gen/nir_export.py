"""NIR out: the integer network description as a graph, for NIR's own reading or a library's importer
(``flipspike.gen.nir_conventions.READERS``). See ``nir_io`` for the mapping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from flipspike.ir import LayerDesc, NetDesc
from flipspike.ir.errors import DescriptionError
from flipspike.ir.files import write_atomic
from flipspike.ir.formats import leak_is_exact

from .nir_conventions import READERS
from .nir_common import _chw, _chw_columns, _nir, _signs, _with_reset


def to_nir(desc: NetDesc, target: str = "nir", notes: list[str] | None = None):
    """The description as a NIR graph. ``target`` "nir": NIR's own reading (tau in steps, forward Euler,
    v > v_threshold), exact. Another key of ``nir_conventions.READERS``: written for that library's NIR
    importer (its time step, integration, threshold rule, whether it reads r or takes one threshold per
    layer), so that the network it builds computes flipspike's; what it cannot compute exactly is
    appended to ``notes``."""
    nir = _nir()
    if desc.input.encoding == "rate":
        raise DescriptionError("this network rate-encodes its pixels on chip (flipspike's LFSR, "
                               "flipspike.ir.encoding), which no NIR node expresses; export it as JSON, or train "
                               "it with --encoding direct or frames for a NIR graph")
    target = "nir" if target == "generic" else target              # NIR's own reading, by either name
    if target not in READERS:
        raise DescriptionError(f"no NIR export for {target!r}; the targets are generic (or nir), "
                               f"{', '.join(t for t in READERS if t != 'nir')}")
    reader = READERS[target]
    notes = [] if notes is None else notes
    if reader.caveat:
        notes.append(reader.caveat)
    nodes, edges = {}, []
    dims = desc.input.dims
    if desc.layers[0].conv is None and len(dims) == 3:   # a dense layer reads the image flat: (C, H, W) order,
        dims = (int(np.prod(dims)),)                       # no Flatten node (importers flatten batches with it)
    nodes["input"] = nir.Input(input_type={"input": _chw(dims)})
    prev, shape = "input", dims
    layers = desc.layers[:-1] if counts_spikes(desc) else desc.layers    # an IF/LIF output layer, as imported
    for i, layer in enumerate(layers):
        scale = 2.0 ** -layer.frac_bits
        row, neuron_params = np.ones(layer.n_out), None
        if layer.kind != "output":
            row, neuron_params = _neuron_params(layer, desc.timesteps, reader, notes)
        w = _signs(layer) * row[:, None]
        bias = layer.bias * scale * row
        if layer.conv is not None:
            k, c_in = layer.conv.kernel, layer.conv.in_shape[2]
            kernel = w.reshape(layer.n_out, k, k, c_in).transpose(0, 3, 1, 2)
            nodes[layer.name] = nir.Conv2d(input_shape=tuple(layer.conv.in_shape[:2]), weight=kernel,
                                           stride=layer.conv.stride, padding=layer.conv.padding, dilation=1, groups=1,
                                           bias=bias)
        else:
            if i == 0 and len(desc.input.dims) == 3:               # the flat input holds C, H, W order
                w = w[:, _chw_columns(desc.input.dims)]
            if len(shape) == 3:                                    # flatten C, H, W as NIR does
                flat = f"flatten{i}"
                nodes[flat] = nir.Flatten(input_type={"input": _chw(shape)}, start_dim=0)
                edges.append((prev, flat))
                prev = flat
                w = w[:, _chw_columns(shape)]
            nodes[layer.name] = nir.Affine(weight=w, bias=bias, metadata={"flipspike_frac_bits": layer.frac_bits})
        edges.append((prev, layer.name))
        prev = layer.name
        if layer.kind == "output":
            break
        neuron = f"{layer.name}_lif"
        neurons = tuple(_chw(layer.out_shape))                   # (C, H, W) or (N,)
        per = lambda values: np.broadcast_to(np.asarray(values, dtype=np.float64).reshape(
            (-1,) + (1,) * (len(neurons) - 1)), neurons).copy()
        tau, r, theta = neuron_params
        reset = np.zeros(neurons) if layer.reset == "hard" else None
        meta = {"flipspike_frac_bits": layer.frac_bits, "reset": "zero" if layer.reset == "hard" else "subtract"}
        if tau is None:
            nodes[neuron] = _with_reset(nir.IF, reset, r=np.full(neurons, r), v_threshold=per(theta), metadata=meta)
        else:
            nodes[neuron] = _with_reset(nir.LIF, reset, tau=np.full(neurons, tau), r=np.full(neurons, r),
                                        v_leak=np.zeros(neurons), v_threshold=per(theta), metadata=meta)
        edges.append((prev, neuron))
        if layer.shortcut is not None:
            raise DescriptionError(f"layer {layer.name}: shortcut gains have no NIR form yet (an edge carries no "
                                   "weight); export a network without shortcuts")
        prev, shape = neuron, layer.out_shape
        if layer.pool > 1:
            pool, thr = f"{layer.name}_pool", f"{layer.name}_or"
            p = layer.pool
            nodes[pool] = nir.SumPool2d(kernel_size=np.array([p, p]), stride=np.array([p, p]), padding=np.array([0, 0]))
            pooled = tuple(_chw(layer.output_shape))
            if target != "nir" and reader.or_pool:
                # OR of 0/1 spikes as a LIF neuron (importers map no Threshold, and snnTorch's IF does not
                # chain): it is 0 before every step (reset to 0 after firing, else it integrated 0), so it fires
                # exactly on a count of 1 or more, whatever its leak. tau = 2 dt; gain 1 (or 1/2 where r is
                # ignored); the threshold half of it.
                tau = 2.0 * reader.dt
                r = tau / reader.dt if reader.reads_r else 1.0
                u = 0.5 * reader.gain(tau, r)
                nodes[thr] = _with_reset(nir.LIF, np.zeros(pooled), tau=np.full(pooled, tau), r=np.full(pooled, r),
                                         v_leak=np.zeros(pooled), v_threshold=np.full(pooled, u),
                                         metadata={"flipspike": "or-pool", "reset": "zero"})
            else:
                nodes[thr] = nir.Threshold(threshold=np.full(pooled, 0.5))
                if target != "nir":
                    notes.append(f"{layer.name}: OR-pooling is SumPool2d -> Threshold(0.5), which {target}'s "
                                 "importer does not map, and its IF neurons cannot compute")
            edges += [(prev, pool), (pool, thr)]
            prev, shape = thr, layer.output_shape
    nodes["output"] = nir.Output(output_type={"output": np.array([layers[-1].n_out])})
    edges.append((prev, "output"))
    meta = EXPORT_METADATA | {"timesteps": desc.timesteps, "dt": reader.dt, "integration": reader.integration,
                              "input_shape_hwc": list(desc.input.dims), "input_encoding": desc.input.encoding,
                              "threshold_rule": "v > v_threshold" if reader.strict else "v >= v_threshold",
                              "written_for": target}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def counts_spikes(desc: NetDesc) -> bool:
    """Whether the network's class is its last spiking layer's spike count: the output layer is the readout
    an import of an IF/LIF output layer adds (``nir_import._spike_count_readout``: +1 on the diagonal, -1
    elsewhere, no bias), so the graph ends in that IF/LIF again."""
    last = desc.layers[-1]
    return (desc.meta.get("readout") == "spike_count" and len(desc.layers) > 1 and last.n_in == last.n_out
            and np.array_equal(last.weights, np.eye(last.n_out, dtype=np.uint8)) and not last.bias.any())


def _neuron_params(layer: LayerDesc, timesteps: int, reader, notes: list[str]):
    """(row scale [n_out], (tau or None, r, v_threshold [n_out])) of a hidden layer for ``reader``.

    The reader's membrane is u_j = g_j * v_j * 2**-F for a row scale g_j carried by the weights and bias;
    its input gain G (from tau and r, or dt/tau where it ignores r) is divided out of g_j. Thresholds:
    with a hard reset, the midpoint (theta - 1/2) 2**-F, which the integer membrane crosses under v > and
    v >= alike, and which float rounding cannot tip; with a soft reset the reader computes, theta 2**-F
    itself, what it subtracts, or under v > (theta - eps) 2**-F, eps = 1/(2(T+1)) (NIR, which has no soft
    reset, gets that and the reset in the node's metadata). Readers that take one threshold per layer get g_j = 1 / threshold_j: v_threshold = 1."""
    F = layer.frac_bits
    k = layer.leak_shift
    tau = None if k is None else reader.leak(k)
    # r such that NIR's meaning of the node and the reader's agree: a gain of 1, or (readers that ignore r)
    # Euler's dt/tau with r = 1; the graph then means flipspike's network whoever reads it.
    if tau is None:
        r = 1.0 / reader.dt
    elif reader.integration == "exact":
        r = 1.0 / (1 - math.exp(-reader.dt / tau))
    else:
        r = tau / reader.dt if reader.reads_r else 1.0
    gain = reader.gain(tau, r)
    if not leak_is_exact(frac_bits=F, k=k, timesteps=timesteps, bias=layer.bias,
                         threshold=layer.threshold if layer.reset == "soft" else None):
        who = "NIR's LIF (in reals)" if reader.name == "nir" else reader.name
        notes.append(f"{layer.name}: flipspike's leak rounds up to the 2**-{F} grid where {who} computes "
                     "lambda * v exactly: outputs can differ where a membrane is rounded (exact when 2**F and every "
                     f"bias are multiples of 2**{k * (timesteps - 1)}; docs/integer-semantics.md)")
    if layer.reset not in reader.resets:
        notes.append(f"{layer.name}: {reader.name}'s importer cannot compute a {layer.reset} reset; its neurons "
                     f"reset by {' or '.join(reader.resets)}")
    # a soft reset the reader computes: theta, what it subtracts; under v > a little less, theta - eps, so that
    # it fires at theta and subtracts within eps of it; the m <= T spikes' eps add up to less than one LSB, so
    # the reader's membrane stays within an LSB above flipspike's and fires where it does. Else the midpoint.
    eps = 1.0 / (2 * (timesteps + 1))
    below = (eps if reader.strict else 0.0) if layer.reset == "soft" and "soft" in reader.resets else 0.5
    theta = (layer.threshold.astype(np.float64) - below) * 2.0 ** -F
    if reader.uniform_threshold:                        # 1 exactly: theta * (1 / theta) need not be
        return 1.0 / theta / gain, (tau, r, np.ones_like(theta))
    return np.full(theta.shape, 1.0 / gain), (tau, r, theta)


#: What flipspike's graphs say about themselves: tau in time steps, forward Euler, NIR's strict threshold.
EXPORT_METADATA = {"producer": "flipspike", "dt": 1.0, "integration": "euler", "threshold_rule": "v > v_threshold"}


def write_nir(desc: NetDesc, path: str | Path, target: str = "nir", notes: list[str] | None = None) -> Path:
    """Write atomically (temporary name, then rename); ``target`` and ``notes`` as in ``to_nir``."""
    graph = to_nir(desc, target, notes)
    return write_atomic(path, lambda tmp: _nir().write(tmp, graph))


