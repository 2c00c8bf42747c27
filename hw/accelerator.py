"""The accelerator top: pixels (or frames) in, (class, output accumulations) out, per-layer counters.

    pixels (stream) -> PixelBuffer | [RateEncoder ->] FrameBuffer -> layer 0 -> SpikeBuffer -> layer 1 -> ... -> output layer -> result (stream)
    load (bus)      -> every layer's weight, bias and threshold memories (see memory_map)

Every layer is its own engine; ping-pong spike buffers let layer l work on step t while layer l+1
works on step t-1, and the pixel buffer takes the next sample while the first layer is still stepping.
"""

from __future__ import annotations

import operator
from dataclasses import asdict
from functools import reduce

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir import NetDesc
from flipspike.ir.aer import EventFormat
from flipspike.ir.errors import ConfigError, DescriptionError
from flipspike.ir.formats import COUNTER_WIDTH
from flipspike.ir.folding import Fold, validate_folding
from flipspike.ir.learning import Learning
from flipspike.ir.plan import NetPlan

from .arith import registered_tree_sum, tree_sum
from .buffers import FrameBuffer, PixelBuffer, SpikeBuffer
from .event_frames import EventFrames, event_layout
from .interfaces import CounterLayout, LoadSignature, MonitorSignature, result_layout
from .layer_engine import LayerEngine
from .rate_encoder import RateEncoder
from .flip_unit import LearnSignature


def check_supported(desc: NetDesc, learn: Learning | None = None) -> None:
    """Refuse, with the layer's name, what the description can say but this hardware cannot build yet."""
    if learn is not None and desc.layers[learn.layer].conv is not None:
        raise DescriptionError(f"on-chip learning of a convolution ({desc.layers[learn.layer].name}) is not "
                               "supported; learn a dense layer (the output layer)")


