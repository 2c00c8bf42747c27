"""The flip-trigger update unit: BSO's rule applied to a layer's weight memory, PE x SIMD weights a cycle.

One update walks every weight word (address nf*F_in + sf, the layer engine's layout) in a two-stage
pipeline: A reads the weight word, its momentum word, the PE errors delta[nf] and the SIMD traces
trace[sf]; B forms g = delta * trace for every lane, applies the integer rule of
flipspike.ir.learning and writes weight bits and momenta back. Cost: F_out*F_in + 1 cycles per update,
counted in hardware with the flips. No gradient memory: g is formed on the fly.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.folding import Fold, check_fold
from flipspike.ir.formats import COUNTER_WIDTH
from flipspike.ir.learning import FlipRule

from .arith import tree_sum
from .interfaces import WriteSignature


class WeightPortSignature(wiring.Signature):
    """The unit's access to a weight memory: read ``raddr`` with one cycle of latency, write ``waddr``."""

    def __init__(self, depth: int, width: int):
        addr = range(max(2, depth))
        super().__init__({"raddr": Out(addr), "rdata": In(width), "waddr": Out(addr), "wdata": Out(width),
                          "we": Out(1)})


class LearnSignature(wiring.Signature):
    """The host's handle on a layer's flip unit (components take ``In(LearnSignature(...))``).

    ``start``: one update (the accelerator idle). With ``from_label`` low, the errors and traces were
    written over the load bus beforehand (gradient source (a)); with it high, the output layer learns
    from ``label`` alone (source (b)): the errors come from the last result's class and ``label``, the
    traces from the spike counts the layer saw during that inference. ``busy`` until the last word is
    written back. ``readback_addr`` -> ``readback_weights`` / ``readback_momentum``: one weight word and
    its momenta, one cycle later, while idle.
    """

    def __init__(self, words: int, lanes: int, momentum_bits: int, classes: int = 2, v_bits: int = 0):
        members = {
            "start": Out(1), "busy": In(1), "flips": In(COUNTER_WIDTH), "cycles": In(COUNTER_WIDTH),
            "readback_addr": Out(range(max(2, words))), "readback_weights": In(lanes),
            "readback_momentum": In(lanes * momentum_bits),
            "from_label": Out(1), "label": Out(range(max(2, classes))),
        }
        if v_bits:                                          # T-BSO mode: the second moment, read back
            members["v"] = In(v_bits)
        super().__init__(members)


class CountSignature(wiring.Signature):
    """On-chip traces: during inference the layer reports each input word it reads at its first neuron
    group (``bits``, SIMD spikes of word ``addr``); the unit adds them to the trace (``clear``: the
    sample's first step), saturating. Components take ``In(CountSignature(...))``."""

    def __init__(self, words: int, simd: int):
        super().__init__({"en": Out(1), "addr": Out(range(max(2, words))), "bits": Out(simd), "clear": Out(1)})


