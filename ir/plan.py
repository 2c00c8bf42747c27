"""What a build is, in numbers: one :class:`LayerPlan` per layer and a :class:`NetPlan` around them.

numpy only. The hardware (``flipspike.hw``) elaborates from these figures, and everything that needs
them without building hardware reads them here: the cycle model, the resource estimate, the fold
planner, the memory map and the host driver. A layer's plan (FINN's one class per layer) owns

* its walk geometry: the neuron groups a time step visits and the input words each group reads
  (dense: F_out = N_out/PE groups of F_in = N_in/SIMD words; a convolution: output positions x channel
  groups, pooling window by pooling window, each reading its k x k x C_in/SIMD window words);
* its issue cycles per step and per sample, and the timing rules of its step sequencing
  (:meth:`LayerPlan.continues_directly`, :attr:`LayerPlan.starts_only_when_empty`, the output layer's
  result register);
* the depth and width of each of its memories.

The network's plan adds what sits between layers: each spike buffer's banks and whether it lives in
block RAM, and the load-bus and monitor address maps (:mod:`flipspike.ir.memory_map`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .errors import DescriptionError
from .folding import Fold, validate_folding, window_span
from .geometry import size as shape_size

#: Registers from a synapse array's inputs (input word, weight word) to its current: at the inputs
#: (block RAM outputs are slow: 5.6 ns on an ECP5 without its output register), after the adder
#: trees' first levels, and at the output. ``flipspike.hw.synapse`` builds exactly this many.
SYNAPSE_LATENCY = 3
#: Cycles after the last issue before a step's last neuron group is written back (stages B to D).
PIPELINE_DRAIN = SYNAPSE_LATENCY + 2
#: Most banks in one spike buffer (a sample's worth of steps, up to this).
MAX_BANKS = 8
#: The most memory bits and flip-flop bits a build may hold: about ten times the largest FPGA flipspike
#: builds for (the ECP5-85F: 3.7 Mbit of block RAM, 84k flip-flops), and what elaborating it here can
#: afford. Larger plans are refused with their figures before anything is elaborated.
MAX_MEMORY_BITS = 1 << 25
MAX_REGISTER_BITS = 1 << 20


class LayerPlan:
    """One layer at one fold: walk geometry, issue cycles, sequencing rules and memories.

    Dense: groups nf, words sf. Convolution: pooling windows (py, px), channel groups nf, positions in
    the window (dy, dx), words sf = (ky, kx, cg). ``first``: the network's first layer (direct encoding:
    a synapse phase once per sample, then T neuron steps on the stored current)."""

    def __init__(self, layer, fold: Fold, *, first: bool = False, timesteps: int = 1):
        self.layer, self.fold, self.first, self.timesteps = layer, fold, first, timesteps
        conv, self.simd, self.pe, self.event = layer.conv, fold.simd, fold.pe, fold.event
        self.f_in, self.f_out = layer.n_in // fold.simd, layer.n_out // fold.pe
        if conv is None:
            self.h_in = self.w_in = self.k = self.stride = 1
            self.pad, c_in, (ho, wo) = 0, layer.n_in, (1, 1)
        else:
            (self.h_in, self.w_in, c_in), self.k, self.stride, self.pad = (conv.in_shape, conv.kernel, conv.stride,
                                                                          conv.padding)
            ho, wo = conv.out_hw()
        self.dense = conv is None
        self.ho, self.wo, self.pool = ho, wo, layer.pool
        self.hp, self.wp = ho // self.pool, wo // self.pool
        # a window-wide word (SIMD beyond C_in) spans my x mx kernel positions, read through my * mx ports of
        # the input buffer at once, each one pixel's channels; else one port, SIMD channels of one pixel
        self.span = window_span(layer, fold.simd) or (1, 1)
        self.ports = self.span[0] * self.span[1]
        self.port_simd = fold.simd // self.ports                     # elements per port word
        self.ky_words, self.kx_words = self.k // self.span[0], self.k // self.span[1]
        self.cg = c_in // self.port_simd                             # port words per input pixel
        self.in_words = self.h_in * self.w_in * self.cg              # port words of the input
        self.wc = self.wp * self.pool                                # covered width (pooling drops the rest)
        self.groups = self.hp * self.pool * self.wc * self.f_out     # groups walked per step = membrane words
        self.out_words = self.hp * self.wp * self.f_out              # PE-spike words written per step

    # -- issue cycles -------------------------------------------------------------------------------
    def step_issue(self, first: bool | None = None) -> int:
        """Issue cycles of one dense time step: G * F_in words, or a first layer's G pseudo-words (its
        current, stored by the synapse phase of G * F_in words once per sample)."""
        first = self.first if first is None else first
        return self.groups if first else self.groups * self.f_in

    def sample_issue(self, first: bool | None = None) -> int:
        """Issue cycles of one sample in dense mode (a first layer's synapse phase included)."""
        first = self.first if first is None else first
        return self.timesteps * self.step_issue(first) + (self.groups * self.f_in if first else 0)

    @property
    def synapse_phase(self) -> int:
        """Issue cycles of a first layer's synapse phase (G * F_in words, once per sample)."""
        return self.groups * self.f_in

    def window_offsets(self) -> list[tuple[int, int, int]]:
        """(ky, kx, cg) of each word sf of a window, in walk order (of its first port, where it has several)."""
        my, mx = self.span
        return [(wy * my, wx * mx, c) for wy in range(self.ky_words) for wx in range(self.kx_words)
                for c in range(self.cg)]

    def port_offsets(self) -> list[tuple[int, int]]:
        """(dy, dx) of each read port's pixel from the word's first position, in the order of the word's
        weights ((ky, kx, c) row-major, as the weight matrix's columns)."""
        my, mx = self.span
        return [(dy, dx) for dy in range(my) for dx in range(mx)]

    # -- sequencing rules -----------------------------------------------------------------------------
    def continues_directly(self, into_neurons: bool = False) -> bool:
        """Whether the engine may issue a step's first word in the cycle after the previous step's last
        one, hiding that step's PIPELINE_DRAIN cycles. A group's membrane (or, into the first layer's
        neuron steps, ``into_neurons``, its stored current) is read SYNAPSE_LATENCY cycles after the
        group's first word issues and written back PIPELINE_DRAIN = SYNAPSE_LATENCY + 2 cycles after its
        last word, so going straight on is safe where each such read comes after the write it needs:
        with 3 or more groups; with one group (its membrane is forwarded from the write-back; the stored
        current is not); with two groups of 2 or more words each (which an event-driven layer cannot
        promise: a group may take a single word)."""
        if self.groups >= 3:
            return True
        if self.groups == 1:
            return not (self.first and into_neurons)
        return not self.first and not self.event and self.f_in >= 2

    @property
    def starts_only_when_empty(self) -> bool:
        """With one group a step started from WAIT must wait until its predecessor's last word has left
        stage B: otherwise its membrane read would come in the cycle of the write-back it needs."""
        return self.groups == 1

    @property
    def result_register(self) -> bool:
        """Whether an output layer copies its accumulators into a result register (N_out x state
        flip-flops) so that the next sample need not wait for the result to leave: where that wait would
        cost more than 5 % of the layer's issue cycles per sample. (On a small device those flip-flops are
        better spent where they buy more: the iCEBreaker's MLP at 16x1,8x1 waits 2 %.)"""
        return (self.layer.kind == "output"
                and 20 * result_turnaround(self.pe) > self.sample_issue(first=False))

    # -- memories ---------------------------------------------------------------------------------------
    @cached_property
    def memories(self) -> dict[str, tuple[int, int]]:
        """(depth, width) of each memory of the layer's engine (depth >= 2, so no address is zero bits
        wide): what the engine instantiates and what the resource estimator counts."""
        W, pe = self.layer.widths, self.pe
        mems = {"weights": (max(2, self.f_out * self.f_in), pe * self.simd), "bias": (max(2, self.f_out), pe * W.bias)}
        if self.layer.kind == "lif":
            mems["threshold"] = (max(2, self.f_out), pe * W.threshold)
            mems["membrane"] = (max(2, self.groups), pe * W.state)
        if self.layer.shortcut is not None:
            mems["shortcut"] = (max(2, self.f_out), pe * W.shortcut)
        if self.first:
            mems["current"] = (max(2, self.groups), pe * W.current)
        return mems


def input_simd(desc, folds: list[Fold]) -> int:
    """Elements per word of the input stream (pixels, frames, the rate encoder's spikes, the host link's
    pixel words): the first layer's SIMD, or where its word spans several kernel positions, one read
    port's word (one pixel's channels, or a divisor of them)."""
    return LayerPlan(desc.layers[0], folds[0]).port_simd


def result_turnaround(pe: int) -> int:
    """Cycles from an output layer's last word of a sample until its result has left (the next sample's
    step 0 may start then, or with a result register its last step): the drain, the argmax (a
    register, one per lane-tree level, the running best), the result offered and taken at once, and
    the register that tells the sequencing the result is out."""
    return PIPELINE_DRAIN + 5 + (pe - 1).bit_length()


def spike_ram_shape(size: int, pe: int, simd: int, own_pe: int = 0, banks: int = 2) -> tuple[int, int] | None:
    """(depth, width) of a spike buffer kept in block RAM, or None where it stays in flip-flops.

    In RAM a bank is ``size / W`` words of ``W = max(PE, SIMD)`` bits, banks placed at a power-of-two
    stride (the address is the bank number above the word number: no adder). The writer writes PE-bit
    lanes of a word (write granularity PE), the reader reads a word and picks its SIMD-bit lane. That
    needs PE and SIMD to be powers of two of each other. A layer with a shortcut reads its own
    neurons' places through a second port: its input stays in flip-flops."""
    wide, narrow = max(pe, simd), min(pe, simd)
    ratio = wide // narrow
    if own_pe or wide % narrow or ratio & (ratio - 1):
        return None
    return (banks - 1) * frame_stride(size // wide) + size // wide, wide


def frame_stride(words: int) -> int:
    """Words between a frame (or spike) buffer's banks: a bank's words rounded up to a power of two, so
    that a word's address is its bank number above its word number (wiring, no adder)."""
    return 1 << max(0, (words - 1).bit_length())


@dataclass(frozen=True)
class SpikeBufferPlan:
    """The spike buffer in front of a layer: ``size`` spikes per step, written PE and read SIMD at a time
    (``own_pe``: the reader's own neurons' places read too, for a shortcut), a nonzero ``mask`` for an
    event-driven reader, ``banks`` steps deep; ``ports`` read ports (a window-wide reader: one per kernel
    position its word spans, each reading SIMD spikes; in block RAM each port reads a copy of its own)."""
    size: int
    pe: int
    simd: int
    own_pe: int
    mask: bool
    banks: int
    ports: int = 1

    @property
    def ram(self) -> tuple[int, int] | None:
        """(depth, width) of one copy in block RAM, or None (flip-flops): :func:`spike_ram_shape`."""
        return spike_ram_shape(self.size, self.pe, self.simd, self.own_pe, self.banks)

    @property
    def ram_bits(self) -> int:
        """Bits of block RAM, every port's copy counted (0 in flip-flops)."""
        return 0 if self.ram is None else self.ram[0] * self.ram[1] * self.ports


def _buffer_shape(desc, folds: list[Fold], index: int) -> dict:
    layer, fold = desc.layers[index], folds[index]
    reader = LayerPlan(layer, fold)
    return {"size": shape_size(desc.layers[index - 1].output_shape), "pe": folds[index - 1].pe,
            "simd": reader.port_simd, "own_pe": fold.pe if layer.shortcut is not None else 0}


def buffer_banks(desc, folds: list[Fold]) -> list[int]:
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
    plans = [LayerPlan(layer, fold, first=desc.stores_current(i), timesteps=T)
             for i, (layer, fold) in enumerate(zip(desc.layers, folds))]
    step = [p.step_issue() for p in plans]
    issue = [p.sample_issue() for p in plans]
    banks, caps = [], []
    for i in range(len(desc.layers) - 1):
        slowest = issue[i] == max(issue) and issue[i] > max(issue[:i] + issue[i + 1:])
        keeps_up = step[i + 1] + PIPELINE_DRAIN + 2 <= step[i]
        in_ram = spike_ram_shape(**_buffer_shape(desc, folds, i + 1)) is not None
        caps.append(min(T, MAX_BANKS) if in_ram else 3)
        if T >= 3 and in_ram and folds[i + 1].event:       # an event-driven reader's steps vary with its spikes
            banks.append(min(T, MAX_BANKS))
        elif not slowest or keeps_up or T < 3:
            banks.append(2)
        elif in_ram:
            banks.append(min(T, MAX_BANKS))
        else:
            banks.append(3 if step[i + 1] <= step[i] else 2)
    if not any(f.event for f in folds):
        banks = _banks_for_the_stream(desc, plans, banks, caps)
    return banks


def _banks_for_the_stream(desc, plans: list[LayerPlan], banks: list[int], caps: list[int]) -> list[int]:
    """``banks`` with a bank added where the stream replay (:func:`flipspike.ir.cycle_model.stream_interval`)
    shows a handshake stalling the slowest layer, one at a time where it helps most, until the stream runs
    at the slowest layer's period (:func:`flipspike.ir.cycle_model.layer_cycles`) or no bank helps (buffer i
    up to ``caps[i]`` banks: in block RAM T, at most MAX_BANKS; in flip-flops 3). E.g. a first layer whose
    synapse phase is long cannot get its next sample's first step out in time for the layer after it with
    two banks between them."""
    from .cycle_model import layer_cycles, stream_interval

    period = max(row["cycles"] for row in layer_cycles(desc, [p.fold for p in plans]))
    interval = stream_interval(desc, plans, banks)
    while interval > period:
        tries = [(stream_interval(desc, plans, banks[:i] + [banks[i] + 1] + banks[i + 1:]), i)
                 for i in range(len(banks)) if banks[i] < caps[i]]
        if not tries or min(tries)[0] >= interval:
            break
        interval, i = min(tries)
        banks = banks[:i] + [banks[i] + 1] + banks[i + 1:]
    return banks


class NetPlan:
    """A whole build: the layers' plans, the spike buffers between them, and (with ``learn``, a
    :class:`flipspike.ir.learning.Learning`) the flip unit's place in the address maps."""

    def __init__(self, desc, folds: list[Fold], learn=None):
        validate_folding(desc.layers, folds, desc.input.per_step)
        self.desc, self.folds, self.learn = desc, list(folds), learn
        self.layers = [LayerPlan(layer, fold, first=desc.stores_current(i), timesteps=desc.timesteps)
                       for i, (layer, fold) in enumerate(zip(desc.layers, folds))]
        self.banks = buffer_banks(desc, folds)
        #: the spike buffer in front of each layer (None in front of the first: it reads pixels)
        self.buffers = [None] + [SpikeBufferPlan(**_buffer_shape(desc, folds, i), mask=folds[i].event,
                                                 banks=self.banks[i - 1], ports=self.layers[i].ports)
                                 for i in range(1, len(desc.layers))]

    @property
    def input_simd(self) -> int:
        """Elements per word of the input stream (:func:`input_simd`)."""
        return input_simd(self.desc, self.folds)

    @property
    def input_buffer(self) -> tuple[int, int]:
        """(depth, width) of the memory the first layer reads (one copy per read port: ``input_ports``):
        the pixel buffer (one sample's input words) or the frame buffer (T banks of one frame's words,
        each bank at a power-of-two stride; rate encoding: of spikes)."""
        inp, simd = self.desc.input, self.input_simd
        words = inp.size // simd
        if not inp.per_step:
            return max(2, words), simd * inp.bits
        return max(2, self.desc.timesteps * frame_stride(words)), simd * inp.step_input()[1]

    @property
    def input_ports(self) -> int:
        """Read ports of the input buffer: the first layer's (a window-wide first layer reads a copy per
        kernel position its word spans)."""
        return self.layers[0].ports

    @property
    def encoder_memory(self) -> tuple[int, int] | None:
        """(depth, width) of the rate encoder's pixel memory (one sample's pixel words), or None."""
        inp, simd = self.desc.input, self.input_simd
        return (max(2, inp.size // simd), simd * inp.bits) if inp.encoding == "rate" else None

    @property
    def memory_bits(self) -> int:
        """Bits of every memory: the engines', the spike buffers' in block RAM and the input buffer (and
        the rate encoder's)."""
        engines = sum(d * w for layer in self.layers for d, w in layer.memories.values())
        buffers = sum(b.ram_bits for b in self.buffers if b is not None)
        depth, width = self.input_buffer
        encoder = self.encoder_memory or (0, 0)
        return engines + buffers + self.input_ports * depth * width + encoder[0] * encoder[1]

    @property
    def register_bits(self) -> int:
        """Bits of the largest register arrays: spike buffers kept in flip-flops and the output layer's
        accumulators (the pipeline's own registers are small beside them)."""
        buffers = sum(b.banks * b.size for b in self.buffers if b is not None and b.ram is None)
        out = self.desc.layers[-1]
        return buffers + 2 * out.n_out * out.widths.state

    def check_size(self) -> None:
        """Refuse, with the figures, a build larger than MAX_MEMORY_BITS / MAX_REGISTER_BITS."""
        memory, registers = self.memory_bits, self.register_bits
        if memory > MAX_MEMORY_BITS or registers > MAX_REGISTER_BITS:
            raise DescriptionError(
                f"this build needs {memory} bits of memory and {registers} bits of register arrays; the limits "
                f"are {MAX_MEMORY_BITS} and {MAX_REGISTER_BITS} (about ten times the largest FPGA flipspike "
                "builds for): shrink the network, or fold it so that its spike buffers fit block RAM")

    @cached_property
    def regions(self):
        """The load bus's regions (:func:`flipspike.ir.memory_map.memory_map`)."""
        from .memory_map import memory_map
        return memory_map(self.desc, self.folds, self.learn)

    @cached_property
    def monitor_regions(self):
        """The monitor's regions (:func:`flipspike.ir.memory_map.monitor_map`)."""
        from .memory_map import monitor_map
        return monitor_map(self.desc, self.folds, self.learn)

    @property
    def load_bus(self) -> tuple[int, int]:
        """(address bits, data bits) of the load bus."""
        from .memory_map import address_widths
        return address_widths(self.regions)

    @property
    def monitor_bus(self) -> tuple[int, int]:
        """(address bits, data bits) of the monitor port."""
        from .memory_map import address_widths
        return address_widths(self.monitor_regions)
