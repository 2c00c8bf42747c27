"""One layer (dense or convolutional) on PE x SIMD lanes: weights and membranes in block RAM.

Per time step the engine walks its neuron groups and, inside each, the input words sf of the group's
fan-in (F_in = N_in/SIMD), through a pipeline:

    A  issue:      weight address nf*F_in + sf, the address of input word sf
    B  synapses:   SynapseArray on (input word, weight word), pipelined over SYNAPSE_LATENCY cycles;
                   the cycle before C reads the group's membrane, bias and threshold
    C  accumulate: acc = (first word ? 0 : acc) + current; at the first word latch membrane, bias, threshold
    D  neurons:    after the last word of a group, NeuronUpdate; write membrane and PE spikes back

A dense layer's groups are its F_out = N_out/PE neuron groups. A convolution walks output positions
and, at each, its F_out channel groups; word sf = (ky*k + kx)*(C_in/SIMD) + cg reads SIMD channels of
input pixel (oy*s + ky - p, ox*s + kx - p) straight from the input buffer, or zeros outside the map
(padding). With P x P pooling the positions are walked pooling window by pooling window, so the
window's spikes are ORed in a register and written once: the buffer never needs a read-modify-write.
Positions no pooling window covers are skipped (their spikes would be dropped). A step costs
G*F_in issue cycles (G groups); where its inputs and output slot are ready the next step's first word
issues right after the last (see continues_directly), so the PIPELINE_DRAIN cycles of stages B to D
are hidden, otherwise the engine drains and waits. The first layer (direct encoding) runs its
synapses once per sample ("synapse phase", storing the current per neuron) and then only the neuron
update at each of the T steps. The output layer keeps its accumulators in registers, tracks the argmax
as the last step streams out, and offers (class, accumulators) on a stream.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Cat, Const, Format, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir import Fold, LayerDesc
from flipspike.ir.folding import check_layer_fold
from flipspike.ir.learning import FlipRule
from flipspike.ir.memory_map import Region, lane_groups, weight_words
from flipspike.ir.plan import SYNAPSE_LATENCY, LayerPlan

from .interfaces import (CounterLayout, LoadSignature, MonitorSignature, SpikeOutSignature, StepInputSignature,
                         result_layout)
from .flip_unit import FlipUnit, LearnSignature
from .neuron import NeuronPrepare, NeuronUpdate, threshold_term
from .synapse import SynapseArray


class LayerEngine(wiring.Component):
    def __init__(self, layer: LayerDesc, fold: Fold, timesteps: int, *, first: bool,
                 regions: list[Region], load_bus: tuple[int, int], learn_rule: FlipRule | None = None,
                 in_lanes: int = 1, monitor_bus: tuple[int, int] | None = None, out_banks: int = 2,
                 checks: bool = False):
        check_layer_fold(layer, fold)
        if layer.widths is None:
            raise ValueError(f"layer {layer.name}: no widths; validate the description first")
        self.layer, self.fold, self.timesteps, self.first = layer, fold, timesteps, first
        self.checks = checks           # assertions of the sequencing's invariants (simulation, formal; no Verilog)
        self.regions = {r.memory: r for r in regions}
        self.is_output = layer.kind == "output"
        self.plan = plan = LayerPlan(layer, fold, first=first, timesteps=timesteps)
        # in_count: active inputs delivered into this layer's input buffer this cycle (in_lanes at most)
        own = (plan.groups, fold.pe) if layer.shortcut is not None else None
        members = {"inp": Out(StepInputSignature(plan.in_words, fold.simd, layer.widths.input, fold.event, own)),
                   "in_count": In(range(in_lanes + 1)),
                   "load": In(LoadSignature(*load_bus)),
                   "counters": Out(CounterLayout)}
        if monitor_bus is not None:
            members["monitor"] = In(MonitorSignature(*monitor_bus))
        self.learn_rule, self.out_banks = learn_rule, out_banks
        if learn_rule is not None:
            members["learn"] = In(LearnSignature(plan.f_in * plan.f_out, fold.pe * fold.simd, learn_rule.momentum_bits,
                                                 layer.n_out, learn_rule.v_bits if learn_rule.tbso else 0))
        if self.is_output:
            members["result"] = Out(stream.Signature(result_layout(layer.n_out, layer.widths.state)))
        else:
            members["out"] = Out(SpikeOutSignature(plan.out_words, fold.pe, out_banks))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        layer, fold, T, W = self.layer, self.fold, self.timesteps, self.layer.widths
        pe, f_in, f_out = fold.pe, self.plan.f_in, self.plan.f_out
        lanes = lambda shape: data.ArrayLayout(shape, pe)

        # -- memories (contents from the description); shapes from the plan ------------------------------
        depth = {name: d for name, (d, _) in self.plan.memories.items()}
        m.submodules.weights = wmem = memory.Memory(shape=unsigned(pe * fold.simd), depth=depth["weights"],
                                                    init=weight_words(layer, fold))
        m.submodules.bias = bmem = memory.Memory(shape=lanes(signed(W.bias)), depth=depth["bias"],
                                                 init=lane_groups(layer.bias, pe))
        w_rd, b_rd = wmem.read_port(), bmem.read_port()
        load = LoadDecode(m, self.load, self.regions)
        w_wr = load.write_port(wmem, "weights")
        load.write_port(bmem, "bias")
        if not self.is_output:
            m.submodules.threshold = tmem = memory.Memory(shape=lanes(unsigned(W.threshold)), depth=depth["threshold"],
                                                          init=lane_groups(layer.threshold, pe))
            m.submodules.membrane = vmem = memory.Memory(shape=lanes(signed(W.state)), depth=depth["membrane"],
                                                         init=[])
            t_rd, v_rd, v_wr = tmem.read_port(), vmem.read_port(), vmem.write_port()
            load.write_port(tmem, "threshold")
        if layer.shortcut is not None:                      # per-channel gains of the shortcut
            m.submodules.shortcut = gmem = memory.Memory(shape=lanes(signed(W.shortcut)), depth=depth["shortcut"],
                                                         init=lane_groups(layer.shortcut, pe))
            g_rd = gmem.read_port()
            load.write_port(gmem, "shortcut")
        if self.first:
            m.submodules.current = imem = memory.Memory(shape=lanes(signed(W.current)), depth=depth["current"],
                                                        init=[])
            i_rd, i_wr = imem.read_port(), imem.write_port()

        # -- control ------------------------------------------------------------------------------
        walk = GroupWalk(self.plan)
        t = Signal(range(max(2, T)))
        syn = Signal(init=1) if self.first else None      # first layer: synapse phase of a new sample
        # (the first layer's neuron steps replay the stored current: one pseudo-word per group)
        issuing = Signal()
        step_end = Signal()                                # issuing the step's last word
        pos = counters = walk.counters(m)
        group_start = Signal(init=1)                       # the next issued word begins a neuron group
        if fold.event:       # skip all-zero input words: of the step (dense) or of the window (convolution)
            mask = self.inp.nonzero if self.plan.dense else walk.window_mask(m, pos, self.inp.nonzero)
            jump = EventSkip(m, mask, pos["sf"], group_start, f_in)
            pos = walk.with_word(pos, jump.sf)             # the word issued: sf, or a group's first nonzero
            last_word = jump.last
        else:
            jump = None
            last_word = Mux(syn, walk.at_end["sf"], 1) if self.first else walk.at_end["sf"]
        nf, sf = pos["nf"], pos["sf"]
        waddr = Signal(range(max(2, f_out * f_in)))
        in_addr, in_bounds = walk.input_word(m, pos)
        group, out_word = walk.group_address(m, pos)

        # stage A: addresses of the weight word and the input word
        m.d.comb += [waddr.eq(nf * f_in + sf), self.inp.addr.eq(in_addr)]
        if layer.shortcut is not None:
            m.d.comb += self.inp.own_addr.eq(group)        # (read with the input word: the bank may move on)

        # each issued word's flags travel down the pipeline with it (FlagPipeline's named taps)
        commits = ~syn if self.first else Const(1)         # (the synapse phase writes no spikes)
        flags = {"valid": issuing, "first": issuing & group_start, "last": issuing & last_word, "nf": nf,
                 "group": group, "out_word": out_word, "in_bounds": in_bounds, "sf": sf,
                 "sub_first": pos["sub_first"], "sub_last": pos["sub_last"], "t0": t == 0, "tlast": t == T - 1,
                 "end": step_end, "commit": step_end & commits, "syn": syn if self.first else Const(0)}
        pipe = FlagPipeline(m, flags)
        b, pre, c, d = pipe.synapses, pipe.state, pipe.accumulate, pipe.neurons

        # stage B: synapses (pipelined: their current reaches stage C); the group's other memories are
        # read a cycle before C, so that their words arrive with it
        m.d.comb += b_rd.addr.eq(pre["nf"])
        if not self.is_output:
            # (the threshold a cycle earlier still: NeuronPrepare takes a term computed from it at pre)
            m.d.comb += [t_rd.addr.eq(pipe.threshold["nf"]), v_rd.addr.eq(pre["group"])]
        if self.first:
            m.d.comb += i_rd.addr.eq(pre["group"])
        if layer.shortcut is not None:
            m.d.comb += g_rd.addr.eq(pre["nf"])
        m.submodules.synapses = syns = SynapseArray(fold.simd, pe, W.input)
        m.d.comb += syns.w.eq(w_rd.data)
        # what the flip unit counts for on-chip traces: each input word, once per step (first group)
        trace_tap = {"en": b["valid"] & (b["nf"] == 0), "addr": b["sf"], "bits": self.inp.data.as_value(),
                     "clear": b["t0"]}
        with m.If(b["in_bounds"]):                         # outside the map (padding) the input is zero
            m.d.comb += syns.x.eq(self.inp.data)

        # stage C: accumulate the drive (I << F) + bias [+ shortcut term], starting from bias [+ term] at a
        # group's first word (the first layer's synapse phase accumulates I << F alone, and stores I); latch
        # the group's leaked membrane and its margin to the threshold (NeuronPrepare). Stage D is then one
        # addition and a multiplexer deep (NeuronUpdate).
        F = layer.frac_bits
        partial = Signal(lanes(signed(W.current)))
        for p in range(pe):   # lane by lane: the array's current is narrower than the layer's
            m.d.comb += partial[p].eq(Mux(c["syn"], syns.current[p], i_rd.data[p]) if self.first else syns.current[p])
        acc = Signal(lanes(signed(W.drive(F))), reset_less=True)
        start = Signal(lanes(signed(W.drive(F))))
        term = [0] * pe
        if layer.shortcut is not None:                      # the gain where the input at the neuron's place spiked
            own = self.inp.own_data
            for _ in range(SYNAPSE_LATENCY):               # (read at stage A, with the input word: here at B)
                own_next = Signal.like(own, reset_less=True)
                m.d.sync += own_next.eq(own)
                own = own_next
            term = [Mux(own[p], g_rd.data[p], 0) for p in range(pe)]
        for p in range(pe):
            bias = b_rd.data[p] + term[p]
            m.d.comb += start[p].eq(Mux(c["syn"], 0, bias) if self.first else bias)
        with m.If(c["valid"]):
            for p in range(pe):
                m.d.sync += acc[p].eq(Mux(c["first"], start[p], acc[p]) + (partial[p] << F))

        # stage D: neuron update and write-back
        fire = d["valid"] & d["last"]
        m.submodules.neurons = neurons = NeuronUpdate(pe, W, drive_width=W.drive(F), kind=layer.kind,
                                                      reset=layer.reset)
        m.d.comb += neurons.drive.eq(acc)
        neuron_step = fire & ~d["syn"] if self.first else fire
        if self.first:
            for p in range(pe):                             # I = (I << F) >> F: the low bits are zero
                m.d.comb += i_wr.data[p].eq(acc[p] >> F)
            m.d.comb += [i_wr.addr.eq(d["group"]), i_wr.en.eq(fire & d["syn"])]
        if not self.is_output:                             # the group's membrane, latched with its first word
            m.submodules.prepare = prep = NeuronPrepare(pe, W, leak_shift=layer.leak_shift)
            v_hold = Signal(lanes(signed(W.state)), reset_less=True)
            margin_hold = Signal.like(prep.margin, reset_less=True)
            for p in range(pe):
                v_now = v_rd.data[p]
                if self.plan.groups == 1:    # going straight on, the only group is read as stage D writes it back
                    v_now = Mux(neuron_step, neurons.v_next[p], v_now)
                m.d.comb += prep.v[p].eq(Mux(c["t0"], 0, v_now))
            theta_term = Signal.like(prep.theta_term, reset_less=True)
            for p in range(pe):
                m.d.sync += theta_term[p].eq(threshold_term(t_rd.data[p], layer.leak_shift))
            m.d.comb += prep.theta_term.eq(theta_term)
            with m.If(c["first"]):
                m.d.sync += [v_hold.eq(prep.v1), margin_hold.eq(prep.margin)]
            m.d.comb += [neurons.v.eq(v_hold), neurons.margin.eq(margin_hold)]
        if self.is_output:
            result_free = self._output_stage(m, neurons, pre, c, d, neuron_step)
        else:
            # pooling: OR the spikes of a pooling window's positions, write the word at its last position
            pooled, window_or = Signal(pe), Signal(pe)
            m.d.comb += window_or.eq(neurons.spike | Mux(d["sub_first"], 0, pooled))
            with m.If(neuron_step):
                m.d.sync += pooled.eq(window_or)
            m.d.comb += [v_wr.addr.eq(d["group"]), v_wr.data.eq(neurons.v_next), v_wr.en.eq(neuron_step),
                         self.out.we.eq(neuron_step & d["sub_last"]), self.out.addr.eq(d["out_word"]),
                         self.out.data.eq(window_or), self.out.commit.eq(d["commit"])]

        # -- counters (each increment registered first: the 32-bit adds stay off the datapath) -------------
        counting = c["valid"] & c["syn"] if self.first else c["valid"]     # (the array's count arrives at C)
        sops_inc = Signal(range(fold.simd * pe + 1))
        m.d.sync += [sops_inc.eq(Mux(counting, syns.active * pe, 0)),
                     self.counters.sops.eq(self.counters.sops + sops_inc),
                     self.counters.in_spikes.eq(self.counters.in_spikes + self.in_count)]
        if jump is not None:
            skipped_inc = Signal(range(f_in + 1))
            m.d.sync += [skipped_inc.eq(Mux(issuing, jump.skipped(), 0)),
                         self.counters.skipped.eq(self.counters.skipped + skipped_inc)]

        # -- step sequencing ------------------------------------------------------------------------
        # ready_wait: the next step may start from WAIT; ready_next: it may start right behind this
        # step's last word (which releases this step's input and whose spikes commit PIPELINE_DRAIN cycles later)
        # (the output layer's "result free" is registered, from the words in flight including the one
        # issuing: it rises with them and falls a cycle late, which result_turnaround counts)
        words = pipe.words
        if self.is_output and self.plan.result_register:   # a sample's last step needs the register free
            free = Signal()
            m.d.sync += free.eq(result_free & ~Cat(*(st["valid"] & st["tlast"] & ~st["syn"] for st in words)).any())
            last_next = (t == T - 2) if T >= 2 else Const(1)
            # (from a last step straight into the next one (T = 1): never, its own result is not out yet)
            out_wait, out_next = (t != T - 1) | free, ~last_next | (free & (t != T - 1))
        elif self.is_output:   # a new sample's step 0 waits until the last one's result has left
            in_flight = Signal()
            m.d.sync += in_flight.eq(Cat(*(st["valid"] & ~st["syn"] for st in words)).any() | ~result_free)
            out_wait, out_next = (t != 0) | ~in_flight, t != T - 1
        else:   # a step needs its own bank, besides the full ones and those its predecessors will commit:
            # unclaimed = free banks - commits in flight, kept in a register (off the sequencing path):
            # a commit landing changes neither; a released bank adds one, a step's last word takes one.
            # The register takes a step's last word a cycle late, from stage B (the walk's end-of-step
            # logic stays off its adder), and the checks count the one in B: the same numbers
            unclaimed = Signal(range(self.out_banks + 2), init=self.out_banks)
            m.d.sync += unclaimed.eq(unclaimed + self.out.freed - b["commit"])
            out_wait = unclaimed >= 1 + b["commit"]
            out_next = unclaimed >= 2 + b["commit"]            # (this step's commit is in flight too)
        if self.first:        # synapse phase -> neuron step 0 -> ... -> neuron step T-1 -> next synapse phase
            ready_wait = Mux(syn, self.inp.avail, out_wait)
            ready_next = Mux(syn, out_wait, Mux(t == T - 1, self.inp.avail, out_next))
        else:
            ready_wait = self.inp.avail & out_wait
            ready_next = self.inp.next_avail & out_next
        go_on = self.plan.continues_directly()
        if self.first:
            go_on = Mux(syn, self.plan.continues_directly(into_neurons=True), go_on)
        ready_next = ready_next & go_on
        if self.plan.starts_only_when_empty:
            ready_wait = ready_wait & ~b["valid"]
        busy = Signal()
        m.d.comb += busy.eq(Cat(*(st["valid"] for st in pipe.words)).any())
        if self.learn_rule is None:
            m.d.comb += w_rd.addr.eq(waddr)
        else:
            learning = self._flip_unit(m, w_rd, w_wr, waddr, busy, trace_tap, load)
            ready_wait = ready_wait & ~learning
        with m.If(busy):
            m.d.sync += self.counters.cycles.eq(self.counters.cycles + 1)
        with m.FSM():
            with m.State("WAIT"):
                with m.If(ready_wait):
                    walk.reset(m, counters)
                    m.d.sync += group_start.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += issuing.eq(1)
                m.d.sync += group_start.eq(last_word)
                with m.If(walk.advance(m, pos, last_word, jump)):     # (the walk wraps to word 0)
                    m.d.comb += step_end.eq(1)
                    self._finish_step(m, t, syn)
                    with m.If(~ready_next):
                        m.next = "WAIT"
        if self.checks:
            self._state_read_checks(m, t, syn, step_end, c, neuron_step,
                                    None if self.is_output else (v_rd, v_wr), (i_rd, i_wr) if self.first else None)
        if "monitor" in self.signature.members:     # each port with the engine's "reading it now"
            reads_w = issuing if self.learn_rule is None else busy | learning
            ports = {"weights": (w_rd, reads_w), "bias": (b_rd, pre["valid"])}
            if not self.is_output:
                ports.update(threshold=(t_rd, pipe.threshold["valid"]), membrane=(v_rd, pre["valid"]))
            if self.layer.shortcut is not None:
                ports["shortcut"] = (g_rd, pre["valid"])
            self._monitor(m, ports)
        return m

    def _state_read_checks(self, m, t, syn, step_end, c, neuron_step, membrane, current):
        """Assertions (``checks``) that every membrane and stored current the engine uses is the word its
        sequencing needs, whatever its neighbours do: what lets a board build declare a read that meets a
        write to its address undefined (``gen.build.ENGINE_MEMORIES``), and what ``continues_directly`` and
        ``starts_only_when_empty`` promise. Each word written leaves a tag in registers beside the memory:
        written at all, the sample's parity and the step's. A read port returns the word as it was before
        the cycle's write, so the tag is sampled the same way. A membrane used at step t > 0 must have been
        written at step t - 1 of the same sample (or be forwarded from the write-back: one group); a
        stored current, by the synapse phase of the sample whose neuron steps use it. (The sample's parity
        turns as a sample's last step issues its last word; in the first layer, as its synapse phase does.)"""
        T, groups = self.timesteps, max(2, self.plan.groups)
        sample = Signal(name="check_sample_parity")
        with m.If(step_end & (syn if self.first else (t == T - 1))):
            m.d.sync += sample.eq(~sample)
        tags = _flag_pipeline(m, {"step": t[0], "sample": sample}, SYNAPSE_LATENCY + 2)
        tc, td = tags[SYNAPSE_LATENCY], tags[-1]
        checks = []
        if membrane is not None:
            forwarded = neuron_step if self.plan.groups == 1 else Const(0)
            checks.append(("membrane", membrane, c["first"] & ~c["t0"] & ~c["syn"], forwarded,
                           lambda tag: tag.written & (tag.sample == tc["sample"]) & (tag.step != tc["step"])))
        if current is not None:
            checks.append(("current", current, c["valid"] & ~c["syn"], Const(0),
                           lambda tag: tag.written & (tag.sample != tc["sample"])))
        layout = data.StructLayout({"written": 1, "sample": 1, "step": 1})
        written = Cat(1, td["sample"], td["step"])             # the tag of the word stage D writes back
        for name, (rd, wr), used, forwarded, holds in checks:
            tags_now = Signal(data.ArrayLayout(layout, groups), name=f"check_{name}_tags")
            with m.If(wr.en):
                m.d.sync += tags_now[wr.addr].eq(written)
            sampled = Signal(layout, name=f"check_{name}_sampled")        # read-first, like the memory's port
            m.d.sync += sampled.eq(tags_now[rd.addr])
            got = Signal(layout, name=f"check_{name}_used")
            m.d.comb += got.eq(Mux(forwarded, written, sampled))
            m.d.sync += Assert(~used | holds(got), Format(f"{self.layer.name}: a {name} word was used before "
                                                          "the write-back it needs (group {})", c["group"]))

    def _monitor(self, m, ports: dict):
        """The monitor borrows each read port in the cycles the engine does not read it (``ports``: name ->
        (port, engine reads it now); the host reads only while the accelerator is idle). The address is
        decoded into registers (a hit and a local address per memory: the range comparisons stay off the
        memories' address paths), and the word read is registered too; it appears on ``monitor.data``
        MONITOR_LATENCY cycles after the address (0 where no region of this layer was hit)."""
        sel = Signal(range(len(ports) + 1))
        m.d.sync += sel.eq(0)
        for k, (name, (port, engine_reads)) in enumerate(ports.items()):
            hit_r = Signal(name=f"monitor_hit_{name}")
            addr_r = Signal.like(port.addr, name=f"monitor_addr_{name}", reset_less=True)
            m.d.sync += [hit_r.eq(region_hit(self.regions[name], self.monitor.addr)),
                         addr_r.eq(self.monitor.addr - self.regions[name].base)]
            with m.If(~engine_reads & hit_r):
                m.d.comb += port.addr.eq(addr_r)
            with m.If(hit_r):
                m.d.sync += sel.eq(k + 1)
        word = Signal.like(self.monitor.data, name="monitor_word")   # (registered: block RAM outputs are slow)
        for k, (port, _) in enumerate(ports.values()):
            with m.If(sel == k + 1):
                m.d.comb += word.eq(Value.cast(port.data))
        m.d.sync += self.monitor.data.eq(word)

    def _flip_unit(self, m, w_rd, w_wr, waddr, running, trace_tap, load):
        """Attach a flip unit to the weight memory. Inference, update and readback take turns on its read
        port; the update and the load bus on its write port. ``trace_tap``: the input words the layer
        reads, for on-chip traces. Returns the unit's busy signal."""
        layer, fold = self.layer, self.fold
        m.submodules.flip = unit = FlipUnit(layer.n_in, layer.n_out, fold, self.learn_rule)
        for name, port in (("delta", unit.delta), ("trace", unit.trace)):
            addr, value, hit = load.region(name)
            m.d.comb += [port.addr.eq(addr), port.data.eq(value), port.en.eq(hit)]
        learn = self.learn
        m.d.comb += [unit.from_label.eq(learn.from_label), unit.label.eq(learn.label)]
        if self.learn_rule.tbso:
            m.d.comb += learn.v.eq(unit.v)
        if self.is_output:                                  # source (b): errors from the last class
            m.d.comb += unit.pred.eq(self.result.payload.cls)
        if not self.first:                                  # traces: spike counts seen at the first group
            m.d.comb += [getattr(unit.count, k).eq(v) for k, v in trace_tap.items()]
        m.d.comb += [
            unit.start.eq(learn.start), learn.busy.eq(unit.busy), learn.flips.eq(unit.flips),
            learn.cycles.eq(unit.cycles), unit.momentum_addr.eq(learn.readback_addr),
            learn.readback_momentum.eq(unit.momentum_data),
            w_rd.addr.eq(Mux(running, waddr, Mux(unit.busy, unit.weights.raddr, learn.readback_addr))),
            unit.weights.rdata.eq(w_rd.data), learn.readback_weights.eq(w_rd.data),
        ]
        with m.If(unit.weights.we):
            m.d.comb += [w_wr.addr.eq(unit.weights.waddr), w_wr.data.eq(unit.weights.wdata), w_wr.en.eq(1)]
        return unit.busy

    def _finish_step(self, m, t, syn):
        """The step's last word is issuing: release its input (its last word is being read) and move on to
        the next step (its spikes commit from stage C, with the last write-back)."""
        T = self.timesteps
        if self.first:
            with m.If(syn):
                m.d.comb += self.inp.release.eq(1)       # pixels are consumed: the next sample may load
                m.d.sync += syn.eq(0)
            neuron_step = ~syn
        else:
            m.d.comb += self.inp.release.eq(1)
            neuron_step = 1
        with m.If(neuron_step):
            with m.If(t == T - 1):
                m.d.sync += t.eq(0)
                if self.first:
                    m.d.sync += syn.eq(1)
            with m.Else():
                m.d.sync += t.eq(t + 1)

    def _output_stage(self, m, neurons, pre, c, d, neuron_step):
        """Accumulators in registers, a running argmax over the last step, and the result stream. ``pre``,
        ``c``, ``d``: the flags of the stage before C, of C and of D (a word of step 0 / of the last step /
        the step's last word). Returns "the result is out" (nothing pending, nothing offered)."""
        layer, pe = self.layer, self.fold.pe
        W = layer.widths
        accs = Signal(data.ArrayLayout(signed(W.state), layer.n_out))
        cls = Signal.like(self.result.payload.cls)
        res_valid = Signal()
        if self.plan.f_out == 1:          # one group: its accumulators are read in place (0 at the first step)
            for p in range(pe):
                m.d.comb += neurons.v[p].eq(Mux(d["t0"], 0, accs[p]))
        else:   # the group's accumulators, selected as its first word reaches stage C (the previous
            # step's write-back of the group is at least a group earlier: a register, not a wide mux, feeds D)
            picked = Signal(data.ArrayLayout(signed(W.state), pe), reset_less=True)
            if self.plan.f_out < 3:
                with m.If(c["first"]):
                    with m.Switch(c["nf"]):
                        for g in range(self.plan.f_out):
                            with m.Case(g):
                                for p in range(pe):
                                    m.d.sync += picked[p].eq(Mux(c["t0"], 0, accs[g * pe + p]))
            else:   # in two levels: a group within each block of four a cycle earlier (with 3 or more groups
                # the previous step's write-back of the group has landed by then), the block at C
                blocks = [Signal(data.ArrayLayout(signed(W.state), pe), name=f"acc_block{b}", reset_less=True)
                          for b in range((self.plan.f_out + 3) // 4)]
                with m.If(pre["first"]):
                    for b, near in enumerate(blocks):
                        with m.Switch(pre["nf"][:2]):
                            for j in range(min(4, self.plan.f_out - 4 * b)):
                                with m.Case(j):
                                    m.d.sync += near.eq(accs.as_value().word_select(4 * b + j, pe * W.state))
                with m.If(c["first"]):
                    with m.Switch(c["nf"][2:]):
                        for b, near in enumerate(blocks):
                            with m.Case(b):
                                for p in range(pe):
                                    m.d.sync += picked[p].eq(Mux(c["t0"], 0, near[p]))
            m.d.comb += neurons.v.eq(picked)
        with m.Switch(d["nf"]):     # write back
            for g in range(self.plan.f_out):
                with m.Case(g):
                    for p in range(pe):
                        with m.If(neuron_step):
                            m.d.sync += accs[g * pe + p].eq(neurons.v_next[p])
        # argmax over the last step, off the neuron update's path, in registered stages: the group's best
        # lane (a tree, a register after each level), then the running best across groups. Lowest index
        # wins ties (strict >).
        a_step, a_done, a_nf = Signal(), Signal(), Signal.like(d["nf"])
        a_val = Signal(data.ArrayLayout(signed(W.state), pe), reset_less=True)
        last = neuron_step & d["tlast"]
        m.d.sync += [a_step.eq(last), a_done.eq(last & d["end"]), a_nf.eq(d["nf"])]
        # the result's accumulators: copied once the last write-back is done, so the next sample may
        # start at once (step 0 overwrites the accumulators); or the accumulators themselves
        result_acc = accs
        if self.plan.result_register:
            result_acc = Signal.like(accs, reset_less=True)
            with m.If(a_done):
                m.d.sync += result_acc.eq(accs)
        with m.If(neuron_step):
            m.d.sync += a_val.eq(neurons.v_next)
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
                rv = Signal(signed(W.state), name=f"best{level}_{k}", reset_less=True)
                ri = Signal(range(pe), name=f"best{level}_idx{k}", reset_less=True)
                m.d.sync += [rv.eq(v), ri.eq(i)]
                lanes_best.append((rv, ri))
            nxt = Signal(), Signal(), Signal.like(a_nf)
            m.d.sync += [nxt[0].eq(a_step), nxt[1].eq(a_done), nxt[2].eq(a_nf)]
            a_step, a_done, a_nf = nxt
            pending.append(a_done)
            level += 1
        g_step, g_done, g_first = Signal(), Signal(), Signal()
        g_val, g_idx = Signal(signed(W.state)), Signal.like(cls)
        m.d.sync += [g_step.eq(a_step), g_done.eq(a_done), g_first.eq(a_nf == 0), g_val.eq(lanes_best[0][0]),
                     g_idx.eq(a_nf * pe + lanes_best[0][1])]
        best_val = Signal(signed(W.state))
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


def region_hit(region: Region, addr):
    """Whether ``addr`` (a load-bus or monitor address) falls in ``region``."""
    hit = Const(1, 1)
    if region.base:                                        # (no constant comparisons: lint-clean)
        hit &= addr >= region.base
    if region.base + region.depth < 2 ** len(addr):
        hit &= addr < region.base + region.depth
    return hit


class LoadDecode:
    """The load bus as an engine's memories see it (an elaboration helper): a cycle late, the region
    decode in a register per memory (its comparisons stay off the write enables), the bus delayed once
    per engine to match."""

    def __init__(self, m, load, regions: dict[str, Region]):
        self.m, self.regions = m, regions
        self.addr = Signal.like(load.addr, name="load_addr_late", reset_less=True)
        self.data = Signal.like(load.data, name="load_data_late", reset_less=True)
        self.load = load
        m.d.sync += [self.addr.eq(load.addr), self.data.eq(load.data)]

    def region(self, name: str):
        """(local address, data, enable) of memory ``name``'s words on the load bus."""
        region = self.regions[name]
        enable = Signal(name=f"load_{name}")
        self.m.d.sync += enable.eq(self.load.en & region_hit(region, self.load.addr))
        return self.addr - region.base, self.data[:region.width], enable

    def write_port(self, mem, name: str):
        """A write port of ``mem`` through which the words of its region on the load bus are written."""
        port = mem.write_port()
        addr, value, hit = self.region(name)
        self.m.d.comb += [port.addr.eq(addr), port.data.eq(value), port.en.eq(hit)]
        return port


class FlagPipeline:
    """Each issued word's flags, registered stage by stage behind it (the next step may already be
    issuing behind them), with named taps: ``synapses`` (B, the cycle after issue), ``threshold`` (two
    cycles before C: the threshold term is computed from the word read then), ``state`` (a cycle before
    C: the group's bias, membrane, stored current and gains are read, to arrive with the current),
    ``accumulate`` (C) and ``neurons`` (D, the write-back). ``words``: the flags at issue and at every
    stage (the words in flight)."""

    def __init__(self, m, flags: dict):
        self.issue, self.stages = flags, _flag_pipeline(m, flags, SYNAPSE_LATENCY + 2)
        self.synapses, self.accumulate, self.neurons = self.stages[0], self.stages[SYNAPSE_LATENCY], self.stages[-1]
        self.state, self.threshold = self.stages[SYNAPSE_LATENCY - 1], self.stages[SYNAPSE_LATENCY - 2]

    @property
    def words(self) -> list[dict]:
        return [self.issue] + self.stages


#: Flags that act by themselves (the others only qualify them): these keep their reset; the rest, like the
#: datapath registers, have none (free of set/reset nets, an iCE40 packs them more easily).
CONTROL_FLAGS = ("valid", "first", "last", "end", "commit", "syn")


def _flag_pipeline(m, flags: dict, n: int) -> list[dict]:
    """``flags`` (values of the cycle a word issues) registered through ``n`` stages: one dict of
    signals per stage, the first one cycle after issue."""
    stages, prev = [], flags
    for k in range(n):
        stage = {name: Signal(Value.cast(v).shape(), name=f"s{k}_{name}", reset_less=name not in CONTROL_FLAGS)
                 for name, v in prev.items()}
        m.d.sync += [stage[name].eq(v) for name, v in prev.items()]
        stages.append(stage)
        prev = stage
    return stages


class GroupWalk:
    """The hardware of a layer's walk (:class:`flipspike.ir.plan.LayerPlan` has its geometry): the
    counters of the neuron groups and input words a step visits, and the addresses that follow from
    them. ``counters`` / ``advance`` / ``input_word`` / ``group_address`` build it inside an elaboration."""

    def __init__(self, plan: LayerPlan):
        self.plan = plan

    def counters(self, m) -> dict:
        p = self.plan
        names = {"py": p.hp, "px": p.wp, "nf": p.f_out, "dy": p.pool, "dx": p.pool,
                 "ky": p.k, "kx": p.k, "cg": p.cg, "sf": p.f_in}
        if p.event:                     # the word's place in the window follows from sf (with_word)
            for name in ("ky", "kx", "cg"):
                del names[name]
        pos = {n: Signal(range(max(2, size)), name=f"walk_{n}") for n, size in names.items()}
        # each counter's "at its last value", kept in a register beside it (no comparator between the
        # counters and the end-of-group / end-of-step logic)
        self.sizes = names
        self.at_end = {n: Signal(name=f"walk_{n}_at_end", init=int(size == 1)) for n, size in names.items()}
        pos["sub_first"] = (pos["dy"] == 0) & (pos["dx"] == 0)
        pos["sub_last"] = self.at_end["dy"] & self.at_end["dx"]
        return pos

    def reset(self, m, pos):
        """Every counter to 0 (a step's first word)."""
        for name, size in self.sizes.items():
            m.d.sync += [pos[name].eq(0), self.at_end[name].eq(size == 1)]

    def advance(self, m, pos, last_word, jump=None):
        """Step the counters after one issued word; returns 'this was the step's last word'. With
        ``jump`` (event-driven), sf moves to the next nonzero word instead of the next word."""
        p = self.plan
        def nested(levels):
            # innermost first: a counter steps when every inner one wraps; returns 'all wrap'
            carry = Const(1)
            for name, size in levels:
                sig, at_end = pos[name], self.at_end[name]
                with m.If(carry):
                    m.d.sync += [sig.eq(Mux(at_end, 0, sig + 1)),
                                 at_end.eq(Mux(at_end, size == 1, sig == size - 2))]
                carry = carry & at_end
            return carry

        counter = pos.get("sf_counter", pos["sf"])
        sf_end = self.at_end["sf"]
        with m.If(last_word):
            m.d.sync += [counter.eq(0), sf_end.eq(p.f_in == 1)]
            for n in ("ky", "kx", "cg"):
                if jump is None:
                    m.d.sync += [pos[n].eq(0), self.at_end[n].eq(self.sizes[n] == 1)]
            done = nested([("dx", p.pool), ("dy", p.pool), ("nf", p.f_out), ("px", p.wp), ("py", p.hp)])
        with m.Else():
            if jump is None:
                m.d.sync += [counter.eq(pos["sf"] + 1), sf_end.eq(pos["sf"] == p.f_in - 2)]
                nested([("cg", p.cg), ("kx", p.k), ("ky", p.k)])
            else:                  # (event-driven: the end of a group comes from the jump, not from sf)
                m.d.sync += counter.eq(jump.next)
        return done & last_word

    def with_word(self, pos, word):
        """``pos`` with ``word`` as the issued word sf (event-driven: a group's first nonzero word, or the
        last jump's target); for a convolution also its (ky, kx, cg), looked up from constant tables."""
        p = self.plan
        pos = {**pos, "sf_counter": pos["sf"], "sf": word}
        if not p.dense:
            offsets = p.window_offsets()
            for k, name in enumerate(("ky", "kx", "cg")):
                size = max(2, (p.k, p.k, p.cg)[k])
                bits = (size - 1).bit_length()
                table = Const(sum(o[k] << (i * bits) for i, o in enumerate(offsets)), bits * len(offsets))
                pos[name] = table.word_select(word, bits)
        return pos

    def window_mask(self, m, pos, nonzero):
        """One bit per word of the window at the group's output position: the input word is inside the map
        and holds a spike (``nonzero``: one bit per input word of the step)."""
        p = self.plan
        oy, ox = self._out_position(pos)
        bits = max(p.h_in, p.w_in, p.ho * p.stride + p.k).bit_length() + 2
        y0, x0 = Signal(signed(bits), name="window_y"), Signal(signed(bits), name="window_x")
        m.d.comb += [y0.eq(oy * p.stride - p.pad), x0.eq(ox * p.stride - p.pad)]
        mask = Signal(p.f_in, name="window_mask")
        for i, (ky, kx, c) in enumerate(p.window_offsets()):
            y, x = y0 + ky, x0 + kx
            inside = (y >= 0) & (y < p.h_in) & (x >= 0) & (x < p.w_in)
            addr = (y * p.w_in + x) * p.cg + c
            m.d.comb += mask[i].eq(inside & nonzero.bit_select(addr.as_unsigned()[:max(1, (p.in_words - 1).bit_length())], 1))
        return mask


    def _out_position(self, pos):
        p = self.plan
        return pos["py"] * p.pool + pos["dy"], pos["px"] * p.pool + pos["dx"]

    def input_word(self, m, pos):
        """(address of the input word, in bounds) for the word being issued."""
        p = self.plan
        if p.dense:
            return pos["sf"], 1
        oy, ox = self._out_position(pos)
        bits = max(p.h_in, p.w_in, p.ho * p.stride + p.k).bit_length() + 2
        y, x = Signal(signed(bits), name="in_y"), Signal(signed(bits), name="in_x")
        offset = Const(-p.pad, signed(bits))
        m.d.comb += [y.eq(oy * p.stride + pos["ky"] + offset), x.eq(ox * p.stride + pos["kx"] + offset)]
        in_bounds = Signal()
        if p.pad:
            m.d.comb += in_bounds.eq((y >= 0) & (y < p.h_in) & (x >= 0) & (x < p.w_in))
        else:
            m.d.comb += in_bounds.eq(1)
        addr = Signal(range(max(2, p.in_words)), name="in_addr")
        m.d.comb += addr.eq((y * p.w_in + x) * p.cg + pos["cg"])
        return addr, in_bounds

    def group_address(self, m, pos):
        """(membrane / current word of the group, output spike word it writes into)."""
        p = self.plan
        group = Signal(range(max(2, p.groups)), name="group")
        out_word = Signal(range(max(2, p.out_words)), name="out_word")
        if p.dense:
            m.d.comb += [group.eq(pos["nf"]), out_word.eq(pos["nf"])]
        else:
            oy, ox = self._out_position(pos)
            m.d.comb += [group.eq((oy * p.wc + ox) * p.f_out + pos["nf"]),
                         out_word.eq((pos["py"] * p.wp + pos["px"]) * p.f_out + pos["nf"])]
        return group, out_word


def lowest_set(bits, n: int):
    """(index of the lowest set bit of ``bits[:n]``, any bit set): a priority encoder (0 when none),
    built as a balanced tree, so its depth (and the elaborator's recursion) grows as log2(n)."""
    def tree(lo: int, hi: int):
        if hi - lo == 1:
            return Const(0, range(max(2, n))), bits[lo]
        mid = (lo + hi + 1) // 2
        (i_lo, any_lo), (i_hi, any_hi) = tree(lo, mid), tree(mid, hi)
        return Mux(any_lo, i_lo, i_hi + (mid - lo)), any_lo | any_hi

    index, any_set = tree(0, n)
    return Mux(any_set, index, 0), any_set


class EventSkip:
    """Event-driven walk over a group's input words (``nonzero``: one bit per word, the step's words for
    a dense layer, the window's for a convolution): visit only words holding a spike. A neuron group
    starts at its first nonzero word (word 0 when there is none: the group still needs its neuron
    update), found as the group starts, and jumps from word to next nonzero word; it ends where none is
    left. ``sf``: the word issued this cycle (``counter`` holds where the last jump landed)."""

    def __init__(self, m, nonzero, counter, group_start, f_in: int):
        self.f_in = f_in
        first, _ = lowest_set(nonzero, f_in)
        self.sf = Signal(range(max(2, f_in)), name="event_word")
        self.group_start = group_start
        m.d.comb += self.sf.eq(Mux(group_start, first, counter))
        above = Signal(f_in, name="event_above")
        m.d.comb += above.eq(nonzero >> (self.sf + 1))
        offset, any_above = lowest_set(above, f_in)
        self.next = self.sf + 1 + offset
        self.last = ~any_above

    def skipped(self):
        """Words jumped over by this issue: those before the group's first word, and those between this
        word and the next (or after this one, at the group's last word)."""
        before = Mux(self.group_start, self.sf, 0)
        after = Mux(self.last, self.f_in - 1 - self.sf, self.next - self.sf - 1)
        return before + after
