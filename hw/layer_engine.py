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
(padding). A window-wide word (SIMD a multiple of C_in: m positions of a kernel row, or whole rows)
reads each position's pixel through a read port of its own, in the same cycle. With P x P pooling the
positions are walked pooling window by pooling window, so the window's spikes are ORed in a register and written once: the buffer never needs a read-modify-write.
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
from flipspike.ir.errors import ConfigError
from flipspike.ir.folding import check_layer_fold
from flipspike.ir.learning import FlipRule
from flipspike.ir.memory_map import Region, lane_groups, weight_words
from flipspike.ir.plan import SYNAPSE_LATENCY, LayerPlan

from .accumulate import Accumulator
from .flags import FlagPipeline, flag_pipeline
from .flip_unit import FlipUnit, LearnSignature
from .interfaces import (CounterLayout, LoadSignature, MonitorSignature, SpikeOutSignature, StepInputSignature,
                         result_layout)
from .issue import IssueStage
from .load_decode import LoadDecode
from .monitor_mux import MonitorMux
from .neuron_stage import NeuronStage
from .output_stage import OutputStage, stage_flags
from .spram import VENDORS, SinglePortRAM
from .synapse import SynapseArray

#: The memories the load bus writes (where the layer has them); the flip unit's error and trace
#: memories too, where it learns.
LOADED = ("weights", "bias", "threshold", "shortcut", "delta", "trace")


