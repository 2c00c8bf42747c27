"""The accelerator top: pixels in, (class, output accumulations) out, per-layer counters.

    pixels (stream) -> PixelBuffer -> layer 0 -> SpikeBuffer -> layer 1 -> ... -> output layer -> result (stream)
    load (bus)      -> every layer's weight, bias and threshold memories (see memory_map)

Every layer is its own engine; ping-pong spike buffers let layer l work on step t while layer l+1
works on step t-1, and the pixel buffer takes the next sample while the first layer is still stepping.
"""

from __future__ import annotations

import operator
from functools import reduce

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir import NetDesc
from flipspike.ir.errors import DescriptionError
from flipspike.ir.folding import Fold, validate_folding
from flipspike.ir.geometry import size

from .arith import registered_tree_sum, tree_sum
from .buffers import PixelBuffer, SpikeBuffer, spike_ram_shape
from .interfaces import CounterLayout, LoadSignature, MonitorSignature, result_layout
from .layer_engine import PIPELINE_DRAIN, GroupWalk, LayerEngine
from .flip_unit import LearnSignature
from .memory_map import Learning, bus_widths, monitor_map, monitor_widths


def check_supported(desc: NetDesc, learn: Learning | None = None) -> None:
    """Refuse, with the layer's name, what the description can say but this hardware cannot build yet."""
    if learn is not None and desc.layers[learn.layer].conv is not None:
        raise DescriptionError(f"on-chip learning of a convolution ({desc.layers[learn.layer].name}) is not "
                               "supported; learn a dense layer (the output layer)")


#: Most banks in one spike buffer (a sample's worth of steps, up to this)
MAX_BANKS = 8


def buffer_banks(desc: NetDesc, folds: list[Fold]) -> list[int]:
    """Banks of each spike buffer (between layers i and i+1). Two, except after the slowest layer (by
    issue cycles per sample) where two cannot keep it going: its step j+2 needs the next layer done with
    step j, which the next layer starts PIPELINE_DRAIN + 2 cycles after step j ends, so a next layer
    whose step takes about as long stalls it every step. There a buffer in block RAM holds a sample's
    worth of steps (T banks, at most MAX_BANKS: the next layer's waits between samples, for its result
    to leave, no longer reach back). A buffer in flip-flops gets a third bank, and only where the next
    layer's step is no longer than the slowest one's (where it is longer, a bank only absorbs a burst of
    steps, and flip-flops are dear: on the iCEBreaker's MLP at 16x1,8x1 it cost the fit). In front of an
    event-driven layer, whose steps are as long as their spikes make them (a busy step can keep the layer
    before it waiting even where it is faster on average), a buffer in block RAM holds T banks too."""
    T = desc.timesteps
    walks = [GroupWalk(layer, fold) for layer, fold in zip(desc.layers, folds)]
    step = [w.step_issue(first=i == 0) for i, w in enumerate(walks)]
    issue = [w.sample_issue(T, first=i == 0) for i, w in enumerate(walks)]
    banks = []
    for i in range(len(desc.layers) - 1):
        slowest = issue[i] == max(issue) and issue[i] > max(issue[:i] + issue[i + 1:])
        keeps_up = step[i + 1] + PIPELINE_DRAIN + 2 <= step[i]
        in_ram = spike_ram_shape(**_buffer_shape(desc, folds, i + 1)) is not None
        if T >= 3 and in_ram and folds[i + 1].event:       # an event-driven reader's steps vary with its spikes
            banks.append(min(T, MAX_BANKS))
        elif not slowest or keeps_up or T < 3:
            banks.append(2)
        elif in_ram:
            banks.append(min(T, MAX_BANKS))
        else:
            banks.append(3 if step[i + 1] <= step[i] else 2)
    return banks


def _buffer_shape(desc: NetDesc, folds: list[Fold], index: int) -> dict:
    layer, fold = desc.layers[index], folds[index]
    return {"size": size(desc.layers[index - 1].output_shape), "pe": folds[index - 1].pe, "simd": fold.simd,
            "own_pe": fold.pe if layer.shortcut is not None else 0}


