"""Run a NIR graph in the SNN library that imports it: the other side of flipspike's NIR conformance
(``tests/test_nir_peers.py``, ``bench/nir_peers.py``).

``run_in_library(lib, graph, x, T)`` builds the network with ``lib``'s own NIR importer (snnTorch,
Norse, SpikingJelly, Sinabs) and steps it T times with direct input, as that library runs networks,
returning each sample's outputs summed over time. ``stepped(net, x, T)`` does the stepping for a
network that nirtorch's executor runs (``out, state = net(x, state)``), and for any module built in a
library's own idiom the same way.
"""

from __future__ import annotations

import numpy as np

LIBRARIES = ("snntorch", "norse", "spikingjelly", "sinabs")


def run_in_library(lib: str, graph, x: np.ndarray, T: int, *, single_spike: bool = False) -> np.ndarray:
    """Outputs [N, classes] summed over T steps. ``x``: [N, n] or images [N, C, H, W] (the graph's order).
    ``single_spike``: Sinabs' neurons get SingleSpike, the fix flipspike's export names (its importer
    builds MultiSpike neurons)."""
    import torch
    xt = torch.tensor(np.asarray(x), dtype=torch.float32)
    if lib == "sinabs":
        import sinabs
        import sinabs.layers as sl
        from sinabs.activation import SingleSpike
        net = sinabs.from_nir(graph, batch_size=len(xt))
        if single_spike:
            for module in net.modules():
                if isinstance(module, sl.LIFSqueeze):
                    module.spike_fn = SingleSpike
        out, _ = net(xt[:, None].repeat(1, T, *[1] * (xt.ndim - 1)).flatten(0, 1))      # (batch x time, ...)
        return out.reshape(len(xt), T, -1).sum(1).detach().numpy()
    if lib == "snntorch":
        from snntorch.import_nir import import_from_nir
        net = import_from_nir(graph)
    elif lib == "norse":
        import norse.torch as norse
        net = norse.from_nir(graph)
    elif lib == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange.from_nir import import_from_nir
        net = import_from_nir(graph)
    else:
        raise ValueError(f"no NIR importer known for {lib!r}; the libraries are {', '.join(LIBRARIES)}")
    if xt.ndim == 4 and lib in ("snntorch", "norse"):      # they apply Flatten(start_dim=0) to the batch too
        return np.concatenate([stepped(net, xt[i:i + 1], T) for i in range(len(xt))])
    return stepped(net, xt, T)


def stepped(net, xt, T: int) -> np.ndarray:
    """T steps of ``net`` (``out, state = net(x, state)``) from a fresh state, outputs summed [N, classes]."""
    for module in net.modules():                          # snnTorch's Leaky(init_hidden) keeps its membrane
        if hasattr(module, "reset_hidden"):
            module.reset_hidden()
    state, total = None, 0
    for _ in range(T):
        out, state = net(xt, state)
        total = total + out
    return total.detach().numpy().reshape(len(xt), -1)
