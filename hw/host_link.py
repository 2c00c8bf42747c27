"""The host link: the framed serial protocol of :mod:`flipspike.ir.host_protocol`, in hardware.

Bytes from the UART receiver are parsed into a request (:mod:`.link_receiver`); the argument bytes
(addresses, counts, the label) go to registers, the rest (pixels, load words) to a byte buffer. Only
when the CRC checks and the length and values are valid (:mod:`.link_verdict`) does the request act on
the accelerator (:mod:`.link_executor`), so a bad frame never changes state. The reply is streamed from
the accelerator's ports (result, counters, monitor, flip-unit readback) one byte at a time, with its
CRC computed on the way out (:mod:`.link_reply`). One request at a time: bytes that arrive while a
request executes are dropped (the driver waits for each reply).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.errors import ConfigError
from flipspike.ir.host_protocol import STATUS, LinkLayout

from .link_executor import RequestExecutor
from .link_fields import arg
from .link_receiver import FrameReceiver
from .link_reply import ReplyStreamer
from .link_verdict import RequestCheck

#: ``status`` output: what the link is doing (a bench waits for the host only while it is not busy).
LINK_IDLE, LINK_RECEIVING, LINK_BUSY = 0, 1, 2


class HostLink(wiring.Component):
    """Between the UART's byte streams and the accelerator's ports.

    ``accel``: the :class:`~flipspike.hw.accelerator.Accelerator` it drives (its signature decides the
    link's ports); ``layout``: the protocol's field sizes for that build; ``timeout``: cycles without a
    byte inside a frame before the frame is abandoned with a TIMEOUT reply. Received bytes must come at
    least two cycles apart (a UART byte takes ten bit times).

    Four parts, in the order a request meets them: the :class:`FrameReceiver` parses it (payload bytes
    into the link's buffer), the :class:`RequestCheck` gives its status, the :class:`RequestExecutor`
    acts on the accelerator where the status is OK, and the :class:`ReplyStreamer` answers. Here only
    their sequence: LISTEN until a frame ends (or times out), the checks' latency, DECIDE, EXECUTE,
    REPLY, and LISTEN again; each part starts from a state of this sequence (a register).
    """

    def __init__(self, accel, layout: LinkLayout, timeout: int):
        if timeout < 16:
            raise ConfigError(f"host link timeout must be >= 16 cycles, got {timeout}")
        self.layout, self.timeout = layout, timeout
        self.has_learn = "learn" in accel.signature.members
        self.load_end = _region_end(accel.plan.regions)
        self.monitor_end = _region_end(accel.plan.monitor_regions)
        self.learn_words = self.v_bits = 0
        if self.has_learn:
            layer, fold = accel.desc.layers[accel.learn_cfg.layer], accel.folds[accel.learn_cfg.layer]
            self.learn_words = (layer.n_in // fold.simd) * (layer.n_out // fold.pe)
            self.v_bits = accel.learn_cfg.rule.v_bits if accel.learn_cfg.rule.tbso else 0
        self.simd = accel.plan.input_simd
        self.pixel_bits = accel.desc.input.bits
        self.acc_width = accel.desc.layers[-1].widths.state
        self.load_bus, self.monitor_bus = accel.load_bus, accel.monitor_bus
        self.aer = accel.aer                                       # an AER build: events, not pixels
        members = {name: accel.signature.members[name].flip()      # the accelerator's ports, from the host side
                   for name in ("pixels", "events", "load", "monitor", "learn", "result", "counters", "aer_dropped")
                   if name in accel.signature.members}
        super().__init__({"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)), "status": Out(2),
                          **members})

    def elaborate(self, platform):
        m = Module()
        L = self.layout
        aw = max(self.load_end, self.monitor_end, self.learn_words).bit_length()   # addresses that reach a memory
        m.submodules.buf = buf = memory.Memory(shape=8, depth=L.buffer_bytes, init=[])
        m.submodules.receiver = rx = FrameReceiver(L, self.timeout)
        m.submodules.check = check = RequestCheck(L, has_learn=self.has_learn, load_end=self.load_end,
                                                  monitor_end=self.monitor_end, learn_words=self.learn_words,
                                                  addr_width=aw)
        m.submodules.executor = ex = RequestExecutor(L, simd=self.simd, pixel_bits=self.pixel_bits,
                                                     load_bus=self.load_bus, addr_width=aw, has_learn=self.has_learn,
                                                     events=self.aer)
        m.submodules.reply = reply = ReplyStreamer(L, acc_width=self.acc_width, monitor_bus=self.monitor_bus,
                                                   addr_width=aw, learn_words=self.learn_words, v_bits=self.v_bits)
        # the request's bytes: into the buffer as they arrive, out of it as the executor acts
        wiring.connect(m, wiring.flipped(self.rx), rx.rx)
        wr, rd = buf.write_port(), buf.read_port()
        m.d.comb += [wr.addr.eq(rx.buf.addr), wr.data.eq(rx.buf.data), wr.en.eq(rx.buf.en),
                     rd.addr.eq(ex.buf_addr), ex.buf_data.eq(rd.data)]
        m.d.comb += [check.request.eq(rx.request), ex.request.eq(rx.request), reply.request.eq(rx.request)]
        # the accelerator's ports: the executor drives, the reply reads
        if self.aer is None:
            wiring.connect(m, ex.pixels, wiring.flipped(self.pixels))
        else:
            wiring.connect(m, ex.events, wiring.flipped(self.events))
        wiring.connect(m, ex.load, wiring.flipped(self.load))
        wiring.connect(m, reply.monitor, wiring.flipped(self.monitor))
        wiring.connect(m, reply.tx, wiring.flipped(self.tx))
        m.d.comb += [ex.result_valid.eq(self.result.valid), self.result.ready.eq(ex.result_ready),
                     reply.result.eq(self.result.payload), reply.latency.eq(ex.latency),
                     reply.counters.eq(self.counters)]
        if self.aer is not None:
            m.d.comb += reply.aer_dropped.eq(self.aer_dropped)
        if self.has_learn:
            learn = self.learn
            m.d.comb += [learn.start.eq(ex.learn_start), ex.learn_busy.eq(learn.busy),
                         learn.from_label.eq(ex.from_label), learn.label.eq(arg(rx.request, "label")),
                         reply.learn_flips.eq(learn.flips), reply.learn_cycles.eq(learn.cycles),
                         learn.readback_addr.eq(reply.readback_addr), reply.readback_weights.eq(learn.readback_weights),
                         reply.readback_momentum.eq(learn.readback_momentum)]
            if self.v_bits:
                m.d.comb += reply.learn_v.eq(learn.v)
        m.d.comb += self.status.eq(Mux(rx.idle, LINK_IDLE, Mux(rx.in_frame, LINK_RECEIVING, LINK_BUSY)))

        # (every start is decoded from this machine's state, a register: no chain of pulses runs from one
        # part's state through this one into the next part's register enables)
        with m.FSM():
            with m.State("LISTEN"):
                with m.If(rx.done):
                    m.next = "CHECK"
                with m.If(rx.timed_out):
                    m.next = "TIMEOUT"
            with m.State("TIMEOUT"):
                m.d.comb += [reply.start.eq(1), reply.code.eq(STATUS["TIMEOUT"])]
                m.next = "REPLY"
            with m.State("CHECK"):
                # (DECIDE comes two cycles after the CRC byte, which comes two or more after the last
                # payload byte: RequestCheck.LATENCY cycles after it, the status is final)
                m.next = "DECIDE"
            with m.State("DECIDE"):
                with m.If(rx.request.crc_ok & check.ok):
                    m.d.comb += ex.start.eq(1)
                    m.next = "EXECUTE"
                with m.Else():
                    m.d.comb += [reply.start.eq(1), reply.code.eq(Mux(rx.request.crc_ok, check.status,
                                                                      STATUS["BAD_CRC"]))]
                    m.next = "REPLY"
            with m.State("EXECUTE"):
                with m.If(ex.done):
                    m.next = "ANSWER"
            with m.State("ANSWER"):
                m.d.comb += [reply.start.eq(1), reply.code.eq(STATUS["OK"]), reply.ok.eq(1)]
                m.next = "REPLY"
            with m.State("REPLY"):
                with m.If(reply.done):
                    m.d.comb += rx.resume.eq(1)
                    m.next = "LISTEN"
        return m


def _region_end(regions) -> int:
    return regions[-1].base + regions[-1].depth