def spike_buffer_args(desc: NetDesc, folds: list[Fold], index: int) -> dict:
    """SpikeBuffer arguments of the buffer in front of layer ``index`` (> 0); one place for the
    accelerator and the resource estimate."""
    return {**_buffer_shape(desc, folds, index), "mask": folds[index].event,
            "banks": buffer_banks(desc, folds)[index - 1]}


class Accelerator(wiring.Component):
    def __init__(self, desc: NetDesc, folds: list[Fold], learn: Learning | None = None):
        desc.validate()
        if learn is not None and not 0 <= learn.layer < len(desc.layers):
            raise ValueError(f"learning layer {learn.layer} does not exist (the network has {len(desc.layers)})")
        check_supported(desc, learn)
        validate_folding(desc.layers, folds)
        if learn is not None and folds[learn.layer].event:
            raise ValueError(f"layer {desc.layers[learn.layer].name} learns on chip and counts its input spikes "
                             "word by word: it cannot be event-driven (drop the 'e' from its fold)")
        self.desc, self.folds, self.learn_cfg = desc, folds, learn
        self.load_bus = bus_widths(desc, folds, learn)
        self.monitor_bus = monitor_widths(desc, folds, learn)
        out = desc.layers[-1]
        members = {}
        if learn is not None:
            layer, fold = desc.layers[learn.layer], folds[learn.layer]
            words = (layer.n_in // fold.simd) * (layer.n_out // fold.pe)
            members["learn"] = In(LearnSignature(words, fold.pe * fold.simd, learn.rule.momentum_bits, layer.n_out,
                                                 learn.rule.v_bits if learn.rule.tbso else 0))
        super().__init__({
            **members,
            "pixels": In(stream.Signature(data.ArrayLayout(unsigned(desc.input.bits), folds[0].simd))),
            "load": In(LoadSignature(*self.load_bus)),
            "monitor": In(MonitorSignature(*self.monitor_bus)),
            "result": Out(stream.Signature(result_layout(out.n_out, out.widths.state))),
            "counters": Out(data.ArrayLayout(CounterLayout, len(desc.layers))),
        })

    def elaborate(self, platform):
        m = Module()
        desc, folds = self.desc, self.folds
        m.submodules.pixels = pixbuf = PixelBuffer(desc.input.size, folds[0].simd, desc.input.bits)
        wiring.connect(m, wiring.flipped(self.pixels), pixbuf.pixels)
        learn = self.learn_cfg
        regions = monitor_map(desc, folds, learn)
        banks = buffer_banks(desc, folds)
        monitor_words = []
        engines = []
        for i, (layer, fold) in enumerate(zip(desc.layers, folds)):
            rule = learn.rule if learn is not None and learn.layer == i else None
            engine = LayerEngine(layer, fold, desc.timesteps, first=i == 0,
                                 regions=[r for r in regions if r.layer == i], load_bus=self.load_bus,
                                 learn_rule=rule, in_lanes=fold.simd if i == 0 else folds[i - 1].pe,
                                 monitor_bus=self.monitor_bus, out_banks=banks[i] if i < len(banks) else 2)
            m.submodules[f"layer{i}"] = engine
            if rule is not None:
                wiring.connect(m, wiring.flipped(self.learn), engine.learn)
            m.d.comb += [engine.load.addr.eq(self.load.addr), engine.load.data.eq(self.load.data),
                         engine.load.en.eq(self.load.en), engine.monitor.addr.eq(self.monitor.addr)]
            monitor_words.append(engine.monitor.data)
            m.d.comb += self.counters[i].eq(engine.counters)
            if i == 0:
                wiring.connect(m, pixbuf.read, engine.inp)
                accepted = self.pixels.valid & self.pixels.ready          # nonzero pixels, as they arrive
                # (input counts are registered, and the nonzero flags before them: off the paths into the
                # buffers, and no comparator in front of the adder tree)
                nonzero = Signal(fold.simd, name="pixels_nonzero")
                m.d.sync += nonzero.eq(Mux(accepted, Cat(self.pixels.payload[j] != 0 for j in range(fold.simd)), 0))
                # (the count's tree registered after two levels too)
                m.d.sync += engine.in_count.eq(registered_tree_sum(m, list(nonzero), 2, "pixels_counted"))
            else:
                prev = engines[-1]
                buf = SpikeBuffer(**spike_buffer_args(desc, folds, i))
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
