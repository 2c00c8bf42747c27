"""The host link's executor: a request that passed its checks, acted on the accelerator's ports."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.host_protocol import LinkLayout

from .event_frames import event_layout
from .interfaces import LoadSignature
from .link_fields import arg, request_layout


class RequestExecutor(wiring.Component):
    """Acts on a checked ``request`` from ``start`` (a pulse) to ``done`` (a pulse).

    WRITE: the buffer's load words onto ``load``, one word per ``load_bytes`` bytes, at addr, addr + 1,
    ... (the bus driven from registers, so the memories' region decoders start from flip-flops).
    INFER: the buffer's pixels onto ``pixels``, SIMD at a time, then the result taken from the
    accelerator (``result_valid`` / ``result_ready``); ``latency`` counts the cycles from the first
    pixel read to the result. LEARN: the same inference, then a flip-unit update from the label
    (``learn_start``, ``learn_busy``, ``from_label``); with no payload, an update from the loaded errors.
    Other commands only read, and are done at once. The buffer (``buf``: a read port, one cycle of
    latency) holds ``request.stored`` bytes.

    An AER build (``events``: its :class:`~flipspike.ir.aer.EventFormat`) has an ``events`` port instead of
    ``pixels``: EVENTS puts the buffer's event words onto it; INFER does too, then the ``end`` word that
    closes the sample, then takes the result.
    """

    def __init__(self, layout: LinkLayout, *, simd: int, pixel_bits: int, load_bus: tuple[int, int],
                 addr_width: int, has_learn: bool, events=None):
        self.layout, self.simd, self.pixel_bits = layout, simd, pixel_bits
        self.addr_width, self.has_learn, self.events_fmt = addr_width, has_learn, events
        port = ({"pixels": Out(stream.Signature(data.ArrayLayout(unsigned(pixel_bits), simd)))} if events is None
                else {"events": Out(stream.Signature(event_layout(events)))})
        members = {"start": In(1), "done": Out(1), "request": In(request_layout(layout)),
                   "buf_addr": Out(range(layout.buffer_bytes)), "buf_data": In(8),
                   "load": Out(LoadSignature(*load_bus)), **port,
                   "result_valid": In(1), "result_ready": Out(1), "latency": Out(32)}
        if has_learn:
            members |= {"learn_start": Out(1), "learn_busy": In(1), "from_label": Out(1)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        L, req, buf_bytes = self.layout, self.request, self.layout.buffer_bytes
        is_cmd = req.is_cmd
        # -- byte pump from the buffer: pixel words (INFER, LEARN) and load words (WRITE) ------------------
        ridx = Signal(range(buf_bytes + 1))
        all_read = Signal()                              # ridx == stored, kept as ridx moves (off the FSM's path)
        last = Signal(range(buf_bytes + 1))              # stored - 1, set as the request starts: no adder
        # between ridx and all_read (that path, routed across a full iCE40, was one board's slowest)
        aer = self.events_fmt is not None
        word_bytes = L.event_bytes if aer else self.simd * L.pixel_bytes     # bytes of one input word
        issued = Signal(range(max(word_bytes, L.load_bytes) + 1))
        pending = Signal()
        pword = Signal(word_bytes * 8)
        wword = Signal(L.load_bytes * 8)
        m.d.comb += self.buf_addr.eq(ridx)
        m.d.sync += pending.eq(0)
        if aer:
            port = self.events
            end = Signal()                                   # the end word is on the port
            m.d.comb += port.payload.eq(Mux(end, 0, pword[:self.events_fmt.word_bits]))
            m.d.comb += port.payload.end.eq(end)
        else:
            port = self.pixels
            for p in range(self.simd):
                m.d.comb += port.payload[p].eq(pword[p * L.pixel_bytes * 8:][:self.pixel_bits])

        def pump(word_len, shift_reg):
            """Issue one buffer read per cycle until ``word_len`` bytes of the word are issued; shift each
            byte into ``shift_reg`` a cycle later. Returns the condition: the word completes this cycle."""
            with m.If(issued < word_len):
                m.d.sync += [ridx.eq(ridx + 1), issued.eq(issued + 1), pending.eq(1),
                             all_read.eq(ridx == last)]
            with m.If(pending):
                m.d.sync += shift_reg.eq(Cat(shift_reg[8:], self.buf_data))
            return pending & (issued == word_len)

        # the load bus from registers; the address steps on after each word written
        load_en = Signal(name="load_en")
        load_addr, load_data = Signal.like(self.load.addr, name="load_addr"), Signal.like(self.load.data, name="load_data")
        m.d.sync += load_en.eq(0)
        with m.If(load_en):
            m.d.sync += load_addr.eq(load_addr + 1)
        m.d.comb += [self.load.en.eq(load_en), self.load.addr.eq(load_addr), self.load.data.eq(load_data)]
        latency = Signal(32, name="latency")                # cycles of the inference being answered
        m.d.comb += self.latency.eq(latency)
        from_label = Signal()
        if self.has_learn:
            m.d.comb += self.from_label.eq(from_label)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "EXECUTE"
            with m.State("EXECUTE"):
                # (the registers start here, enabled by the state alone: latency is still being read in IDLE)
                m.d.sync += [ridx.eq(0), all_read.eq(req.stored == 0), last.eq(req.stored - 1), issued.eq(0),
                             latency.eq(0), from_label.eq(0), load_addr.eq(arg(req, "addr")[:self.addr_width])]
                m.next = "DONE"                          # (by the registered command flags: one is set)
                with m.If(is_cmd.WRITE):
                    m.next = "WRITE"
                with m.If(is_cmd.INFER):
                    m.next = "FILL"
                    if aer:                                  # a sample's last frame may hold no events
                        with m.If(req.stored == 0):
                            m.next = "END"
                if aer:
                    with m.If(is_cmd.EVENTS):
                        m.next = "FILL"
                if self.has_learn:
                    with m.If(is_cmd.LEARN):
                        m.next = "FILL"
                        with m.If(req.length == 0):
                            m.next = "LEARN_START"
            with m.State("WRITE"):
                with m.If(pump(L.load_bytes, wword)):
                    m.d.sync += [load_en.eq(1), load_data.eq(Cat(wword[8:], self.buf_data)), issued.eq(0)]
                    with m.If(all_read):
                        m.next = "DONE"
            with m.State("FILL"):
                m.d.sync += latency.eq(latency + 1)
                with m.If(pump(word_bytes, pword)):
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.sync += latency.eq(latency + 1)
                m.d.comb += port.valid.eq(1)
                with m.If(port.ready):
                    m.d.sync += issued.eq(0)
                    m.next = "FILL"
                    with m.If(all_read):
                        m.next = "RESULT"
                        if aer:                              # EVENTS: done; INFER: the end word, the result
                            m.next = "END"
                            with m.If(~is_cmd.INFER):
                                m.next = "DONE"
            if aer:
                with m.State("END"):
                    m.d.sync += latency.eq(latency + 1)
                    m.d.comb += [port.valid.eq(1), end.eq(1)]
                    with m.If(port.ready):
                        m.next = "RESULT"
            with m.State("RESULT"):
                m.d.sync += latency.eq(latency + 1)
                m.d.comb += self.result_ready.eq(1)
                with m.If(self.result_valid):
                    m.next = "DONE"
                    if self.has_learn:
                        with m.If(is_cmd.LEARN):
                            m.d.sync += from_label.eq(1)
                            m.next = "LEARN_START"
            if self.has_learn:
                with m.State("LEARN_START"):
                    m.d.comb += self.learn_start.eq(1)
                    m.next = "LEARN_WAIT"
                with m.State("LEARN_WAIT"):
                    with m.If(~self.learn_busy):
                        m.d.sync += from_label.eq(0)
                        m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        return m
