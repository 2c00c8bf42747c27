"""The neuron update of PE lanes: leak, integrate, fire, reset (LIF) or accumulate (output layer).

The update is split over two pipeline stages, so that the last one (which writes the membrane back
and the spikes out) is one addition and a multiplexer deep. With F fractional bits, leak shift k
(None: no leak), drive D = (I << F) + c [+ g] (current I, bias c, shortcut term g; the engine
accumulates it):

    NeuronPrepare (with the membrane read):  v1 = v - (v >>> k);  margin = v1 - theta
                                              (margin as v + ~(v >>> k) + (1 - theta): a carry-save
                                              layer and one carry chain, 1 - theta precomputed)
    NeuronUpdate  (after the group's words):  v2 = v1 + D;  w = margin + D  (= v2 - theta);
                                              s = w >= 0;  v' = s ? (hard: 0 | soft: w) : v2
    output layer:                             v' = v + D;  s = 0

which is, term for term, ``v2 = v - (v >>> k) + (I << F) + c [+ g]; s = v2 >= theta`` of the integer
semantics (docs/integer-semantics.md). Widths come from the description (flipspike.ir.formats), which
guarantees that no intermediate value overflows the state width.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir import LayerWidths
from flipspike.ir.formats import leak


def _lanes(shape, lanes: int):
    return data.ArrayLayout(shape, lanes)


class NeuronPrepare(wiring.Component):
    """Combinational, LIF layers: the leaked membrane v1 and its margin v1 - theta, per lane, from the
    membrane ``v`` and ``theta_term`` = :func:`threshold_term` (theta), which the engine computes a
    cycle earlier: so the margin is one carry chain behind the membrane read, not two."""

    def __init__(self, lanes: int, widths: LayerWidths, *, leak_shift: int | None = None):
        self.lanes, self.widths, self.leak_shift = lanes, widths, leak_shift
        super().__init__({
            "v": In(_lanes(signed(widths.state), lanes)),
            "theta_term": In(_lanes(signed(widths.threshold + 2), lanes)),
            "v1": Out(_lanes(signed(widths.state), lanes)),
            "margin": Out(_lanes(signed(widths.margin), lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        width = self.widths.margin
        for p in range(self.lanes):
            v, term = self.v[p], self.theta_term[p]
            m.d.comb += self.v1[p].eq(leak(v, self.leak_shift))
            if self.leak_shift is None:                  # v - theta = v + (-theta)
                m.d.comb += self.margin[p].eq(v + term)
                continue
            # v - (v >>> k) - theta = v + ~(v >>> k) + (1 - theta): three operands, summed carry-save
            # (sum and majority bits), then one addition; modulo 2**width, where the margin fits
            a, b, c = (Signal(signed(width), name=f"csa{p}_{n}") for n in "abc")    # (sign-extended)
            m.d.comb += [a.eq(v), b.eq(~(v >> self.leak_shift)), c.eq(term)]
            s, carry = a ^ b ^ c, (a & b) | (a & c) | (b & c)
            m.d.comb += self.margin[p].eq((s.as_unsigned() + (carry.as_unsigned() << 1))[:width].as_signed())
        return m


def threshold_term(theta, leak_shift: int | None):
    """What NeuronPrepare takes for the threshold: 1 - theta with a leak (see its docstring), -theta
    without."""
    return (0 if leak_shift is None else 1) - theta


class NeuronUpdate(wiring.Component):
    """Combinational: ``v`` (v1, the leaked membrane; the accumulator for an output layer), ``margin``
    (v1 - theta, LIF only) and ``drive`` D -> ``v_next`` and ``spike`` (see the module's docstring)."""

    def __init__(self, lanes: int, widths: LayerWidths, *, drive_width: int, kind: str, reset: str = "hard"):
        if kind not in ("lif", "output"):
            raise ValueError(f"kind must be 'lif' or 'output', got {kind!r}")
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.lanes, self.widths, self.kind, self.reset = lanes, widths, kind, reset
        members = {
            "v": In(_lanes(signed(widths.state), lanes)),
            "drive": In(_lanes(signed(drive_width), lanes)),
            "v_next": Out(_lanes(signed(widths.state), lanes)),
            "spike": Out(lanes),
        }
        if kind == "lif":
            members["margin"] = In(_lanes(signed(widths.margin), lanes))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for p in range(self.lanes):
            v2 = self.v[p] + self.drive[p]
            if self.kind == "output":
                m.d.comb += self.v_next[p].eq(v2)
                continue
            w = self.margin[p] + self.drive[p]
            fire = w >= 0
            after = 0 if self.reset == "hard" else w
            m.d.comb += [self.spike[p].eq(fire), self.v_next[p].eq(Mux(fire, after, v2))]
        return m
