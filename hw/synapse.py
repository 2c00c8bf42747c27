"""The synapse array: PE neurons x SIMD inputs of binary (+-1) weights, one fold per cycle."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.formats import signed_width

from .arith import tree_levels, tree_sum

#: Registers from (x, w) to ``current``: at the inputs (block RAM outputs are slow: 5.6 ns on an ECP5
#: without its output register), after the adder trees' first FIRST_LEVELS levels, and at the output.
#: The gated adds and a 16-input tree in one cycle were an iCE40 build's critical path.
SYNAPSE_LATENCY = 3
FIRST_LEVELS = 2


class SynapseArray(wiring.Component):
    """current[p] = sum_i (2 b[p,i] - 1) x[i] = 2 * sum_i b[p,i] x[i] - sum_i x[i].

    Weight bit b = 1 is +1. For 1-bit spikes this is the AND-popcount 2*popcount(s & b) - popcount(s):
    a plain XNOR-popcount would count silent inputs (0, weight -1) as matches. For multi-bit pixels
    (the first layer) the same formula holds with b*x a gated add. ``active`` counts nonzero inputs.

    Weight word layout: bit p*SIMD + i is the weight of neuron p (of the group) from input i (of the fold).
    Pipelined: ``current`` and ``active`` follow (x, w) SYNAPSE_LATENCY cycles later.
    """

    def __init__(self, simd: int, pe: int, input_bits: int):
        if simd < 1 or pe < 1 or input_bits < 1:
            raise ValueError(f"SynapseArray needs simd, pe, input_bits >= 1; got {simd}, {pe}, {input_bits}")
        self.simd, self.pe, self.input_bits = simd, pe, input_bits
        xmax = (1 << input_bits) - 1
        self.current_width = signed_width(-simd * xmax, simd * xmax)
        super().__init__({
            "x": In(data.ArrayLayout(unsigned(input_bits), simd)),
            "w": In(pe * simd),
            "current": Out(data.ArrayLayout(signed(self.current_width), pe)),
            "active": Out(range(simd + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        # (datapath registers have no reset: free of set/reset nets, an iCE40 packs them more easily)
        x_in, w_in = Signal.like(self.x, reset_less=True), Signal.like(self.w, reset_less=True)
        m.d.sync += [x_in.eq(self.x), w_in.eq(self.w)]
        xs = [x_in[i] for i in range(self.simd)]
        trees = [[Mux(w_in[p * self.simd + i], x, 0) for i, x in enumerate(xs)] for p in range(self.pe)]
        trees += [xs, [x != 0 for x in xs]]          # lane trees, the total of the inputs, the active inputs
        sums = []
        for k, tree in enumerate(trees):
            partial = []
            for j, value in enumerate(tree_levels(tree, FIRST_LEVELS)):
                reg = Signal(value.shape(), name=f"partial_{k}_{j}", reset_less=True)
                m.d.sync += reg.eq(value)
                partial.append(reg)
            sums.append(tree_sum(partial))
        *lanes, total, active = sums
        for p in range(self.pe):
            m.d.sync += self.current[p].eq((lanes[p] << 1) - total)
        m.d.sync += self.active.eq(active)
        return m
