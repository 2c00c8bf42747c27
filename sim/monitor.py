"""Read the accelerator's state back through its monitor port and hold it against the reference:
every hidden layer's membranes after an inference, and every weight, bias and threshold word."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flipspike.ir.memory_map import memory_image, monitor_map
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold
from flipspike.ir.formats import unpack_lanes
from flipspike.sw.integer import run_integer

from .cosim import run_hardware


def monitor_check(desc: NetDesc, folds: list[Fold], pixels: np.ndarray, *, simulator: str = "verilator",
                  build_root: str | Path = "build", target=None) -> dict:
    """Run one sample, then read every monitor word. Returns the membranes per layer (HWC order), and
    the words that differ from the reference (membranes) or from the description (parameters)."""
    regions = monitor_map(desc, folds)
    addresses = [r.base + k for r in regions for k in range(r.depth)]
    x = np.asarray(pixels).reshape(1, -1)
    (observed,), _ = run_hardware(desc, folds, [{"loads": [], "samples": x, "stream": False, "peek": addresses}],
                                  simulator=simulator, build_root=build_root, target=target)
    words = iter(observed["peek"])
    ref = run_integer(desc, x)
    membranes, diffs = {}, []
    for region in regions:
        got = [next(words) for _ in range(region.depth)]
        layer, fold = desc.layers[region.layer], folds[region.layer]
        if region.memory == "membrane":
            width = layer.widths.state
            values = [v for w in got for v in unpack_lanes(w, fold.pe, width, signed=True)]
            want = ref.layers[region.layer].state[0].reshape(-1).tolist()
            membranes[layer.name] = values
            diffs += [{"layer": layer.name, "memory": "membrane", "index": i, "hw": h, "ref": r}
                      for i, (h, r) in enumerate(zip(values, want)) if h != r]
        else:
            mask = (1 << region.width) - 1
            want = [w & mask for w in memory_image(desc, folds, region)]
            diffs += [{"layer": layer.name, "memory": region.memory, "word": k, "hw": h, "ref": r}
                      for k, (h, r) in enumerate(zip(got, want)) if h != r]
    return {"membranes": membranes, "words": len(addresses), "mismatches": len(diffs), "details": diffs[:20]}