class Accelerator(wiring.Component):
    def __init__(self, desc: NetDesc, folds: list[Fold], learn: Learning | None = None, *, checks: bool = False,
                 vendor: str | None = None, aer: EventFormat | None = None):
        """``checks``: the engines assert their sequencing's invariants (for simulation and formal
        verification; generated designs leave them out). ``vendor``: the device family of a build ("ice40",
        "ecp5"; None: simulation), see :class:`flipspike.hw.layer_engine.LayerEngine`. ``aer``: the input is
        an AER port of that format (``events``, and ``aer_dropped`` counting what it refused) instead of
        the pixel (frame) stream."""
        desc.validate()
        if learn is not None and not 0 <= learn.layer < len(desc.layers):
            raise ConfigError(f"learning layer {learn.layer} does not exist (the network has {len(desc.layers)})")
        check_supported(desc, learn)
        validate_folding(desc.layers, folds, desc.input.per_step)
        if learn is not None and folds[learn.layer].event:
            raise ConfigError(f"layer {desc.layers[learn.layer].name} learns on chip and counts its input spikes "
                             "word by word: it cannot be event-driven (drop the 'e' from its fold)")
        self.desc, self.folds, self.learn_cfg, self.checks, self.vendor = desc, folds, learn, checks, vendor
        self.aer = aer
        if aer is not None and aer != EventFormat.of(desc, aer.pool):
            raise ConfigError(f"the AER port's format {aer} is not this network's ({EventFormat.of(desc, aer.pool)})")
        self.plan = NetPlan(desc, folds, learn)
        self.plan.check_size()                   # (before anything that size is elaborated)
        if aer is not None and self.plan.input_ports > 1:
            raise ConfigError(f"the AER port fills frames a word per event, and layer {desc.layers[0].name}'s fold "
                              f"{folds[0]} reads words spanning several kernel positions; give it a SIMD that divides "
                              "its input channels")
        self.load_bus, self.monitor_bus = self.plan.load_bus, self.plan.monitor_bus
        out = desc.layers[-1]
        members = {}
        if learn is not None:
            layer, fold = desc.layers[learn.layer], folds[learn.layer]
            words = (layer.n_in // fold.simd) * (layer.n_out // fold.pe)
            members["learn"] = In(LearnSignature(words, fold.pe * fold.simd, learn.rule.momentum_bits, layer.n_out,
                                                 learn.rule.v_bits if learn.rule.tbso else 0))
        if aer is None:
            members["pixels"] = In(stream.Signature(data.ArrayLayout(unsigned(desc.input.bits), self.plan.input_simd)))
        else:
            members |= {"events": In(stream.Signature(event_layout(aer))), "aer_dropped": Out(COUNTER_WIDTH)}
        super().__init__({
            **members,
            "load": In(LoadSignature(*self.load_bus)),
            "monitor": In(MonitorSignature(*self.monitor_bus)),
            "result": Out(stream.Signature(result_layout(out.n_out, out.widths.state))),
            "counters": Out(data.ArrayLayout(CounterLayout, len(desc.layers))),
        })

    def elaborate(self, platform):
        m = Module()
        desc, folds = self.desc, self.folds
        inp, simd, ports = desc.input, self.plan.input_simd, self.plan.input_ports
        new_input = None                   # (the AER port says which events set a new input)
        if self.aer is not None:           # events into the frame buffer's banks, on chip
            m.submodules.pixels = pixbuf = EventFrames(self.aer, simd, folds[0].event)
            wiring.connect(m, wiring.flipped(self.events), pixbuf.events)
            m.d.comb += self.aer_dropped.eq(pixbuf.dropped)
            new_input = pixbuf.new
        elif inp.per_step:          # frames from the host, or from the rate encoder: a bank per step
            m.submodules.pixels = pixbuf = FrameBuffer(inp.size, simd, inp.step_input()[1], desc.timesteps,
                                                       folds[0].event, ports)
        else:
            m.submodules.pixels = pixbuf = PixelBuffer(inp.size, simd, inp.bits, ports)
        if self.aer is not None:
            feed = None
        elif inp.encoding == "rate":
            m.submodules.rate = rate = RateEncoder(inp.size, simd, inp.bits, desc.timesteps, inp.seed)
            wiring.connect(m, wiring.flipped(self.pixels), rate.pixels)
            wiring.connect(m, rate.spikes, pixbuf.pixels)
            feed = rate.spikes                       # what enters the buffer: counted as the layer's inputs
        else:
            wiring.connect(m, wiring.flipped(self.pixels), pixbuf.pixels)
            feed = self.pixels
        learn = self.learn_cfg
        regions, banks = self.plan.monitor_regions, self.plan.banks
        monitor_words = []
        engines = []
        for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
            rule = learn.rule if learn is not None and learn.layer == i else None
            engine = LayerEngine(layer, fold, desc.timesteps, first=desc.stores_current(i),
                                 regions=[r for r in regions if r.layer == i], load_bus=self.load_bus,
                                 learn_rule=rule, in_lanes=simd if i == 0 else folds[i - 1].pe,
                                 monitor_bus=self.monitor_bus, out_banks=banks[i] if i < len(banks) else 2,
                                 checks=self.checks, vendor=self.vendor)
            m.submodules[f"layer{i}"] = engine
            if rule is not None:
                wiring.connect(m, wiring.flipped(self.learn), engine.learn)
            m.d.comb += [engine.load.addr.eq(self.load.addr), engine.load.data.eq(self.load.data),
                         engine.load.en.eq(self.load.en), engine.monitor.addr.eq(self.monitor.addr)]
            monitor_words.append(engine.monitor.data)
            m.d.comb += self.counters[i].eq(engine.counters)
            if i == 0 and feed is None:
                wiring.connect(m, pixbuf.read, engine.inp)
                m.d.sync += engine.in_count.eq(new_input)   # an event that set an input, registered
            elif i == 0:
                wiring.connect(m, pixbuf.read, engine.inp)
                accepted = feed.valid & feed.ready          # nonzero pixels (or spikes), as they arrive
                # (input counts are registered, and the nonzero flags before them: off the paths into the
                # buffers, and no comparator in front of the adder tree)
                nonzero = Signal(simd, name="pixels_nonzero")
                m.d.sync += nonzero.eq(Mux(accepted, Cat(feed.payload[j] != 0 for j in range(simd)), 0))
                # (the count's tree registered after two levels too)
                m.d.sync += engine.in_count.eq(registered_tree_sum(m, list(nonzero), 2, "pixels_counted"))
            else:
                prev = engines[-1]
                buf = SpikeBuffer(**asdict(self.plan.buffers[i]))
                m.submodules[f"spikes{i - 1}"] = buf
                wiring.connect(m, prev.out, buf.write)
                wiring.connect(m, buf.read, engine.inp)
                written = Signal.like(prev.out.data, name=f"written{i - 1}")   # counted from a register
                m.d.sync += [written.eq(Mux(prev.out.we, prev.out.data, 0)),
                             engine.in_count.eq(tree_sum(list(written)))]
            engines.append(engine)
        wiring.connect(m, engines[-1].result, wiring.flipped(self.result))
        m.d.comb += self.monitor.data.eq(reduce(operator.or_, monitor_words))   # one engine answers
        return m
