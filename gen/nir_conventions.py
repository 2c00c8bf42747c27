"""What a NIR graph means, per library that writes one: time step, discretisation, threshold comparison.

NIR describes neurons in continuous time (``tau dv/dt = v_leak - v + r I``, a spike where
``v > v_threshold``, then ``v <- v_reset``). Each library simulates that in discrete steps of its own and
writes its parameters by its own rule, and a graph rarely says which library wrote it. A ``Convention``
is the rule that turns a graph's LIF into the per-step update that library computes::

    euler:  lambda = 1 - dt/tau,        input gain r dt/tau,      offset v_leak dt/tau
    exact:  lambda = exp(-dt/tau),      input gain r (1-lambda),  offset v_leak (1-lambda)
    IF:     lambda = 1,                 input gain r dt

and says whether the library fires where ``v > v_threshold`` (NIR, snnTorch, Norse) or where
``v >= v_threshold`` (Sinabs' SingleSpike, SpikingJelly). The table was read from each library's own
exporter and forward pass (the versions the ``peers`` extra of pyproject.toml pins); ``tests/test_nir_peers.py`` holds
flipspike's import against each library's forward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from flipspike.ir.errors import DescriptionError

INTEGRATIONS = ("euler", "exact")


@dataclass(frozen=True)
class Convention:
    name: str
    dt: float                   # seconds per time step that the library writes tau in (1.0: tau in steps)
    integration: str            # "euler" or "exact"
    strict: bool                # fires where v > v_threshold (NIR's rule); False: v >= v_threshold
    reset: str | None = None    # "soft" where the library subtracts the threshold whatever v_reset says
    tau_times_dt: bool = False  # Norse 1.1 writes tau = dt / tau_mem_inv, i.e. dt times the time constant
    about: str = ""
    dt_inferred: bool = False   # dt = tau/r found in the graph (``inferred_dt``), not named by anyone

    def describe(self) -> str:
        fires = ("v > v_threshold (theta = floor(v_threshold * 2**F) + 1)" if self.strict
                 else "v >= v_threshold (theta = ceil(v_threshold * 2**F))")
        step = "tau in time steps" if self.dt == 1 else f"tau in seconds, dt = {self.dt:g} s per step"
        if self.dt_inferred:
            step += " (inferred as tau/r: no producer or dt given)"
        return f"read as {self.name}'s: {step}, {self.integration} integration, fires where {fires}"

    def step(self, tau: float | None, r, v_leak):
        """(lambda, input gain, offset) of one time step for a LIF (tau given) or IF (tau None)."""
        if tau is None:
            return 1.0, r * self.dt, 0.0 * r
        tau = tau / self.dt if self.tau_times_dt else tau
        if tau <= 0:
            raise DescriptionError(f"tau = {tau:g} is not positive")
        if self.integration == "exact":
            lam = math.exp(-self.dt / tau)
            return lam, r * (1 - lam), v_leak * (1 - lam)
        a = self.dt / tau
        if a >= 1:
            raise DescriptionError(
                f"tau = {tau:g} s is not longer than the time step dt = {self.dt:g} s: forward Euler would give a "
                f"leak lambda = 1 - dt/tau = {1 - a:g}. If the graph's tau is in seconds, give its time step "
                "(--dt, e.g. 1e-4 for snnTorch and SpikingJelly, 1e-3 for Norse), or name the library that wrote "
                "it (--producer)")
        return 1 - a, r * a, v_leak * a


CONVENTIONS = {c.name: c for c in (
    # NIR's own reading where nothing says otherwise: tau in time steps, forward Euler, v > v_threshold
    Convention("nir", 1.0, "euler", True, about="NIR's LIF with tau in time steps (dt = 1), forward Euler"),
    Convention("flipspike", 1.0, "euler", True, about="flipspike's own export (tau = 2^k steps, r = tau)"),
    Convention("snntorch", 1e-4, "euler", True,
               about="snn.Leaky(beta): tau = dt/(1-beta), r = tau/dt with dt = 1e-4; spikes where mem > threshold"),
    Convention("norse", 1e-3, "euler", True, tau_times_dt=True,
               about="LIFBoxCell: v += dt*tau_mem_inv*(v_leak - v + i), dt = 1e-3; its exporter writes "
                     "tau = dt / tau_mem_inv; spikes where v > v_th"),
    Convention("sinabs", 1.0, "exact", False, reset="soft",
               about="LIF(tau_mem): v = exp(-1/tau) v + (1 - exp(-1/tau)) I (norm_input), SingleSpike "
                     "(v >= threshold), MembraneSubtract reset"),
    Convention("spikingjelly", 1e-4, "euler", False,
               about="LIFNode(tau): v += (x - v)/tau (decay_input) or v = v - v/tau + x, dt = 1e-4; "
                     "heaviside(v - v_threshold) >= 0"),
)}


def inferred_dt(neurons) -> float | None:
    """The time step a graph implies where nothing names it: exporters that keep an input gain of 1 under
    Euler write r = tau/dt (snnTorch, SpikingJelly's LIFNode(decay_input=False), flipspike), so dt = tau/r,
    when every LIF node agrees and tau is written in seconds (tau < 1, r > 1). None: no such dt."""
    found = []
    for node in neurons:
        if type(node).__name__ != "LIF":
            continue
        tau, r = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (node.tau, node.r))
        if not (np.allclose(tau, tau[0]) and np.allclose(r, r[0])) or not (tau[0] < 1 < r[0]):
            return None
        found.append(tau[0] / r[0])
    if not found or not np.allclose(found, found[0], rtol=1e-6):
        return None
    return float(found[0])


def convention_for(metadata: dict | None, producer: str | None = None, dt: float | None = None,
                   integration: str | None = None, neurons=()) -> Convention:
    """The convention of a graph: the producer named by the user, else by the graph's metadata, else NIR's
    own with the time step ``inferred_dt`` finds in ``neurons`` (the graph's nodes); ``dt`` and
    ``integration`` given by the user override it."""
    meta = metadata or {}
    name = producer or str(meta.get("producer") or meta.get("source") or "nir").lower()
    if name not in CONVENTIONS:
        if producer is not None:
            raise DescriptionError(f"unknown producer {producer!r}; known: {', '.join(CONVENTIONS)}")
        name = "nir"
    conv = CONVENTIONS[name]
    if producer is None and "dt" in meta:
        conv = replace(conv, dt=float(meta["dt"]))
    elif name == "nir" and dt is None:
        found = inferred_dt(neurons)
        if found is not None:
            conv = replace(conv, dt=found, dt_inferred=True)
    if producer is None and meta.get("integration") in INTEGRATIONS:
        conv = replace(conv, integration=meta["integration"])
    if name == "flipspike" and meta.get("threshold_rule") != "v > v_threshold":
        conv = replace(conv, strict=False)          # written before flipspike followed NIR's strict rule
    if dt is not None:
        if not dt > 0:
            raise DescriptionError(f"--dt {dt:g}: the time step must be positive (seconds per step)")
        conv = replace(conv, dt=float(dt))
    if integration is not None:
        if integration not in INTEGRATIONS:
            raise DescriptionError(f"integration {integration!r}: use one of {', '.join(INTEGRATIONS)}")
        conv = replace(conv, integration=integration)
    return conv


@dataclass(frozen=True)
class Reader:
    """How a library's own NIR *importer* builds neurons from a graph: what ``export --for LIB`` writes
    for. (A library's importer need not invert its exporter: Norse's reads tau as 1/tau_mem_inv but its
    exporter writes dt/tau_mem_inv.)"""
    name: str
    dt: float                   # seconds per step it reads tau in
    integration: str            # "euler" (lambda = 1 - dt/tau) or "exact" (lambda = exp(-dt/tau))
    strict: bool                # its neurons fire where v > v_threshold
    reads_r: bool               # False: its input gain is dt/tau (Euler) or 1 (exact) whatever r says
    uniform_threshold: bool     # takes one v_threshold per layer (flipspike scales each row to threshold 1)
    resets: tuple[str, ...]     # the flipspike resets its neurons can compute exactly (nir 1.0.5+ turns an
                                # absent v_reset into 0, so a graph cannot ask a library for a soft reset)
    caveat: str = ""            # what it computes that no graph can change, printed on export
    or_pool: bool = True         # can run OR-pooling as SumPool2d -> LIF (hard reset, fires on one spike)

    def leak(self, k: int) -> float:
        """tau for lambda = 1 - 2**-k."""
        if self.integration == "exact":
            return -self.dt / math.log(1 - 2.0 ** -k)
        return self.dt * 2.0 ** k

    def gain(self, tau: float | None, r: float) -> float:
        """The input gain its neuron applies for (tau, r); tau None: an IF neuron."""
        if tau is None:
            return r * self.dt if self.reads_r else 1.0
        if self.integration == "exact":
            return r * (1 - math.exp(-self.dt / tau)) if self.reads_r else 1.0
        return r * self.dt / tau if self.reads_r else self.dt / tau


READERS = {r.name: r for r in (
    Reader("nir", 1.0, "euler", True, True, False, ("hard", "soft")),
    Reader("snntorch", 1e-4, "euler", True, True, True, ("hard",),
           caveat="snntorch.import_nir builds Leaky(reset_mechanism='zero'); IF layers it reads with beta=0.9; "
                  "it applies a conv net's Flatten(start_dim=0) to batched tensors (feed one sample at a time)",
           ),
    Reader("norse", 1e-3, "euler", True, False, False, ("hard",),
           caveat="norse.torch.from_nir ignores r: the input gain dt/tau is folded into the weights; it applies "
                  "a conv net's Flatten(start_dim=0) to batched tensors (feed one sample at a time)"),
    Reader("spikingjelly", 1e-4, "euler", False, True, True, ("hard",)),
    Reader("sinabs", 1.0, "exact", False, False, False, ("soft",),
           caveat="sinabs.from_nir builds LIFSqueeze with MultiSpike: a neuron whose membrane reaches twice its "
                  "threshold emits 2 at once; set each layer's spike_fn = sinabs.activation.SingleSpike for "
                  "flipspike's one spike; IF layers become IAFSqueeze(min_v_mem=-threshold), a membrane floor "
                  "flipspike does not have", or_pool=False),
)}
