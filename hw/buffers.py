"""Buffers between stages: the pixel or frame buffer (stream in) and ping-pong spike buffers between layers."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In

from flipspike.ir.plan import frame_stride, spike_ram_shape

from .interfaces import SpikeOutSignature, StepInputSignature


class PixelBuffer(wiring.Component):
    """Holds one sample's pixels, written by a stream of SIMD-pixel words, read by the first layer.

    The stream is ready whenever the buffer is empty, so the next sample loads while the first layer is
    still running the previous sample's time steps (it reads pixels only once per sample). With ``ports``
    > 1 (a first layer whose word spans several kernel positions) the layer reads ``ports`` words at once,
    each at its own address, from a read port (a copy of the memory) each.
    """

    def __init__(self, size: int, simd: int, bits: int, ports: int = 1):
        if size % simd:
            raise ValueError(f"PixelBuffer: {size} pixels are not a whole number of {simd}-pixel words")
        check_ports("PixelBuffer", ports)
        self.words, self.simd, self.bits, self.ports = size // simd, simd, bits, ports
        word = data.ArrayLayout(unsigned(bits), simd)
        super().__init__({
            "pixels": In(stream.Signature(word)),
            "read": In(StepInputSignature(self.words, simd * ports, bits, ports=ports)),
        })

    def elaborate(self, platform):
        m = Module()
        # in block RAM even when shallow: in flip-flops a wide first layer's pixels take hundreds of logic
        # cells (each flip-flop fed straight from the stream needs a cell of its own on an iCE40)
        m.submodules.mem = mem = memory.Memory(shape=unsigned(self.simd * self.bits), depth=max(2, self.words), init=[],
                                               attrs={"ram_style": "block"})
        wr, rd = mem.write_port(), mem.read_port()      # (as written, the ports' names in the Verilog)
        reads = read_ports(mem, rd, self.read, self.ports, self.simd * self.bits)
        full = Signal()
        released = Signal()          # the release, registered (off the first layer's walk): the buffer
        m.d.sync += released.eq(self.read.release)       # empties a cycle later, unseen by the reader
        addr = Signal(range(max(2, self.words)))
        m.d.comb += [
            self.pixels.ready.eq(~full),
            wr.addr.eq(addr), wr.data.eq(self.pixels.payload), wr.en.eq(self.pixels.valid & ~full),
            *(part for rd, raddr, bits in reads for part in (rd.addr.eq(raddr), bits.eq(rd.data))),
            self.read.avail.eq(full & ~released),
            self.read.next_avail.eq(0),                    # one sample at a time
        ]
        with m.If(self.pixels.valid & ~full):
            with m.If(addr == self.words - 1):
                m.d.sync += [addr.eq(0), full.eq(1)]
            with m.Else():
                m.d.sync += addr.eq(addr + 1)
        with m.If(released):
            m.d.sync += full.eq(0)
        return m


def check_ports(name: str, ports: int, mask: bool = False) -> None:
    if ports < 1 or (ports > 1 and mask):
        raise ValueError(f"{name}: {ports} read ports{' with a nonzero mask' if mask else ''}; it needs 1 or more, "
                         "and an event-driven reader reads through one")


def port_reads(read, ports: int, width: int):
    """(address, data bits) of each read port of a buffer's ``read`` interface (a StepInputSignature):
    one port, or ``ports`` side by side, port 0's ``width`` bits first."""
    if ports == 1:
        return [(read.addr, read.data.as_value())]
    bits = read.data.as_value()
    return [(read.addr[j], bits[j * width:(j + 1) * width]) for j in range(ports)]


def read_ports(mem, first, read, ports: int, width: int):
    """(memory read port, address, data bits) of each read port of ``read``: ``first``, a port the caller
    made (its variable names it in the Verilog), and one more of ``mem`` per further port."""
    return [(port, addr, bits) for port, (addr, bits) in
            zip([first] + [mem.read_port() for _ in range(ports - 1)], port_reads(read, ports, width))]