class LayerEngine(wiring.Component):
    def __init__(self, layer: LayerDesc, fold: Fold, timesteps: int, *, first: bool,
                 regions: list[Region], load_bus: tuple[int, int], learn_rule: FlipRule | None = None,
                 in_lanes: int = 1, monitor_bus: tuple[int, int] | None = None, out_banks: int = 2,
                 checks: bool = False, vendor: str | None = None):
        """``vendor``: the device family a build is for (None: simulation, as the iCE40): "ice40" builds
        SPRAM weights (``fold.spram``) from the device's primitives (else a behavioural model); "ecp5"
        negates the first layer's pixels after the synapse array's input registers
        (:class:`flipspike.hw.synapse.SynapseArray`)."""
        check_layer_fold(layer, fold)
        if layer.widths is None:
            raise ValueError(f"layer {layer.name}: no widths; validate the description first")
        if vendor not in VENDORS:
            raise ValueError(f"layer {layer.name}: unknown vendor {vendor!r}; choose one of {VENDORS}")
        if fold.spram and learn_rule is not None:
            raise ConfigError(f"layer {layer.name} learns on chip: the flip unit reads and writes its weights in "
                              "one cycle, which single-port SPRAM cannot; drop the 's' from its fold")
        self.vendor = vendor
        self.layer, self.fold, self.timesteps, self.first = layer, fold, timesteps, first
        self.checks = checks           # assertions of the sequencing's invariants (simulation, formal; no Verilog)
        self.regions = {r.memory: r for r in regions}
        self.is_output = layer.kind == "output"
        self.plan = plan = LayerPlan(layer, fold, first=first, timesteps=timesteps)
        # in_count: active inputs delivered into this layer's input buffer this cycle (in_lanes at most)
        own = (plan.groups, fold.pe) if layer.shortcut is not None else None
        members = {"inp": Out(StepInputSignature(plan.in_words, fold.simd, layer.widths.input, fold.event, own,
                                                  plan.ports)),
                   "in_count": In(range(in_lanes + 1)),
                   "load": In(LoadSignature(*load_bus)),
                   "counters": Out(CounterLayout)}
        if monitor_bus is not None:
            members["monitor"] = In(MonitorSignature(*monitor_bus))
        self.learn_rule, self.out_banks, self.monitor_bus = learn_rule, out_banks, monitor_bus
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
        layer, fold, plan, W = self.layer, self.fold, self.plan, self.layer.widths
        F = layer.frac_bits
        mem, load, writes = self._memories(m)
        rd = {name: _read_port(memory) for name, memory in mem.items()}

        # stage A: the walk issues (group, input word) pairs; each word's flags travel down the pipeline
        m.submodules.issue = issue = IssueStage(plan)
        if fold.event:
            m.d.comb += issue.nonzero.eq(self.inp.nonzero)
        m.d.comb += [self.inp.addr.eq(issue.in_addr), self.inp.release.eq(issue.release)]
        if layer.shortcut is not None:
            m.d.comb += self.inp.own_addr.eq(issue.word.group)    # (read with the input word: the bank may move on)
        pipe = FlagPipeline(m, {name: issue.word[name] for name, _ in issue.word.shape()})
        b, pre, c, d = pipe.synapses, pipe.state, pipe.accumulate, pipe.neurons

        # stage B: synapses (pipelined: their current reaches stage C); the group's other memories are
        # read a cycle before C, so that their words arrive with it (the threshold a cycle earlier still:
        # the neuron stage registers a term computed from it)
        addresses = {"bias": pre["nf"], "membrane": pre["group"], "current": pre["group"], "shortcut": pre["nf"],
                     "threshold": pipe.threshold["nf"]}
        m.d.comb += [rd[name].addr.eq(addr) for name, addr in addresses.items() if name in rd]
        m.submodules.synapses = syns = SynapseArray(fold.simd, fold.pe, W.input,
                                                    early_negation=self.vendor != "ecp5")
        m.d.comb += syns.w.eq(rd["weights"].data)
        # outside the map (padding) the input is zero: per read port, where a word spans several positions
        if plan.ports == 1:
            with m.If(b["in_bounds"]):
                m.d.comb += syns.x.eq(self.inp.data)
        else:
            port_bits = plan.port_simd * W.input
            inputs, x = self.inp.data.as_value(), syns.x.as_value()
            for j in range(plan.ports):
                with m.If(b["in_bounds"][j]):
                    m.d.comb += x[j * port_bits:(j + 1) * port_bits].eq(inputs[j * port_bits:(j + 1) * port_bits])

        # stage C: the group's drive (Accumulator); stage D: the neuron update and the write-back
        m.submodules.accumulate = acc = Accumulator(fold.pe, W, F, first_layer=self.first,
                                                    shortcut=layer.shortcut is not None)
        m.d.comb += [acc.valid.eq(c["valid"]), acc.first.eq(c["first"]), acc.bias.eq(rd["bias"].data)]
        for p in range(fold.pe):   # lane by lane: the array's current is narrower than the layer's
            m.d.comb += acc.current[p].eq(syns.current[p])
        if self.first:
            m.d.comb += [acc.syn.eq(c["syn"]), acc.stored.eq(rd["current"].data)]
        if layer.shortcut is not None:
            m.d.comb += [acc.gain.eq(rd["shortcut"].data), acc.own.eq(self.inp.own_data)]
        fire = d["valid"] & d["last"]
        neuron_step = fire & ~d["syn"] if self.first else fire
        if self.first:                                     # the synapse phase stores I = (I << F) >> F
            wr = mem["current"].write_port()
            for p in range(fold.pe):
                m.d.comb += wr.data[p].eq(acc.acc[p] >> F)
            m.d.comb += [wr.addr.eq(d["group"]), wr.en.eq(fire & d["syn"])]
        if self.is_output:
            result_free = self._output_stage(m, pipe, acc.acc, neuron_step)
        else:
            v_wr = self._neuron_stage(m, pipe, acc.acc, neuron_step, rd, mem["membrane"])

        # -- counters (each increment registered first: the 32-bit adds stay off the datapath) -------------
        counting = c["valid"] & c["syn"] if self.first else c["valid"]     # (the array's count arrives at C)
        sops_inc = Signal(range(fold.simd * fold.pe + 1))
        m.d.sync += [sops_inc.eq(Mux(counting, syns.active * fold.pe, 0)),
                     self.counters.sops.eq(self.counters.sops + sops_inc),
                     self.counters.in_spikes.eq(self.counters.in_spikes + self.in_count)]
        if fold.event:
            skipped_inc = Signal(range(plan.f_in + 1))
            m.d.sync += [skipped_inc.eq(issue.skipped),
                         self.counters.skipped.eq(self.counters.skipped + skipped_inc)]
        busy = Signal()
        m.d.comb += busy.eq(Cat(*(st["valid"] for st in pipe.words)).any())
        with m.If(busy):
            m.d.sync += self.counters.cycles.eq(self.counters.cycles + 1)

        # -- step sequencing; the weight memory's read port, shared with the flip unit where it learns -----
        ready_wait, ready_next = self._readiness(m, issue, pipe, result_free if self.is_output else None)
        if self.learn_rule is None:
            m.d.comb += rd["weights"].addr.eq(issue.waddr)
        else:
            # what the flip unit counts for on-chip traces: each input word, once per step (first group)
            trace_tap = {"en": b["valid"] & (b["nf"] == 0), "addr": b["sf"], "bits": self.inp.data.as_value(),
                         "clear": b["t0"]}
            learning = self._flip_unit(m, rd["weights"], writes["weights"], issue.waddr, busy, trace_tap, load)
            ready_wait = ready_wait & ~learning
        m.d.comb += [issue.ready_wait.eq(ready_wait), issue.ready_next.eq(ready_next)]
        if self.checks:
            self._state_read_checks(m, issue, c, d, neuron_step,
                                    None if self.is_output else (rd["membrane"], v_wr),
                                    (rd["current"], wr) if self.first else None)
        if "monitor" in self.signature.members:     # each port with the engine's "reading it now"
            reads_w = issue.word.valid if self.learn_rule is None else busy | learning
            reads = {"weights": reads_w, "bias": pre["valid"], "threshold": pipe.threshold["valid"],
                     "membrane": pre["valid"], "shortcut": pre["valid"]}
            self._monitor(m, {name: (rd[name], reads[name]) for name in reads if name in rd})
        return m

    def _memories(self, m):
        """The layer's memories (shapes from the plan, contents from the description), each written from
        its region of the load bus where the load map has one: (memories, the LoadDecode, its write
        ports), by name."""
        layer, fold, W = self.layer, self.fold, self.layer.widths
        lanes = lambda shape: data.ArrayLayout(shape, fold.pe)
        init = {"weights": weight_words(layer, fold), "bias": lane_groups(layer.bias, fold.pe)}
        shape = {"weights": unsigned(fold.pe * fold.simd), "bias": lanes(signed(W.bias))}
        if not self.is_output:
            init |= {"threshold": lane_groups(layer.threshold, fold.pe), "membrane": []}
            shape |= {"threshold": lanes(unsigned(W.threshold)), "membrane": lanes(signed(W.state))}
        if layer.shortcut is not None:                      # per-channel gains of the shortcut
            init["shortcut"], shape["shortcut"] = lane_groups(layer.shortcut, fold.pe), lanes(signed(W.shortcut))
        if self.first:                                      # the synapse phase's current per neuron
            init["current"], shape["current"] = [], lanes(signed(W.current))
        mems = {}
        for name, (depth, width) in self.plan.memories.items():
            if name == "weights" and fold.spram:      # (empty at start: loaded over the bus, boot_writes)
                mems[name] = SinglePortRAM(width, depth, vendor=self.vendor)
            else:
                mems[name] = memory.Memory(shape=shape[name], depth=depth, init=init[name])
            m.submodules[name] = mems[name]
        m.submodules.load_decode = load = LoadDecode([self.regions[n] for n in LOADED if n in self.regions],
                                                     (len(self.load.addr), len(self.load.data)))
        wiring.connect(m, wiring.flipped(self.load), load.load)
        writes = {}
        for name in LOADED:
            if name in mems:
                writes[name] = port = _write_port(mems[name])
                _connect_write(m, getattr(load, name), port)
        return mems, load, writes

    def _neuron_stage(self, m, pipe, drive, neuron_step, rd, membrane):
        """A LIF layer's stages C and D (NeuronStage), with pooling: the spikes of a pooling window's
        positions are ORed, and the word is written at its last position. Returns the membrane's write port."""
        layer, pe = self.layer, self.fold.pe
        m.submodules.neurons = stage = NeuronStage(pe, layer.widths, drive_width=layer.widths.drive(layer.frac_bits),
                                                   leak_shift=layer.leak_shift, reset=layer.reset,
                                                   forward=self.plan.groups == 1)
        c, d = pipe.accumulate, pipe.neurons
        m.d.comb += [stage.first.eq(c["first"]), stage.t0.eq(c["t0"]), stage.step.eq(neuron_step),
                     stage.theta.eq(rd["threshold"].data), stage.v.eq(rd["membrane"].data), stage.drive.eq(drive)]
        pooled, window_or = Signal(pe), Signal(pe)
        m.d.comb += window_or.eq(stage.spike | Mux(d["sub_first"], 0, pooled))
        with m.If(neuron_step):
            m.d.sync += pooled.eq(window_or)
        v_wr = membrane.write_port()
        m.d.comb += [v_wr.addr.eq(d["group"]), v_wr.data.eq(stage.v_next), v_wr.en.eq(neuron_step),
                     self.out.we.eq(neuron_step & d["sub_last"]), self.out.addr.eq(d["out_word"]),
                     self.out.data.eq(window_or), self.out.commit.eq(d["commit"])]
        return v_wr

    def _output_stage(self, m, pipe, drive, neuron_step):
        """The output layer's stages C and D (OutputStage), its result on the engine's stream. Returns
        "the result is out"."""
        layer = self.layer
        m.submodules.output = stage = OutputStage(layer.n_out, self.fold.pe, layer.widths,
                                                  layer.widths.drive(layer.frac_bits),
                                                  result_register=self.plan.result_register)
        for port, flags in (("pre", pipe.state), ("c", pipe.accumulate), ("d", pipe.neurons)):
            m.d.comb += [getattr(stage, port)[name].eq(flags[name]) for name, _ in stage_flags(1)]
        m.d.comb += [stage.step.eq(neuron_step), stage.drive.eq(drive)]
        wiring.connect(m, stage.result, wiring.flipped(self.result))
        return stage.free

    def _readiness(self, m, issue, pipe, result_free):
        """(ready_wait, ready_next) for the issue stage: a step may start from waiting; the next step may
        issue right behind this one's last word (which releases this step's input and whose spikes commit
        PIPELINE_DRAIN cycles later). The output layer's "result free" (``result_free``) is registered, from
        the words in flight including the one issuing: it rises with them and falls a cycle late, which
        result_turnaround counts."""
        T, t, syn, b, words = self.timesteps, issue.t, issue.syn, pipe.synapses, pipe.words
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
            # It is kept as a thermometer code, at_least[j] = (unclaimed >= j + 1), j < banks + 1: a +1
            # moves every bit up one place, a -1 down one, so each bit's next value is a choice among its
            # neighbours (no adder or comparator between the next layer's release, a deep signal, and them)
            levels = self.out_banks + 1
            at_least = [Signal(name=f"unclaimed_ge{k}", init=int(self.out_banks >= k)) for k in range(1, levels + 1)]
            below, above = [Const(1), *at_least[:-1]], [*at_least[1:], Const(0)]
            up, down = self.out.freed & ~b["commit"], b["commit"] & ~self.out.freed
            m.d.sync += [ge.eq(Mux(up, lo, Mux(down, hi, ge))) for ge, lo, hi in zip(at_least, below, above)]
            at_least += [Const(0)] * max(0, 3 - levels)
            out_wait = Mux(b["commit"], at_least[1], at_least[0])     # unclaimed >= 1 + commit
            out_next = Mux(b["commit"], at_least[2], at_least[1])     # unclaimed >= 2 + commit (this step's
            # commit is in flight too)
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
        return ready_wait, ready_next

    def _state_read_checks(self, m, issue, c, d, neuron_step, membrane, current):
        """Assertions (``checks``) that every membrane and stored current the engine uses is the word its
        sequencing needs, whatever its neighbours do: what lets a board build declare a read that meets a
        write to its address undefined (``gen.build.ENGINE_MEMORIES``), and what ``continues_directly`` and
        ``starts_only_when_empty`` promise. Each word written leaves a tag in registers beside the memory:
        written at all, the sample's parity and the step's. A read port returns the word as it was before
        the cycle's write, so the tag is sampled the same way. A membrane used at step t > 0 must have been
        written at step t - 1 of the same sample (or be forwarded from the write-back: one group); a
        stored current, by the synapse phase of the sample whose neuron steps use it. (The sample's parity
        turns as a sample's last step issues its last word; in the first layer, as its synapse phase does.)"""
        T, groups, t, syn = self.timesteps, max(2, self.plan.groups), issue.t, issue.syn
        sample = Signal(name="check_sample_parity")
        with m.If(issue.word.end & (syn if self.first else (t == T - 1))):
            m.d.sync += sample.eq(~sample)
        tags = flag_pipeline(m, {"step": t[0], "sample": sample}, SYNAPSE_LATENCY + 2)
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
        """The monitor (MonitorMux) borrows each read port in the cycles the engine does not read it
        (``ports``: name -> (port, the engine reads it now))."""
        shapes = {name: (len(port.addr), len(Value.cast(port.data))) for name, (port, _) in ports.items()}
        m.submodules.monitor_mux = mux = MonitorMux([self.regions[name] for name in ports], shapes, self.monitor_bus)
        wiring.connect(m, wiring.flipped(self.monitor), mux.monitor)
        for name, (port, engine_reads) in ports.items():
            lent = getattr(mux, name)
            with m.If(~engine_reads & lent.take):
                m.d.comb += port.addr.eq(lent.addr)
            m.d.comb += lent.data.eq(Value.cast(port.data))

    def _flip_unit(self, m, w_rd, w_wr, waddr, running, trace_tap, load):
        """Attach a flip unit to the weight memory. Inference, update and readback take turns on its read
        port; the update and the load bus on its write port. ``trace_tap``: the input words the layer
        reads, for on-chip traces. Returns the unit's busy signal."""
        layer, fold = self.layer, self.fold
        m.submodules.flip = unit = FlipUnit(layer.n_in, layer.n_out, fold, self.learn_rule)
        _connect_write(m, load.delta, unit.delta)
        _connect_write(m, load.trace, unit.trace)
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


def _read_port(store):
    """The engine's read port of one of its memories (a Memory's new port; a SinglePortRAM's only one)."""
    return store.read if isinstance(store, SinglePortRAM) else store.read_port()


def _write_port(store):
    return store.write if isinstance(store, SinglePortRAM) else store.write_port()


def _connect_write(m, source, port):
    """A write port (a memory's, or a component's ``In(WriteSignature)``) driven from ``source``."""
    m.d.comb += [port.addr.eq(source.addr), port.data.eq(source.data), port.en.eq(source.en)]
