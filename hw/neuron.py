"""The neuron update of PE lanes: leak, integrate, fire, reset (LIF) or accumulate (output layer)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir import LayerWidths
from flipspike.ir.formats import leak


class NeuronUpdate(wiring.Component):
    """Combinational. For each lane, with F fractional bits and leak shift k (None: no leak):

        lif:     v1 = v - (v >>> k);  v2 = v1 + (I << F) + c [+ g];  s = v2 >= theta;
                 v' = s ? (hard: 0 | soft: v2 - theta) : v2
        output:  v' = v + (I << F) + c;  s = 0

    ``g``: the shortcut term of a layer with a shortcut (the gain where the input at the neuron's place
    spiked, else 0). ``v`` must already be 0 at the first step of a sample. Widths come from the description
    (flipspike.ir.formats), which guarantees that no intermediate value overflows the state width.
    """

    def __init__(self, lanes: int, widths: LayerWidths, *, frac_bits: int, kind: str,
                 leak_shift: int | None = None, reset: str = "hard"):
        if kind not in ("lif", "output"):
            raise ValueError(f"kind must be 'lif' or 'output', got {kind!r}")
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.lanes, self.widths, self.frac_bits = lanes, widths, frac_bits
        self.kind, self.leak_shift, self.reset = kind, leak_shift, reset
        lane = lambda shape: data.ArrayLayout(shape, lanes)
        members = {
            "v": In(lane(signed(widths.state))),
            "current": In(lane(signed(widths.current))),
            "bias": In(lane(signed(widths.bias))),
            "threshold": In(lane(unsigned(widths.threshold))),
            "v_next": Out(lane(signed(widths.state))),
            "spike": Out(lanes),
        }
        if widths.shortcut:
            members["shortcut"] = In(lane(signed(widths.shortcut)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for p in range(self.lanes):
            v = self.v[p]
            if self.kind == "lif":
                v = leak(v, self.leak_shift)
            v = v + (self.current[p] << self.frac_bits) + self.bias[p]
            if self.widths.shortcut:
                v = v + self.shortcut[p]
            if self.kind == "output":
                m.d.comb += self.v_next[p].eq(v)
                continue
            fire = v >= self.threshold[p]
            after = 0 if self.reset == "hard" else v - self.threshold[p]
            m.d.comb += [self.spike[p].eq(fire), self.v_next[p].eq(Mux(fire, after, v))]
        return m