def bank_address(word, bank, word_bits: int):
    """A frame buffer's address: the bank above the word (banks at a power-of-two stride: wiring)."""
    return Cat(word[:word_bits], bank) if word_bits else bank


def frame_handshake(m, read, timesteps: int, commit, rsel):
    """A frame buffer's bank count and its reader's handshake, shared by every writer of frames: ``commit``
    (a frame is in) and the reader's release move the count of full banks and ``rsel`` (the bank being
    read: the step); ``avail`` and ``next_avail`` are registers set from the next values: a sample starts
    with all its T frames in, and within a sample the next frame is always there. Returns the count."""
    T = timesteps
    count = Signal(range(T + 1), name="frames_in")      # frames written and not yet released
    next_count, next_rsel = Signal.like(count), Signal.like(rsel)
    m.d.comb += [next_count.eq(count + commit - read.release),
                 next_rsel.eq(Mux(read.release, Mux(rsel == T - 1, 0, rsel + 1), rsel))]
    m.d.sync += [count.eq(next_count), rsel.eq(next_rsel),
                 read.avail.eq((next_rsel != 0) | (next_count == T)),
                 read.next_avail.eq(next_rsel != T - 1)]
    return count


class FrameBuffer(wiring.Component):
    """Holds a sample's T frames (frame input: one frame per time step), written by a stream of
    SIMD-element words frame after frame, read by the first layer one step (frame) at a time.

    One bank per step, in block RAM (bank b at a power-of-two stride: the address is wiring). The first
    layer may start a sample only when all T of its frames are in (``avail`` at step 0), so a sample's
    steps never wait for the link, and the cycle model's first layer starts as a direct one does; each
    step's release frees its bank for the next sample's frame at once, so the next sample loads while
    this one steps, as the pixel buffer lets it. With ``mask`` (an event-driven first layer), one flag per
    word and bank, set as the word is written, tells which words of the step's frame hold an event. With
    ``ports`` > 1, read ports as the pixel buffer's.
    """

    def __init__(self, size: int, simd: int, bits: int, timesteps: int, mask: bool = False, ports: int = 1):
        if size % simd:
            raise ValueError(f"FrameBuffer: {size} elements are not a whole number of {simd}-element words")
        if timesteps < 1:
            raise ValueError(f"FrameBuffer: {timesteps} time steps; it needs 1 or more")
        check_ports("FrameBuffer", ports, mask)
        self.words, self.simd, self.bits, self.timesteps, self.mask = size // simd, simd, bits, timesteps, mask
        self.ports = ports
        self.stride = frame_stride(self.words)
        word = data.ArrayLayout(unsigned(bits), simd)
        super().__init__({
            "pixels": In(stream.Signature(word)),
            "read": In(StepInputSignature(self.words, simd * ports, bits, mask, ports=ports)),
        })

    def elaborate(self, platform):
        m = Module()
        T, words = self.timesteps, self.words
        m.submodules.mem = mem = memory.Memory(shape=unsigned(self.simd * self.bits), depth=max(2, T * self.stride),
                                               init=[], attrs={"ram_style": "block"})
        wr, rd = mem.write_port(), mem.read_port()      # (as written, the ports' names in the Verilog)
        reads = read_ports(mem, rd, self.read, self.ports, self.simd * self.bits)
        wsel, rsel = Signal(range(max(2, T))), Signal(range(max(2, T)))
        waddr = Signal(range(max(2, words)))
        accept = self.pixels.valid & self.pixels.ready
        commit = accept & (waddr == words - 1)
        count = frame_handshake(m, self.read, T, commit, rsel)
        word_bits = (self.stride - 1).bit_length()
        m.d.comb += [
            self.pixels.ready.eq(count != T),
            wr.addr.eq(bank_address(waddr, wsel, word_bits)), wr.data.eq(self.pixels.payload), wr.en.eq(accept),
            *(part for rd, raddr, bits in reads
              for part in (rd.addr.eq(bank_address(raddr, rsel, word_bits)), bits.eq(rd.data))),
        ]
        with m.If(accept):
            m.d.sync += waddr.eq(Mux(waddr == words - 1, 0, waddr + 1))
        with m.If(commit):
            m.d.sync += wsel.eq(Mux(wsel == T - 1, 0, wsel + 1))
        if self.mask:
            flags = [Signal(words, name=f"nonzero{b}") for b in range(T)]
            written = Cat(self.pixels.payload[j] != 0 for j in range(self.simd)).any()
            for b, f in enumerate(flags):
                with m.If(accept & (wsel == b)):
                    m.d.sync += f.bit_select(waddr, 1).eq(written)
            with m.Switch(rsel):
                for b, f in enumerate(flags):
                    with m.Case(b):
                        m.d.comb += self.read.nonzero.eq(f)
        return m


