"""Stages C and D of the output layer: accumulators in registers, a running argmax, the result stream."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir import LayerWidths

from .interfaces import result_layout
from .neuron import NeuronUpdate


def stage_flags(groups: int) -> data.StructLayout:
    """The flags of a word the output stage looks at: ``first`` (of its group), ``nf`` (the group),
    ``t0`` / ``tlast`` (step 0 / the sample's last step), ``end`` (the step's last word)."""
    return data.StructLayout({"first": 1, "nf": range(max(2, groups)), "t0": 1, "tlast": 1, "end": 1})


class OutputStage(wiring.Component):
    """The output layer's neurons: v' = v + D per lane (no leak, no spike) in ``n_out`` accumulators,
    ``groups`` groups of ``lanes``, and the argmax over the last step.

    The flags of three stages come in: ``pre`` (the cycle before C), ``c`` (C) and ``d`` (D, where
    ``step`` writes the group's ``v + drive`` back: ``drive`` is the accumulator after the group's last
    word). At step 0 the accumulators count from 0. As the last step's groups are written back, the
    argmax runs in registered stages (the group's best lane as a tree, then the running best across
    groups; the lowest index wins ties), and the class with every accumulator is offered on ``result``
    until taken. With ``result_register`` the accumulators are copied when the last write-back is done,
    so the next sample may start at once; otherwise ``result`` shows the accumulators themselves.
    ``free``: nothing of the last result is pending or offered.
    """

    def __init__(self, n_out: int, lanes: int, widths: LayerWidths, drive_width: int, *, result_register: bool):
        if lanes < 1 or n_out % lanes:
            raise ValueError(f"output stage: {n_out} classes do not split into groups of {lanes} lanes")
        self.n_out, self.lanes, self.groups = n_out, lanes, n_out // lanes
        self.widths, self.state_width = widths, widths.state
        self.drive_width, self.result_register = drive_width, result_register
        flags = stage_flags(self.groups)
        super().__init__({"pre": In(flags), "c": In(flags), "d": In(flags), "step": In(1),
                          "drive": In(data.ArrayLayout(signed(drive_width), lanes)),
                          "result": Out(stream.Signature(result_layout(n_out, widths.state))),
                          "free": Out(1)})

    def elaborate(self, platform):
        m = Module()
        pe, groups, S = self.lanes, self.groups, self.state_width
        pre, c, d = self.pre, self.c, self.d
        lanes = data.ArrayLayout(signed(S), pe)
        m.submodules.neurons = neurons = NeuronUpdate(pe, self.widths, drive_width=self.drive_width,
                                                      kind="output")
        m.d.comb += neurons.drive.eq(self.drive)
        accs = Signal(data.ArrayLayout(signed(S), self.n_out))
        if groups == 1:          # one group: its accumulators are read in place (0 at the first step)
            for p in range(pe):
                m.d.comb += neurons.v[p].eq(Mux(d.t0, 0, accs[p]))
        else:   # the group's accumulators, selected as its first word reaches stage C (the previous
            # step's write-back of the group is at least a group earlier: a register, not a wide mux, feeds D)
            picked = Signal(lanes, reset_less=True)
            if groups < 3:
                with m.If(c.first):
                    with m.Switch(c.nf):
                        for g in range(groups):
                            with m.Case(g):
                                for p in range(pe):
                                    m.d.sync += picked[p].eq(Mux(c.t0, 0, accs[g * pe + p]))
            else:   # in two levels: a group within each block of four a cycle earlier (with 3 or more groups
                # the previous step's write-back of the group has landed by then), the block at C
                blocks = [Signal(lanes, name=f"acc_block{b}", reset_less=True) for b in range((groups + 3) // 4)]
                with m.If(pre.first):
                    for b, near in enumerate(blocks):
                        with m.Switch(pre.nf[:2]):
                            for j in range(min(4, groups - 4 * b)):
                                with m.Case(j):
                                    m.d.sync += near.eq(accs.as_value().word_select(4 * b + j, pe * S))
                with m.If(c.first):
                    with m.Switch(c.nf[2:]):
                        for b, near in enumerate(blocks):
                            with m.Case(b):
                                for p in range(pe):
                                    m.d.sync += picked[p].eq(Mux(c.t0, 0, near[p]))
            m.d.comb += neurons.v.eq(picked)
        with m.Switch(d.nf):     # write back
            for g in range(groups):
                with m.Case(g):
                    for p in range(pe):
                        with m.If(self.step):
                            m.d.sync += accs[g * pe + p].eq(neurons.v_next[p])
        m.d.comb += self.free.eq(self._argmax(m, accs, neurons.v_next))
        return m

    def _argmax(self, m, accs, v_next):
        """The argmax and the result stream; returns "the result is out" (nothing pending, nothing offered)."""
        pe, S, d = self.lanes, self.state_width, self.d
        cls = Signal.like(self.result.payload.cls)
        res_valid = Signal()
        a_step, a_done, a_nf = Signal(), Signal(), Signal(d.nf.shape())
        a_val = Signal(data.ArrayLayout(signed(S), pe), reset_less=True)
        last = self.step & d.tlast
        m.d.sync += [a_step.eq(last), a_done.eq(last & d.end), a_nf.eq(d.nf)]
        # the result's accumulators: copied once the last write-back is done, so the next sample may
        # start at once (step 0 overwrites the accumulators); or the accumulators themselves
        result_acc = accs
        if self.result_register:
            result_acc = Signal.like(accs, reset_less=True)
            with m.If(a_done):
                m.d.sync += result_acc.eq(accs)
        with m.If(self.step):
            m.d.sync += a_val.eq(v_next)
        lanes_best = [(a_val[p], Const(p, range(pe))) for p in range(pe)]
        pending = [a_done]
        level = 0
        while len(lanes_best) > 1:                          # left holds the lower indices: keep it on ties
            pairs = []
            for k in range(0, len(lanes_best) - 1, 2):
                (lv, li), (rv, ri) = lanes_best[k], lanes_best[k + 1]
                right = rv > lv
                pairs.append((Mux(right, rv, lv), Mux(right, ri, li)))
            pairs += [lanes_best[-1]] if len(lanes_best) % 2 else []
            lanes_best = []
            for k, (v, i) in enumerate(pairs):
                rv = Signal(signed(S), name=f"best{level}_{k}", reset_less=True)
                ri = Signal(range(pe), name=f"best{level}_idx{k}", reset_less=True)
                m.d.sync += [rv.eq(v), ri.eq(i)]
                lanes_best.append((rv, ri))
            nxt = Signal(), Signal(), Signal.like(a_nf)
            m.d.sync += [nxt[0].eq(a_step), nxt[1].eq(a_done), nxt[2].eq(a_nf)]
            a_step, a_done, a_nf = nxt
            pending.append(a_done)
            level += 1
        g_step, g_done, g_first = Signal(), Signal(), Signal()
        g_val, g_idx = Signal(signed(S)), Signal.like(cls)
        m.d.sync += [g_step.eq(a_step), g_done.eq(a_done), g_first.eq(a_nf == 0), g_val.eq(lanes_best[0][0]),
                     g_idx.eq(a_nf * pe + lanes_best[0][1])]
        best_val = Signal(signed(S))
        best_idx = Signal.like(cls)
        # g_val > best_val, compared a cycle ahead (g_val's next value is the tree's output): against
        # best_val, and against g_val in case g_val becomes the best at this clock edge
        gt_best, gt_last, took = Signal(), Signal(), Signal()
        m.d.sync += [gt_best.eq(lanes_best[0][0] > best_val), gt_last.eq(lanes_best[0][0] > g_val)]
        take = g_first | Mux(took, gt_last, gt_best)
        m.d.sync += took.eq(g_step & take)
        with m.If(g_step & take):
            m.d.sync += [best_val.eq(g_val), best_idx.eq(g_idx)]
        with m.If(g_done):
            m.d.sync += [cls.eq(Mux(take, g_idx, best_idx)), res_valid.eq(1)]
        with m.Elif(self.result.ready & res_valid):
            m.d.sync += res_valid.eq(0)
        m.d.comb += [self.result.valid.eq(res_valid), self.result.payload.cls.eq(cls),
                     self.result.payload.acc.eq(result_acc)]
        return ~Cat(*pending, g_done, res_valid).any()