class FlipLanes(wiring.Component):
    """Combinational: the integer flip rule on PE x SIMD lanes (lane p*SIMD + i: neuron p, input i)."""

    def __init__(self, fold: Fold, rule: FlipRule):
        self.fold, self.rule = fold, rule
        lanes = fold.pe * fold.simd
        super().__init__({
            "bits": In(lanes),
            "momentum": In(data.ArrayLayout(signed(rule.momentum_bits), lanes)),
            "delta": In(data.ArrayLayout(signed(rule.delta_bits), fold.pe)),
            "trace": In(data.ArrayLayout(unsigned(rule.trace_bits), fold.simd)),
            "bits_next": Out(lanes),
            "momentum_next": Out(data.ArrayLayout(signed(rule.momentum_bits), lanes)),
            "tv": In(rule.v_bits + 16),                    # T-BSO: theta2 * v
            "flips": Out(range(lanes + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        rule, simd = self.rule, self.fold.simd
        flips = []
        for lane in range(self.fold.pe * simd):
            p, i = divmod(lane, simd)
            g = self.delta[p] * self.trace[i]
            mom = self.momentum[lane]
            total = Signal(signed(rule.sum_width), name=f"sum{lane}")
            m.d.comb += total.eq(mom - (mom >> rule.rate_shift) + (g >> rule.grad_shift))
            sat = Mux(total > rule.m_max, rule.m_max, Mux(total < rule.m_min, rule.m_min, total))
            new = Signal(signed(rule.momentum_bits), name=f"m{lane}")
            m.d.comb += new.eq(sat)
            flip = Signal(name=f"flip{lane}")
            base = Mux(self.bits[lane], new > rule.threshold, new < -rule.threshold)
            m.d.comb += flip.eq(base & (new * new > self.tv) if rule.tbso else base)
            m.d.comb += [self.bits_next[lane].eq(self.bits[lane] ^ flip),
                         self.momentum_next[lane].eq(Mux(flip, 0, new) if rule.reset_on_flip else new)]
            flips.append(flip)
        m.d.comb += self.flips.eq(tree_sum(flips))
        return m


class FlipUnit(wiring.Component):
    """Applies one BSO update to a weight memory per ``start`` pulse.

    ``delta`` / ``trace``: the host (or an on-chip error source) writes per-neuron errors (PE per word)
    and per-input traces (SIMD per word) before starting. ``momentum_read``: read one momentum word back
    while idle (one cycle of latency). ``flips`` and ``cycles`` count, modulo 2**32, in hardware.
    """

    def __init__(self, n_in: int, n_out: int, fold: Fold, rule: FlipRule):
        check_fold("flip unit", n_in, n_out, fold)
        self.fold, self.rule = fold, rule
        self.f_in, self.f_out = n_in // fold.simd, n_out // fold.pe
        self.words = self.f_in * self.f_out
        lanes = fold.pe * fold.simd
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "weights": Out(WeightPortSignature(self.words, lanes)),
            "delta": In(WriteSignature(self.f_out, fold.pe * rule.delta_bits)),
            "trace": In(WriteSignature(self.f_in, fold.simd * rule.trace_bits)),
            "momentum_addr": In(range(max(2, self.words))),
            "momentum_data": Out(lanes * rule.momentum_bits),
            "flips": Out(COUNTER_WIDTH),
            "cycles": Out(COUNTER_WIDTH),
            "count": In(CountSignature(self.f_in, fold.simd)),
            "from_label": In(1),
            "label": In(range(max(2, n_out))),
            "pred": In(range(max(2, n_out))),
            **({"v": Out(rule.v_bits)} if rule.tbso else {}),
        })

    def elaborate(self, platform):
        m = Module()
        rule, fold = self.rule, self.fold
        lanes = fold.pe * fold.simd
        m.submodules.momentum = mmem = memory.Memory(shape=unsigned(lanes * rule.momentum_bits),
                                                     depth=max(2, self.words), init=[])
        m.submodules.deltas = dmem = memory.Memory(shape=unsigned(fold.pe * rule.delta_bits),
                                                   depth=max(2, self.f_out), init=[])
        m.submodules.traces = tmem = memory.Memory(shape=unsigned(fold.simd * rule.trace_bits),
                                                   depth=max(2, self.f_in), init=[])
        m_rd, m_wr, d_rd, t_rd = mmem.read_port(), mmem.write_port(), dmem.read_port(), tmem.read_port()
        d_wr, t_wr = dmem.write_port(), tmem.write_port()
        m.d.comb += [d_wr.addr.eq(self.delta.addr), d_wr.data.eq(self.delta.data), d_wr.en.eq(self.delta.en),
                     t_wr.addr.eq(self.trace.addr), t_wr.data.eq(self.trace.data), t_wr.en.eq(self.trace.en)]
        self._count_traces(m, tmem, t_wr)

        # stage A: walk the words
        addr = Signal(range(max(2, self.words)))
        sf = Signal(range(max(2, self.f_in)))
        nf = Signal(range(max(2, self.f_out)))
        running = Signal()
        m.d.comb += [self.weights.raddr.eq(addr), d_rd.addr.eq(nf), t_rd.addr.eq(sf),
                     m_rd.addr.eq(Mux(running, addr, self.momentum_addr)), self.momentum_data.eq(m_rd.data),
                     ]
        moments, tv = self._second_moment(m, d_rd, t_rd, running) if rule.tbso else (None, None)
        with m.If(running):
            m.d.sync += addr.eq(addr + 1)
            with m.If(sf == self.f_in - 1):
                m.d.sync += [sf.eq(0), nf.eq(nf + 1)]
            with m.Else():
                m.d.sync += sf.eq(sf + 1)
            with m.If(addr == self.words - 1):
                m.d.sync += [running.eq(0), addr.eq(0), sf.eq(0), nf.eq(0)]
        if moments is None:
            with m.Elif(self.start):
                m.d.sync += running.eq(1)

        # stage B: the rule on every lane, write back
        b_valid = Signal()
        b_addr = Signal.like(addr)
        b_nf = Signal.like(nf)
        m.d.sync += [b_valid.eq(running), b_addr.eq(addr), b_nf.eq(nf)]
        m.submodules.lanes = rule_lanes = FlipLanes(fold, rule)
        with m.If(self.from_label):
            self._label_deltas(m, rule_lanes.delta, b_nf)
        with m.Else():
            m.d.comb += rule_lanes.delta.eq(d_rd.data)
        m.d.comb += [rule_lanes.bits.eq(self.weights.rdata), rule_lanes.momentum.eq(m_rd.data),
                     rule_lanes.trace.eq(t_rd.data),
                     self.weights.waddr.eq(b_addr), self.weights.wdata.eq(rule_lanes.bits_next), self.weights.we.eq(b_valid),
                     m_wr.addr.eq(b_addr), m_wr.data.eq(rule_lanes.momentum_next), m_wr.en.eq(b_valid)]
        working = running | b_valid if moments is None else running | b_valid | moments
        m.d.comb += self.busy.eq(working | self.start)
        if rule.tbso:
            m.d.comb += rule_lanes.tv.eq(tv)
        with m.If(b_valid):
            m.d.sync += self.flips.eq(self.flips + rule_lanes.flips)
        with m.If(working):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        return m

    def _second_moment(self, m, d_rd, t_rd, running):
        """T-BSO mode, before the walk: sum trace**2 over the trace words and delta**2 over the error
        words (one word a cycle), update v, latch theta2 * v; then start the walk. Adds F_in + F_out + 2
        cycles to an update. Returns (the 'in this phase' signal, theta2 * v)."""
        rule, fold, f_in, f_out = self.rule, self.fold, self.f_in, self.f_out
        dw, tw, _ = rule.square_sums(self.f_out * fold.pe, self.f_in * fold.simd)
        sum_d, sum_t = Signal(dw), Signal(tw)
        v = Signal(rule.v_bits)
        tv = Signal(rule.v_bits + 16)
        active, pc = Signal(), Signal(range(f_in + f_out + 2))
        m.d.comb += self.v.eq(v)
        with m.If(self.start & ~active & ~running):
            m.d.sync += [active.eq(1), pc.eq(0), sum_d.eq(0), sum_t.eq(0)]
        with m.If(active):
            m.d.sync += pc.eq(pc + 1)
            m.d.comb += [t_rd.addr.eq(pc), d_rd.addr.eq(pc - f_in)]
            with m.If((pc >= 1) & (pc <= f_in)):                     # trace word pc - 1 arrived
                lanes = [t_rd.data[i * rule.trace_bits:(i + 1) * rule.trace_bits] for i in range(fold.simd)]
                m.d.sync += sum_t.eq(sum_t + tree_sum([t * t for t in lanes]))
            with m.If((pc >= f_in + 1) & (pc <= f_in + f_out)):      # error word pc - f_in - 1 arrived
                lanes = [d_rd.data[p * rule.delta_bits:(p + 1) * rule.delta_bits].as_signed() for p in range(fold.pe)]
                m.d.sync += sum_d.eq(sum_d + tree_sum([d * d for d in lanes]))
            with m.If(pc == f_in + f_out + 1):
                big = (1 << (rule.delta_bits - 1)) - 1
                deltas = Mux(self.from_label, Mux(self.pred != self.label, 2 * big * big, 0), sum_d)
                total = v - (v >> rule.v_rate_shift) + ((deltas * sum_t) >> rule.v_in_shift)
                new_v = Mux(total > rule.v_max, rule.v_max, total)
                m.d.sync += [v.eq(new_v), tv.eq(new_v * rule.threshold2), active.eq(0), running.eq(1)]
        return active, tv

    def _label_deltas(self, m, delta, nf):
        """Errors of neuron group ``nf`` from the label: where the last result's class p differs from the
        label y, delta_p = +D and delta_y = -D (D the largest delta); 0 elsewhere."""
        pe = self.fold.pe
        big = (1 << (self.rule.delta_bits - 1)) - 1
        wrong = self.pred != self.label
        for p in range(pe):
            neuron = nf * pe + p
            m.d.comb += delta[p].eq(Mux(wrong & (neuron == self.pred), big,
                                        Mux(wrong & (neuron == self.label), -big, 0)))

    def _count_traces(self, m, tmem, t_wr):
        """Accumulate spike counts into the trace memory (read one cycle, write the next)."""
        rule, simd = self.rule, self.fold.simd
        top = (1 << rule.trace_bits) - 1
        rd = tmem.read_port()
        m.d.comb += rd.addr.eq(self.count.addr)
        pending, addr, bits, clear = Signal(), Signal.like(self.count.addr), Signal(simd), Signal()
        m.d.sync += [pending.eq(self.count.en), addr.eq(self.count.addr), bits.eq(self.count.bits),
                     clear.eq(self.count.clear)]
        old = rd.data
        new = []
        for i in range(simd):
            prev = Mux(clear, 0, old[i * rule.trace_bits:(i + 1) * rule.trace_bits])
            new.append(Mux(prev == top, top, prev + bits[i])[:rule.trace_bits])
        with m.If(pending):
            m.d.comb += [t_wr.addr.eq(addr), t_wr.data.eq(Cat(*new)), t_wr.en.eq(1)]
