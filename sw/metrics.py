"""What the papers measure, computed from the float model: accuracy, firing rates, SOPs per inference,
binary model size, and training memory.

SOPs follow the integer reference's definition (flipspike.sw.integer.synaptic_ops): an active input
drives one synaptic operation per synapse it has; the first layer (direct encoding) counts its nonzero
pixels once per sample, later layers count input spikes at every step. The hardware counters report
the same numbers for an exported network.
"""

from __future__ import annotations

import resource
import weakref

import numpy as np
import torch

from .integer import synaptic_ops
from .model import BSNN


@torch.no_grad()
def evaluate(model: BSNN, x: np.ndarray, y: np.ndarray, batch: int = 1024) -> dict:
    """Test accuracy, firing rate (spikes per neuron per step) of each hidden layer and SOPs per inference
    of each layer, averaged over the samples."""
    model.eval()
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    correct, rates, sops = 0, np.zeros(len(model.hidden)), np.zeros(len(model.specs))
    for b in range(0, len(x), batch):
        xb = torch.as_tensor(x[b:b + batch], dtype=dtype, device=device)
        out, spikes = model(xb)
        correct += int((out.argmax(1).cpu() == torch.as_tensor(y[b:b + batch])).sum())
        rates += np.array([float(s.mean()) * len(xb) for s in spikes])
        sops += _sops(model, xb, spikes)
    n = len(x)
    return {"accuracy": correct / n, "firing_rate": (rates / n).tolist(), "sops": (sops / n).tolist()}


def _sops(model: BSNN, x: torch.Tensor, spikes: list[torch.Tensor]) -> np.ndarray:
    out = []
    for i, spec in enumerate(model.specs):
        if i == 0:                                      # (frames: every step's, summed with the batch's)
            xs = x if model.cfg.encoding == "direct" else model.step_inputs(model.frames_of(x))
            active = (xs != 0).reshape(xs.shape[0], *model.cfg.input_shape)
            out.append(float(synaptic_ops(spec.conv, spec.out, active.cpu(), spec.pool).sum()))
            continue
        s = spikes[i - 1].flatten(0, 1)
        if model.specs[i - 1].pool > 1:
            s = torch.nn.functional.max_pool2d(s, model.specs[i - 1].pool)
        if s.ndim == 4:
            s = s.permute(0, 2, 3, 1)                                  # NCHW -> HWC
        out.append(float(synaptic_ops(spec.conv, spec.out, (s != 0).cpu(), spec.pool).sum()))
    return np.array(out)


def model_bytes(model: BSNN) -> int:
    """Bytes of what inference needs: binary weights at 1 bit, every other parameter and BN statistic at
    32 bits (AGMM is training-only and not counted)."""
    binary = {id(p) for p in model.binary_parameters()}
    total = 0.0
    for name, t in model.state_dict(keep_vars=True).items():
        if name.endswith("num_batches_tracked") or name.startswith("agmm."):
            continue
        total += t.numel() / 8 if id(t) in binary else t.numel() * 4
    return int(np.ceil(total))


class GraphMemory:
    """Peak bytes autograd keeps for one backward pass: the tensors saved in the graph, each storage counted
    once (activations, and the weights the graph holds). Deterministic and device-independent, so it is
    comparable across methods and time steps; ``peak_rss_mb`` gives the process high-water mark too.

        mem = GraphMemory()
        with mem:
            loss = ...; mem.mark(); loss.backward()
    """

    def __init__(self):
        self.peak = 0
        self._saved: list[weakref.ref] = []
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        self._saved.append(weakref.ref(t))
        return t

    def mark(self) -> None:
        """Call once the graph is complete (before backward): records its size and starts a new one.
        Only tensors still alive count (a graph that was dropped holds nothing), each storage once."""
        storages = {}
        for ref in self._saved:
            t = ref()
            if t is not None:
                st = t.untyped_storage()
                storages[st.data_ptr()] = st.nbytes()
        self.peak = max(self.peak, sum(storages.values()))
        self._saved.clear()

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
