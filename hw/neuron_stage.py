"""Stages C and D of a LIF layer engine: the group's membrane prepared as its drive accumulates, then
updated."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir import LayerWidths

from .neuron import NeuronPrepare, NeuronUpdate, threshold_term


class NeuronStage(wiring.Component):
    """PE LIF neurons of a group (:mod:`flipspike.hw.neuron`'s two halves, with the registers between).

    ``theta``: the group's threshold word, the cycle before stage C (its term is registered); at C, with
    ``first`` (the group's first word), ``v`` (its membrane word; 0 at step 0: ``t0``) is leaked and its
    margin to the threshold latched; after the group's last word ``drive`` (the accumulator) gives
    ``v_next`` and ``spike`` combinationally, for the write-back at stage D. With ``forward`` (a layer of
    one group, going straight on), the only group's membrane is read as stage D writes it back (``step``:
    the write-back happens this cycle), so the word written is used instead of the word read.
    """

    def __init__(self, lanes: int, widths: LayerWidths, *, drive_width: int, leak_shift: int | None,
                 reset: str = "hard", forward: bool = False):
        self.lanes, self.widths, self.drive_width = lanes, widths, drive_width
        self.leak_shift, self.reset, self.forward = leak_shift, reset, forward
        lanes_of = lambda shape: data.ArrayLayout(shape, lanes)
        super().__init__({"first": In(1), "t0": In(1), "step": In(1),
                          "theta": In(lanes_of(unsigned(widths.threshold))),
                          "v": In(lanes_of(signed(widths.state))),
                          "drive": In(lanes_of(signed(drive_width))),
                          "v_next": Out(lanes_of(signed(widths.state))),
                          "spike": Out(lanes)})

    def elaborate(self, platform):
        m = Module()
        W, pe = self.widths, self.lanes
        m.submodules.prepare = prep = NeuronPrepare(pe, W, leak_shift=self.leak_shift)
        m.submodules.update = update = NeuronUpdate(pe, W, drive_width=self.drive_width, kind="lif",
                                                    reset=self.reset)
        for p in range(pe):
            v_now = Mux(self.step, update.v_next[p], self.v[p]) if self.forward else self.v[p]
            m.d.comb += prep.v[p].eq(Mux(self.t0, 0, v_now))
        theta_term = Signal.like(prep.theta_term, reset_less=True)
        for p in range(pe):
            m.d.sync += theta_term[p].eq(threshold_term(self.theta[p], self.leak_shift))
        m.d.comb += prep.theta_term.eq(theta_term)
        v_hold = Signal(data.ArrayLayout(signed(W.state), pe), reset_less=True)
        margin_hold = Signal.like(prep.margin, reset_less=True)
        with m.If(self.first):
            m.d.sync += [v_hold.eq(prep.v1), margin_hold.eq(prep.margin)]
        m.d.comb += [update.v.eq(v_hold), update.margin.eq(margin_hold), update.drive.eq(self.drive),
                     self.v_next.eq(update.v_next), self.spike.eq(update.spike)]
        return m
