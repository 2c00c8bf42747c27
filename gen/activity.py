"""The spikes each layer receives, from the integer reference on sample inputs: what planning and the
cycle estimate of event-driven layers need (flipspike.gen.autofold, cycle_model.layer_cycles), since
an event-driven layer's cycles follow its input spikes."""

from __future__ import annotations

import numpy as np

from flipspike.ir import NetDesc

#: Training images whose spikes stand for the network's activity when planning event-driven layers.
PLANNING_SAMPLES = 100


def input_spikes(desc: NetDesc, x, layers) -> dict[int, np.ndarray]:
    """{layer index: its input spikes [T, samples, n_in] (uint8)} for the inputs ``x``: layers > 0, and a
    frame-fed first layer (its frames). The reference runs a chunk of samples at a time and keeps only these spikes, a byte each: the
    memory is that of the result, not of the reference's traces over all samples."""
    from flipspike.sw.integer import run_integer_chunks

    if 0 in layers and not desc.input.per_step:
        raise ValueError("a first layer fed by direct encoding reads its pixels once, not spikes at each step")
    parts = {i: [] for i in layers}
    for _, ref in run_integer_chunks(desc, x):
        for i in layers:
            parts[i].append((ref.layer_inputs(i) != 0).numpy().astype(np.uint8))
    return {i: np.concatenate(chunks, axis=1) for i, chunks in parts.items()}


def training_spikes(desc: NetDesc, layers, data_dir=None, samples: int = PLANNING_SAMPLES):
    """(spikes, source) from the first ``samples`` training images of the dataset the description was
    exported from; (None, why not) where it names none or the data cannot be read."""
    from flipspike.sw.data import DatasetMissing, dataset_for

    name = desc.meta.get("dataset")
    if not name:
        return None, "the description names no dataset (meta.dataset)"
    try:
        data = dataset_for(desc, name, data_dir)
    except (DatasetMissing, ValueError) as exc:
        return None, str(exc)
    x = data.x_train[:samples]
    elements = desc.input.elements(desc.timesteps)
    if x.shape[1] != elements or (x > desc.input.max_value).any():
        return None, (f"dataset {name!r} does not match the description's input ({x.shape[1]} values up to "
                      f"{int(x.max())}; it takes {elements} up to {desc.input.max_value})")
    return input_spikes(desc, x, layers), f"the spikes of {len(x)} training images of {name}"
