"""Stage C of a layer engine: a neuron group's drive, accumulated word by word."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir import LayerWidths
from flipspike.ir.plan import SYNAPSE_LATENCY


class Accumulator(wiring.Component):
    """PE lanes of D = (I << F) + c [+ g]: the drive of a neuron group, summed over its input words.

    Each cycle ``valid`` is high, ``acc`` becomes (``first`` ? start : acc) + (current << F), where start
    is the bias word ``bias`` [+ the shortcut term] and ``current`` the synapse array's current of one
    input word. ``acc`` holds the drive after the group's last word. With ``shortcut``, the term of lane
    p is ``gain`` where the input at the neuron's own place spiked: ``own`` (its bits, as read at stage
    B) is delayed here by SYNAPSE_LATENCY cycles to meet its word's current. In the first layer
    (``first_layer``), the synapse phase (``syn``) accumulates (I << F) alone, and the neuron steps replay the group's stored
    current ``stored`` (one pseudo-word per group) with the bias.
    """

    def __init__(self, lanes: int, widths: LayerWidths, frac_bits: int, *, first_layer: bool = False,
                 shortcut: bool = False):
        if lanes < 1:
            raise ValueError(f"accumulator: lanes must be >= 1, got {lanes}")
        self.lanes, self.widths, self.frac_bits = lanes, widths, frac_bits
        self.first_layer, self.shortcut = first_layer, shortcut
        lanes_of = lambda shape: data.ArrayLayout(shape, lanes)
        members = {"valid": In(1), "first": In(1),
                   "current": In(lanes_of(signed(widths.current))),
                   "bias": In(lanes_of(signed(widths.bias))),
                   "acc": Out(lanes_of(signed(widths.drive(frac_bits))))}
        if first_layer:
            members |= {"syn": In(1), "stored": In(lanes_of(signed(widths.current)))}
        if shortcut:
            members |= {"gain": In(lanes_of(signed(widths.shortcut))), "own": In(lanes)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        F, W = self.frac_bits, self.widths
        acc = Signal(self.acc.shape(), name="acc", reset_less=True)
        start = Signal(self.acc.shape())
        term = [0] * self.lanes
        if self.shortcut:                                  # the gain where the input at the neuron's place spiked
            own = self.own
            for _ in range(SYNAPSE_LATENCY):               # (read at stage A, with the input word: here at B)
                own_next = Signal.like(own, reset_less=True)
                m.d.sync += own_next.eq(own)
                own = own_next
            term = [Mux(own[p], self.gain[p], 0) for p in range(self.lanes)]
        partial = Signal(data.ArrayLayout(signed(W.current), self.lanes))
        for p in range(self.lanes):
            bias = self.bias[p] + term[p]
            if self.first_layer:
                m.d.comb += [partial[p].eq(Mux(self.syn, self.current[p], self.stored[p])),
                             start[p].eq(Mux(self.syn, 0, bias))]
            else:
                m.d.comb += [partial[p].eq(self.current[p]), start[p].eq(bias)]
        with m.If(self.valid):
            for p in range(self.lanes):
                m.d.sync += acc[p].eq(Mux(self.first, start[p], acc[p]) + (partial[p] << F))
        m.d.comb += self.acc.eq(acc)
        return m
