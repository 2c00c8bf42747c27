"""The synapse array: PE neurons x SIMD inputs of binary (+-1) weights, one fold per cycle."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.formats import signed_width

from .arith import registered_tree_sum

#: The registers from (x, w) to ``current``, :data:`flipspike.ir.plan.SYNAPSE_LATENCY` of them (the plan
#: times the pipeline by that number; test_blocks_pysim holds this array to it): at the inputs, after the adder trees' first FIRST_LEVELS levels, and at the output. The
#: gated adds and a 16-input tree in one cycle were an iCE40 build's critical path.
FIRST_LEVELS = 2


class SynapseArray(wiring.Component):
    """current[p] = sum_i (2 b[p,i] - 1) x[i]. Weight bit b = 1 is +1.

    For 1-bit spikes this is the AND-popcount 2*popcount(s & b) - popcount(s) (the lanes' popcounts and
    the inputs' total, subtracted at the end): a plain XNOR-popcount would count silent inputs (0,
    weight -1) as matches. For multi-bit pixels (the first layer) each synapse picks +x or -x, so a
    lane's tree sums the current itself (no wide subtraction after a tree of wide sums). How -x is made
    is the device's choice (``early_negation``): negations registered with the inputs (the iCE40: its
    adder tree after the registers sets the clock), or -x = ~x + 1 after the input registers, the lane's
    -1 weights counted in its own tree (the ECP5: its block RAM's unregistered output, 5.8 ns, into a
    negation's carry chain set the clock). ``active`` counts nonzero inputs.

    Weight word layout: bit p*SIMD + i is the weight of neuron p (of the group) from input i (of the fold).
    Pipelined: ``current`` and ``active`` follow (x, w) SYNAPSE_LATENCY cycles later.
    """

    def __init__(self, simd: int, pe: int, input_bits: int, *, early_negation: bool = True):
        if simd < 1 or pe < 1 or input_bits < 1:
            raise ValueError(f"SynapseArray needs simd, pe, input_bits >= 1; got {simd}, {pe}, {input_bits}")
        self.simd, self.pe, self.input_bits, self.early_negation = simd, pe, input_bits, early_negation
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
        weight = [[w_in[p * self.simd + i] for i in range(self.simd)] for p in range(self.pe)]
        if self.input_bits == 1:                     # lanes' popcounts and the total, then 2 x lane - total
            trees = [[w & x for w, x in zip(ws, xs)] for ws in weight] + [xs]
        elif self.early_negation:                    # +x or -x per synapse: the trees sum the currents
            neg = [Signal(signed(self.input_bits + 1), name=f"neg{i}", reset_less=True) for i in range(self.simd)]
            m.d.sync += [n.eq(-self.x[i]) for i, n in enumerate(neg)]
            trees = [[Mux(w, x, n) for w, x, n in zip(ws, xs, neg)] for ws in weight]
        else:   # -x = ~x + 1: per synapse x or ~x (no carry chain), and the lane's -1 weights counted in its tree
            wide = [Cat(x, Const(0, 1)).as_signed() for x in xs]
            trees = [[Mux(w, x, ~x) for w, x in zip(ws, wide)] + [~w for w in ws] for ws in weight]
        sums = [registered_tree_sum(m, tree, FIRST_LEVELS, f"partial_{k}")
                for k, tree in enumerate(trees + [[x != 0 for x in xs]])]
        *lanes, active = sums
        if self.input_bits == 1:
            *lanes, total = lanes
            lanes = [(lane << 1) - total for lane in lanes]
        for p in range(self.pe):
            m.d.sync += self.current[p].eq(lanes[p])
        m.d.sync += self.active.eq(active)
        return m
