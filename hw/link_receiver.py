"""The host link's receiver: request frames parsed from the UART's bytes."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.errors import ConfigError
from flipspike.ir.host_protocol import ARG_BYTES, CMD, SYNC_REQUEST, LinkLayout

from .interfaces import WriteSignature
from .link_fields import ARG_BITS, by_command, crc8_next, decoded_commands, request_layout


class FrameReceiver(wiring.Component):
    """Bytes from ``rx`` parsed into ``request`` (:func:`~flipspike.hw.link_fields.request_layout`).

    A frame starts at a sync byte; its command, length and argument bytes go to registers, the rest of
    its payload to the link's buffer through ``buf`` (bytes beyond the buffer are counted, not
    written). ``done`` pulses as the CRC byte arrives (``request.crc_ok``: it matched); ``timed_out``
    as a frame is abandoned after ``timeout`` cycles without a byte. After either the receiver drops
    bytes until ``resume`` (the reply is out). ``idle``: between frames; ``in_frame``: inside one.

    Received bytes must come at least two cycles apart (a UART byte takes ten bit times): each byte
    passes a register together with what it decides alone (the CRC folded in, comparisons with
    constants and with the CRC, a pixel's range check), so the state machine acts on flags, not on
    comparators, and the registers a byte changes have settled when the next one is looked at.
    """

    def __init__(self, layout: LinkLayout, timeout: int):
        if timeout < 16:
            raise ConfigError(f"host link timeout must be >= 16 cycles, got {timeout}")
        self.layout, self.timeout = layout, timeout
        super().__init__({"rx": In(stream.Signature(8)), "buf": Out(WriteSignature(layout.buffer_bytes, 8)),
                          "request": Out(request_layout(layout)), "done": Out(1), "timed_out": Out(1),
                          "resume": In(1), "idle": Out(1), "in_frame": Out(1)})

    def elaborate(self, platform):
        m = Module()
        L, buf_bytes = self.layout, self.layout.buffer_bytes
        arg = Signal(ARG_BITS)                             # argument bytes as they arrive (addr, count, label)
        cmd, length = Signal(8, name="cmd"), Signal(16, name="length")
        idx_top = max(ARG_BYTES.values())
        idx = Signal(range(idx_top + 1))                  # payload bytes so far, saturating past the arguments
        left = Signal(16)                                  # payload bytes still to come (no adder on the byte path)
        final, empty = Signal(name="final"), Signal(name="empty")  # the next payload byte is the last; no payload
        crc, crc_ok = Signal(8, name="crc"), Signal(name="crc_ok")
        timer = Signal(range(self.timeout + 2))
        expired = Signal()                                 # timer past the timeout, a cycle late (a byte clears it)
        stored = Signal(range(buf_bytes + 2))              # payload bytes past the arguments (saturates)
        pix_sub = Signal(range(max(2, L.value_bytes)))   # (an AER build: bytes of an event word)
        pix_val = Signal(L.value_bytes * 8)
        bad_value = Signal()
        word_sub = Signal(range(max(2, L.load_bytes)))
        words = Signal(16)                                 # whole load words received

        m.d.comb += self.rx.ready.eq(1)                 # bytes outside a frame are dropped
        byte, got = Signal(8, name="byte", reset_less=True), Signal(name="got")
        crc_in = Signal(8, reset_less=True)
        is_sync, is_zero, crc_match, too_big = (Signal(name=n, reset_less=True)
                                                for n in ("is_sync", "is_zero", "crc_match", "too_big"))
        value = Signal.like(pix_val, reset_less=True)  # the pixel value with this byte on top
        m.d.sync += [byte.eq(self.rx.payload), got.eq(self.rx.valid),
                     crc_in.eq(crc8_next(crc, self.rx.payload)), is_sync.eq(self.rx.payload == SYNC_REQUEST),
                     is_zero.eq(self.rx.payload == 0), crc_match.eq(self.rx.payload == crc),
                     value.eq(Cat(pix_val[8:], self.rx.payload)),
                     too_big.eq(Cat(pix_val[8:], self.rx.payload) > L.max_value)]
        m.d.sync += expired.eq(~got & (timer >= self.timeout))

        # the command, decoded into a flag per command (registered: cmd is set bytes before any use)
        is_cmd = {name: Signal(name=f"is_{name.lower()}") for name in decoded_commands(L)}
        m.d.sync += [flag.eq(cmd == CMD[name]) for name, flag in is_cmd.items()]
        n_args = Signal(8)
        m.d.comb += n_args.eq(by_command(is_cmd, ARG_BYTES))
        # for the next payload byte (see above): where it goes, and whether it ends a pixel or a load word
        past_args, room, not_over, pix_last, word_last = (
            Signal(name=n) for n in ("past_args", "room", "not_over", "pix_last", "word_last"))
        m.d.sync += [past_args.eq(idx >= n_args), room.eq(stored < buf_bytes), not_over.eq(stored <= buf_bytes),
                     pix_last.eq(pix_sub == L.value_bytes - 1), word_last.eq(word_sub == L.load_bytes - 1)]

        req = self.request
        m.d.comb += [req.cmd.eq(cmd), req.length.eq(length), req.arg.eq(arg), req.stored.eq(stored),
                     req.word_sub.eq(word_sub), req.words.eq(words), req.bad_value.eq(bad_value),
                     req.crc_ok.eq(crc_ok), *(req.is_cmd[name].eq(flag) for name, flag in is_cmd.items())]
        if L.event_bytes:
            m.d.comb += req.event_sub.eq(pix_sub)

        def receiving():
            """Inside a frame: a frame whose bytes stop arriving is abandoned (timed_out)."""
            m.d.comb += self.in_frame.eq(1)
            m.d.sync += timer.eq(Mux(got, 0, timer + 1))
            with m.If(~got & expired):
                m.d.comb += self.timed_out.eq(1)
                m.next = "HELD"

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += self.idle.eq(1)
                with m.If(got & is_sync):
                    m.d.sync += [crc.eq(0), timer.eq(0)]
                    m.next = "CMD"
            for state, target, nxt in (("CMD", cmd, "LEN0"), ("LEN0", length[:8], "LEN1")):
                with m.State(state):
                    with m.If(got):
                        m.d.sync += [target.eq(byte), crc.eq(crc_in)]
                        m.next = nxt
                    receiving()
            with m.State("LEN1"):
                with m.If(got):
                    m.d.sync += [length[8:].eq(byte), crc.eq(crc_in), idx.eq(0), stored.eq(0), arg.eq(0),
                                 empty.eq((length[:8] == 0) & is_zero),
                                 bad_value.eq(0), pix_sub.eq(0), word_sub.eq(0), words.eq(0)]
                    m.next = "LEN_DONE"
                receiving()
            with m.State("LEN_DONE"):                    # one cycle: the length is in its register
                m.d.sync += [left.eq(length), final.eq(length == 1)]
                m.next = "PAYLOAD"
                with m.If(empty):
                    m.next = "CHECK"
                receiving()
            with m.State("PAYLOAD"):
                with m.If(got):
                    m.d.sync += [crc.eq(crc_in), left.eq(left - 1), final.eq(left == 2)]
                    with m.If(idx != idx_top):
                        m.d.sync += idx.eq(idx + 1)
                    with m.Switch(idx):
                        for k in range(idx_top):
                            with m.Case(k):
                                m.d.sync += arg[8 * k:8 * k + 8].eq(byte)
                    with m.If(past_args):
                        with m.If(room):
                            m.d.comb += [self.buf.addr.eq(stored), self.buf.data.eq(byte), self.buf.en.eq(1)]
                        with m.If(not_over):
                            m.d.sync += stored.eq(stored + 1)
                        # pixel values: little-endian bytes, checked against input.max_value at each last byte
                        m.d.sync += [pix_val.eq(value), pix_sub.eq(Mux(pix_last, 0, pix_sub + 1))]
                        if not L.event_bytes:          # (event words: the port drops what is out of range)
                            with m.If(pix_last & too_big):
                                m.d.sync += bad_value.eq(1)
                        # load words: whole words only
                        m.d.sync += word_sub.eq(Mux(word_last, 0, word_sub + 1))
                        with m.If(word_last):
                            m.d.sync += words.eq(words + 1)
                    with m.If(final):
                        m.next = "CHECK"
                receiving()
            with m.State("CHECK"):
                with m.If(got):
                    m.d.sync += crc_ok.eq(crc_match)
                    m.d.comb += self.done.eq(1)
                    m.next = "HELD"
                receiving()
            with m.State("HELD"):                        # the request is decided, acted on, answered
                with m.If(self.resume):
                    m.next = "HUNT"
        return m