class SpikeBuffer(wiring.Component):
    """A ring of ``banks`` (2 or more) banks of one step's spikes: layer l writes step t into one while
    layer l+1 reads an earlier step from another.

    The writer stores PE bits per neuron group and commits; the reader fetches SIMD bits per word (one
    cycle of latency, like a memory) and releases. ``count`` of full banks gives the handshake. The
    banks live in block RAM where :func:`spike_ram_shape` allows (``ram``): a bank in flip-flops costs
    a flip-flop per spike, a write decoder and a bank-wide read multiplexer. In RAM an event-driven
    reader's ``nonzero`` mask comes from flags kept beside it, set as the lanes are written (every lane
    of a bank is written each step).

    With ``ports`` > 1 (a reader whose word spans several kernel positions) the reader reads ``ports``
    SIMD-bit words at once, each at its own address: in flip-flops through a multiplexer each, in block
    RAM from a read port each (the synthesis tools give every read port a copy of the memory).
    """

    def __init__(self, size: int, pe: int, simd: int, mask: bool = False, own_pe: int = 0, banks: int = 2,
                 ram: bool = True, ports: int = 1):
        if size % pe or size % simd or (own_pe and size % own_pe):
            raise ValueError(f"SpikeBuffer: {size} spikes must split into PE={pe} groups and SIMD={simd} words")
        if banks < 2:
            raise ValueError(f"SpikeBuffer: {banks} banks; it needs 2 or more")
        check_ports("SpikeBuffer", ports, mask)
        self.size, self.pe, self.simd, self.mask, self.own_pe, self.banks = size, pe, simd, mask, own_pe, banks
        self.ports = ports
        self.ram_shape = spike_ram_shape(size, pe, simd, own_pe, banks) if ram else None
        own = (size // own_pe, own_pe) if own_pe else None
        super().__init__({
            "write": In(SpikeOutSignature(size // pe, pe, banks)),
            "read": In(StepInputSignature(size // simd, simd * ports, 1, mask, own, ports)),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.banks
        wsel, rsel = Signal(range(n)), Signal(range(n))
        count = Signal(range(n + 1))
        # the reader's handshake, kept in registers beside count (set from its next value): no comparator
        # between count and the reading engine's sequencing
        # (both outcomes of the reader's release are compared first, the release, a deep signal, picks one)
        avail, next_avail = Signal(name="avail"), Signal(name="next_avail")
        kept, released = count + self.write.commit, count + self.write.commit - 1
        m.d.sync += [count.eq(count + self.write.commit - self.read.release),
                     avail.eq(Mux(self.read.release, released > 0, kept > 0)),
                     next_avail.eq(Mux(self.read.release, released >= 2, kept >= 2))]
        m.d.comb += [self.write.free_banks.eq(n - count), self.write.freed.eq(self.read.release),
                     self.read.avail.eq(avail), self.read.next_avail.eq(next_avail)]
        if self.ram_shape is None:
            self._banks_in_flip_flops(m, wsel, rsel)
        else:
            self._banks_in_ram(m, wsel, rsel)
        with m.If(self.write.commit):
            m.d.sync += wsel.eq(Mux(wsel == n - 1, 0, wsel + 1))
        with m.If(self.read.release):
            m.d.sync += rsel.eq(Mux(rsel == n - 1, 0, rsel + 1))
        return m

    def _banks_in_flip_flops(self, m, wsel, rsel):
        banks = [Signal(self.size, name=f"bank{b}") for b in range(self.banks)]
        for b, bank in enumerate(banks):
            with m.If(self.write.we & (wsel == b)):
                m.d.sync += bank.word_select(self.write.addr, self.pe).eq(self.write.data)
        rbank = Signal(self.size)
        with m.Switch(rsel):
            for b, bank in enumerate(banks):
                with m.Case(b):
                    m.d.comb += rbank.eq(bank)
        for addr, bits in port_reads(self.read, self.ports, self.simd):
            m.d.sync += bits.eq(rbank.word_select(addr, self.simd))
        if self.own_pe:
            m.d.sync += self.read.own_data.eq(rbank.word_select(self.read.own_addr, self.own_pe))
        if self.mask:                                      # which words of the read bank hold a spike
            m.d.comb += self.read.nonzero.eq(Cat(rbank[w * self.simd:(w + 1) * self.simd].any()
                                                 for w in range(self.size // self.simd)))

    def _banks_in_ram(self, m, wsel, rsel):
        depth, width = self.ram_shape
        pe, simd = self.pe, self.simd
        m.submodules.mem = mem = memory.Memory(shape=unsigned(width), depth=depth, init=[],
                                               attrs={"ram_style": "block"})
        wr = mem.write_port(granularity=pe if pe < width else None)
        rd = mem.read_port()                                # (named after this variable in the Verilog)
        reads = read_ports(mem, rd, self.read, self.ports, self.simd)
        word_bits = (self.size // width - 1).bit_length()   # the bank's stride is 2**word_bits words
        w_lanes, r_lanes = width // pe, width // simd       # (powers of two)
        w_shift, r_shift = (w_lanes - 1).bit_length(), (r_lanes - 1).bit_length()
        waddr = self.write.addr

        def address(lane_addr, shift, sel):                 # bank number above the word number
            if not word_bits:
                return sel
            word = Signal(word_bits)
            m.d.comb += word.eq(lane_addr[shift:])
            return Cat(word, sel)

        m.d.comb += [wr.addr.eq(address(waddr, w_shift, wsel)), wr.data.eq(Cat([self.write.data] * w_lanes)),
                     *(rd.addr.eq(address(raddr, r_shift, rsel)) for rd, raddr, _ in reads)]
        if w_lanes > 1:
            m.d.comb += wr.en.eq(Mux(self.write.we, 1 << waddr[:w_shift], 0))
        else:
            m.d.comb += wr.en.eq(self.write.we)
        for rd, raddr, bits in reads:
            if r_lanes > 1:
                lane = Signal(r_shift, name="lane")
                m.d.sync += lane.eq(raddr[:r_shift])
                m.d.comb += bits.eq(rd.data.word_select(lane, simd))
            else:
                m.d.comb += bits.eq(rd.data)
        if self.mask:
            self._nonzero_flags(m, wsel, rsel)

    def _nonzero_flags(self, m, wsel, rsel):
        """Per bank, one flag per min(PE, SIMD) spikes: set as they are written, ORed into a word's bit."""
        unit = min(self.pe, self.simd)
        units = self.size // unit
        flags = [Signal(units, name=f"nonzero{b}") for b in range(self.banks)]
        written = Cat(self.write.data[j * unit:(j + 1) * unit].any() for j in range(self.pe // unit))
        for b, f in enumerate(flags):
            with m.If(self.write.we & (wsel == b)):
                m.d.sync += f.word_select(self.write.addr, self.pe // unit).eq(written)
        rflags = Signal(units)
        with m.Switch(rsel):
            for b, f in enumerate(flags):
                with m.Case(b):
                    m.d.comb += rflags.eq(f)
        per_word = self.simd // unit
        m.d.comb += self.read.nonzero.eq(Cat(rflags[w * per_word:(w + 1) * per_word].any()
                                             for w in range(self.size // self.simd)))
