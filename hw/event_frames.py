"""The AER input port: address-events in, a frame buffer of T banks filled on chip (``flipspike.ir.aer``).

Events {x, y, p, t, end} arrive as a ``lib.stream``; each sample's events come in time order and an
``end`` word closes the sample. The writer fills bank t with step t's events: an event of a later step
first commits the banks before it (each a frame, empty or not), ``end`` commits the rest. A word of the
frame buffer is set bit by bit: an event reads its word through a second port and writes it back with
its bit set (two cycles an event), and a flag per word and bank says whether the word was written this
sample (a word never written reads as zero, and a released bank's flags clear at once, so no bank is
ever cleared word by word). The flags are also the event-driven first layer's nonzero mask. ``new``
pulses for an event that set a bit that was 0 (the layer's input count: distinct inputs, as the
reference counts them); ``dropped`` counts the events outside the sensor or the steps, or out of time
order, which never write anywhere.

The port takes an event into a register whenever that register is free (its ``ready`` depends on
nothing the sender drives), then acts on it. The reader's side is the frame buffer's (:func:`flipspike.hw.buffers.frame_handshake`): a sample starts
once its T frames are in.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.aer import EventFormat, port_simd_ok
from flipspike.ir.errors import ConfigError
from flipspike.ir.formats import COUNTER_WIDTH
from flipspike.ir.plan import frame_stride

from .buffers import bank_address, frame_handshake
from .interfaces import StepInputSignature


def event_layout(fmt: EventFormat) -> data.StructLayout:
    return data.StructLayout({name: unsigned(bits) for name, bits in fmt.widths.items()})


class EventFrames(wiring.Component):
    def __init__(self, fmt: EventFormat, simd: int, mask: bool = False):
        size = fmt.height * fmt.width * 2
        if not port_simd_ok(simd, size):
            raise ConfigError(f"an AER port writes single bits into SIMD-wide words: the first layer's SIMD must be "
                              f"a power of two dividing its {size} inputs, got {simd}")
        self.fmt, self.simd, self.mask = fmt, simd, mask
        self.words = size // simd
        self.stride = frame_stride(self.words)
        super().__init__({
            "events": In(stream.Signature(event_layout(fmt))),
            "read": In(StepInputSignature(self.words, simd, 1, mask)),
            "new": Out(1),
            "dropped": Out(COUNTER_WIDTH),
        })

    def elaborate(self, platform):
        m = Module()
        fmt, simd, words = self.fmt, self.simd, self.words
        T = fmt.timesteps
        m.submodules.mem = mem = memory.Memory(shape=unsigned(simd), depth=max(2, T * self.stride), init=[],
                                               attrs={"ram_style": "block"})
        wr, rd, old_port = mem.write_port(), mem.read_port(), mem.read_port()
        word_bits = (self.stride - 1).bit_length()
        wsel, rsel = Signal(range(max(2, T))), Signal(range(max(2, T)))
        flags = [Signal(max(2, words), name=f"written{b}") for b in range(T)]

        # -- the event in a register, a second one behind it (a skid buffer): the port's ready is a register,
        # so it depends on nothing the sender drives and on none of the decisions below ---------------------
        ev, skid = Signal(event_layout(fmt), name="event"), Signal(event_layout(fmt), name="event_skid")
        held, skid_full = Signal(), Signal()
        consumed = Signal()
        load = Signal()
        advance = Signal()                 # the head takes the next event at this edge
        m.d.comb += [self.events.ready.eq(~skid_full), load.eq(self.events.valid & ~skid_full),
                     advance.eq((consumed | ~held) & (skid_full | load))]
        with m.If(consumed | ~held):
            m.d.sync += held.eq(skid_full | load)
            with m.If(skid_full):
                m.d.sync += [ev.eq(skid), skid_full.eq(load)]
                with m.If(load):
                    m.d.sync += skid.eq(self.events.payload)
            with m.Elif(load):
                m.d.sync += ev.eq(self.events.payload)
        with m.Elif(load):
            m.d.sync += [skid.eq(self.events.payload), skid_full.eq(1)]

        # -- where it goes, whether it is kept: decoded into registers a cycle after the event lands (and
        # again after the bank moves on), so that the decision below starts from flip-flops ---------------
        shift = (fmt.pool - 1).bit_length()
        h, w = fmt.sensor
        element = Signal(range(max(2, fmt.height * fmt.width * 2)))
        m.d.comb += element.eq(((ev.y >> shift) * fmt.width + (ev.x >> shift)) * 2 + ev.p)
        lane_bits = (simd - 1).bit_length()
        word, lane = Signal(range(max(2, words)), name="ev_word"), Signal(max(1, lane_bits), name="ev_lane")
        inside, before, after, end = (Signal(name=n) for n in ("ev_inside", "ev_before", "ev_after", "ev_end"))
        m.d.sync += [word.eq(element[lane_bits:]), inside.eq((ev.x < w) & (ev.y < h) & (ev.t < T)),
                     before.eq(ev.t < wsel), after.eq(ev.t > wsel), end.eq(ev.end)]
        if lane_bits:
            m.d.sync += lane.eq(element[:lane_bits])
        fresh = Signal()                   # the decoded registers hold this event's, at this bank

        writing = Signal()                 # the second cycle of an event: its word is on old_port.data
        at_word, at_lane, at_bank = Signal(range(max(2, words))), Signal(max(1, lane_bits)), Signal.like(wsel)
        commit = Signal()
        count = frame_handshake(m, self.read, T, commit, rsel)
        free = count != T                  # bank wsel is free (banks fill in ring order)
        # (no decision while an event is written back: that cycle follows the one that took the event, so
        # the head is then empty or not yet decoded, and ``valid`` is low without looking at ``writing``)
        closing = end
        drop = ~end & (~inside | before)
        later = ~end & inside & after
        now = ~end & inside & ~before & ~after
        valid = held & fresh
        m.d.sync += fresh.eq(held & ~consumed & ~advance & ~commit)
        m.d.comb += commit.eq(valid & free & (closing | later))
        last_bank = wsel == T - 1
        m.d.comb += consumed.eq(valid & (drop | (closing & free & last_bank) | (now & free)))
        with m.If(commit):
            m.d.sync += wsel.eq(Mux(last_bank, 0, wsel + 1))
        with m.If(valid & drop):
            m.d.sync += self.dropped.eq(self.dropped + 1)

        # -- read the word, then write it back with the event's bit ------------------------------------------
        m.d.comb += old_port.addr.eq(bank_address(word, wsel, word_bits))
        # bank wsel's flags, kept apart: a bank is written only once it is free, so cleared, so its flags are
        # those set since wsel moved to it (the word's flag is looked up there as the event is decided)
        write_row = Signal(max(2, words), name="write_row")
        with m.If(commit):
            m.d.sync += write_row.eq(0)
        with m.Elif(writing):
            m.d.sync += write_row.bit_select(at_word, 1).eq(1)
        was_written = Signal()
        with m.If(valid & now & free):
            m.d.sync += [writing.eq(1), at_word.eq(word), at_bank.eq(wsel),
                         was_written.eq(write_row.bit_select(word, 1))]
            if lane_bits:
                m.d.sync += at_lane.eq(lane)
        old = Signal(simd)
        m.d.comb += old.eq(Mux(was_written, old_port.data, 0))
        bit = Signal(simd)
        m.d.comb += bit.eq(1 << at_lane) if lane_bits else bit.eq(1)
        m.d.comb += [wr.addr.eq(bank_address(at_word, at_bank, word_bits)), wr.data.eq(old | bit),
                     wr.en.eq(writing), self.new.eq(writing & ~(old & bit).any())]
        with m.If(writing):
            m.d.sync += writing.eq(0)

        # -- the flags: set as a word is written, cleared as its bank is released ----------------------------
        for b, f in enumerate(flags):
            with m.If(self.read.release & (rsel == b)):
                m.d.sync += f.eq(0)
            with m.Elif(writing & (at_bank == b)):
                m.d.sync += f.bit_select(at_word, 1).eq(1)

        # -- the reader's side: a word never written this sample reads as zero --------------------------------
        # (bank rsel's flags, kept in a register of their own so that a read looks up one row: loaded from
        # the next bank's flags as the reader releases a bank, updated as that bank is written)
        read_flags = Signal(max(2, words), name="read_row")
        following = Signal.like(rsel)
        m.d.comb += following.eq(Mux(rsel == T - 1, 0, rsel + 1))
        written_now = Signal(max(2, words))
        m.d.comb += written_now.eq(Mux(writing, 1 << at_word, 0))
        with m.If(self.read.release):       # (T = 1: the next bank is the one being cleared)
            rows = Cat(*flags).word_select(following, max(2, words)) if T > 1 else 0
            m.d.sync += read_flags.eq(rows | Mux(at_bank == following, written_now, 0))
        with m.Elif(writing & (at_bank == rsel)):
            m.d.sync += read_flags.bit_select(at_word, 1).eq(1)
        flag_at_read = Signal()
        m.d.sync += flag_at_read.eq(read_flags.bit_select(self.read.addr, 1))   # (sampled with the address)
        m.d.comb += [rd.addr.eq(bank_address(self.read.addr, rsel, word_bits)),
                     self.read.data.eq(Mux(flag_at_read, rd.data, 0))]
        if self.mask:
            m.d.comb += self.read.nonzero.eq(read_flags[:words])
        return m
