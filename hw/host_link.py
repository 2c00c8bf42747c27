"""The host link: the framed serial protocol of :mod:`flipspike.ir.host_protocol`, in hardware.

Bytes from the UART receiver are parsed into a request; the argument bytes (addresses, counts, the
label) go to registers, the rest (pixels, load words) to a byte buffer. Only when the CRC checks and
the length and values are valid does the request act on the accelerator, so a bad frame never
changes state. The reply is streamed from the accelerator's ports (result, counters, monitor,
flip-unit readback) one byte at a time, with its CRC computed on the way out. One request at a time:
bytes that arrive while a request executes are dropped (the driver waits for each reply).
"""

from __future__ import annotations

import operator
from functools import reduce

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.errors import ConfigError
from flipspike.ir.formats import MONITOR_LATENCY
from flipspike.ir.host_protocol import (ARG_BYTES, CMD, MAGIC, STATUS, SYNC_REPLY, SYNC_REQUEST, arg_field,
                                        VERSION, LinkLayout, crc8)

from .arith import tree_sum

#: ``status`` output: what the link is doing (a bench waits for the host only while it is not busy).
LINK_IDLE, LINK_RECEIVING, LINK_BUSY = 0, 1, 2


def crc8_next(crc, byte):
    """One byte of CRC-8/SMBUS, combinational. The CRC is linear over GF(2): each output bit is the XOR
    of the input bits (crc ^ byte) whose unit vectors set it, found with the protocol's own crc8()."""
    value = crc ^ byte
    bits = []
    for out in range(8):
        taps = [i for i in range(8) if crc8(bytes([1 << i])) >> out & 1]
        bits.append(_xor([value[i] for i in taps]))
    return Cat(*bits)


def _xor(values):
    result = values[0]
    for v in values[1:]:
        result = result ^ v
    return result


class HostLink(wiring.Component):
    """Between the UART's byte streams and the accelerator's ports.

    ``accel``: the :class:`~flipspike.hw.accelerator.Accelerator` it drives (its signature decides the
    link's ports); ``layout``: the protocol's field sizes for that build; ``timeout``: cycles without a
    byte inside a frame before the frame is abandoned with a TIMEOUT reply. Received bytes must come at
    least two cycles apart (a UART byte takes ten bit times): what each byte decides is looked up in
    registers updated in the cycle after the byte before, so no comparator sits on the byte path.
    """

    def __init__(self, accel, layout: LinkLayout, timeout: int):
        if timeout < 16:
            raise ConfigError(f"host link timeout must be >= 16 cycles, got {timeout}")
        self.layout, self.timeout = layout, timeout
        self.has_learn = "learn" in accel.signature.members
        self.load_end = _region_end(accel.plan.regions)
        self.monitor_end = _region_end(accel.plan.monitor_regions)
        self.learn_words = 0
        if self.has_learn:
            layer, fold = accel.desc.layers[accel.learn_cfg.layer], accel.folds[accel.learn_cfg.layer]
            self.learn_words = (layer.n_in // fold.simd) * (layer.n_out // fold.pe)
        self.simd = accel.folds[0].simd
        self.pixel_bits = accel.desc.input.bits
        members = {name: accel.signature.members[name].flip()      # the accelerator's ports, from the host side
                   for name in ("pixels", "load", "monitor", "learn", "result", "counters")
                   if name in accel.signature.members}
        super().__init__({"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)), "status": Out(2),
                          **members})

    # -- the reply words each command streams (one word, or ``count`` words from a memory) -----------------
    def _reply_sources(self, m, index, req_addr, latency):
        """The reply payloads (``index``: the word being sent; ``req_addr``: the request's address
        argument; ``latency``: the inference's cycles). Fixed-size replies are windows of one byte space, so a single byte
        multiplexer serves them all (on an iCE40 a mux costs about a LUT per input bit, and COUNTERS is
        the tail of INFER): returns (space, {cmd: byte offset}). Streamed replies (READ, READ_LEARN) are
        one word per address: returns {cmd: word}."""
        L = self.layout
        res = self.result.payload
        cls = Signal(L.cls_bytes * 8)
        m.d.comb += cls.eq(res.cls)
        accs = []
        for k in range(L.classes):
            acc = Signal(signed(L.acc_bytes * 8), name=f"acc{k}")
            m.d.comb += acc.eq(res.acc[k])
            accs.append(acc)
        counters = Cat(*(Cat(self.counters[i].cycles, self.counters[i].in_spikes, self.counters[i].sops,
                             self.counters[i].skipped) for i in range(L.layers)))
        flags = Const(int(self.has_learn) | (2 if L.v_bytes else 0), 8)
        parts = [("INFO", Cat(Const(int.from_bytes(MAGIC, "little"), 32), Const(VERSION, 8),
                              Const(int.from_bytes(L.digest, "little"), 32), Const(L.buffer_bytes, 16), flags)),
                 ("INFER", Cat(cls, *accs, latency, counters))]
        monitor = Signal.like(self.monitor.data, reset_less=True)          # memory words pass a register (slow RAM outputs)
        m.d.sync += monitor.eq(self.monitor.data)
        streams = {"READ": monitor}
        m.d.sync += self.monitor.addr.eq(req_addr + index)      # (registered: see REPLY_SETTLE)
        if self.has_learn:
            learn = self.learn
            v = learn.v if L.v_bytes else Const(0, 0)
            parts.append(("LEARN", Cat(cls, learn.flips, learn.cycles, v)))
            weights = Signal(L.learn_weight_bytes * 8)
            momentum = Signal(L.learn_momentum_bytes * 8)
            m.d.comb += [weights.eq(learn.readback_weights), momentum.eq(learn.readback_momentum)]
            m.d.sync += learn.readback_addr.eq(req_addr + index)
            learned = Signal(len(weights) + len(momentum), reset_less=True)
            m.d.sync += learned.eq(Cat(weights, momentum))
            streams["READ_LEARN"] = learned
        offsets, pos = {}, 0
        for name, value in parts:
            offsets[name] = pos
            pos += L.reply_bytes(name)
        offsets["COUNTERS"] = offsets["INFER"] + L.reply_bytes("INFER") - L.reply_bytes("COUNTERS")
        return Cat(*(value for _, value in parts)), offsets, streams

    def elaborate(self, platform):
        m = Module()
        L = self.layout
        aw = max(self.load_end, self.monitor_end, self.learn_words).bit_length()
        # (their netlist names are those of the board builds measured in docs/history.md: a renamed
        # signal moves nextpnr's placement, and with it Fmax, by a few per cent either way)
        req_addr = Signal(aw, name="_addr")   # argument bytes 0..3 (READ, WRITE, READ_LEARN), as wide as needed
        addr_ok = Signal()                # ... and the bytes above that are zero
        latency = Signal(32, name="_latency")  # cycles of the inference being answered
        arg = Signal(8 * max(ARG_BYTES.values()))    # argument bytes as they arrive (addr, count, label)
        field = lambda name: arg[8 * arg_field(name)[0]:8 * sum(arg_field(name))]
        count, label, addr = field("count"), field("label"), field("addr")
        m.d.comb += [req_addr.eq(addr[:aw]), addr_ok.eq(addr[aw:] == 0)]

        cmd, length = Signal(8, name="cmd"), Signal(16, name="length")
        idx_top = max(ARG_BYTES.values())
        idx = Signal(range(idx_top + 1))                  # payload bytes so far, saturating past the arguments
        left = Signal(16)                                  # payload bytes still to come (no adder on the byte path)
        final, empty = Signal(name="final"), Signal(name="empty")  # the next payload byte is the last; no payload
        # the request's CRC and the reply's, in registers of their own (each updated from few states; the
        # reply's is cleared with the request's, at the sync byte)
        crc, tx_crc, code = Signal(8, name="crc"), Signal(8, name="tx_crc"), Signal(8, name="code")
        timer = Signal(range(self.timeout + 2))
        expired = Signal()                                 # timer past the timeout, a cycle late (a byte clears it)
        buf_bytes = L.buffer_bytes
        m.submodules.buf = buf = memory.Memory(shape=8, depth=buf_bytes, init=[])
        wr, rd = buf.write_port(), buf.read_port()
        stored = Signal(range(buf_bytes + 2))          # payload bytes past the arguments (saturates)
        pix_sub = Signal(range(max(2, L.pixel_bytes)))
        pix_val = Signal(L.pixel_bytes * 8)
        bad_value = Signal()
        word_sub = Signal(range(max(2, L.load_bytes)))
        write_words = Signal(16)

        # each received byte passes a register together with what it decides alone (the CRC folded in,
        # comparisons with constants and with the CRC, a pixel's range check): the state machine then
        # acts on flags, not on comparators. Bytes come at least two cycles apart, so the registers a
        # byte changes have settled when the next one is looked at.
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
        is_cmd = {name: Signal(name=f"is_{name.lower()}") for name in CMD}
        m.d.sync += [flag.eq(cmd == CMD[name]) for name, flag in is_cmd.items()]

        def by_command(values: dict, default=0):
            """values[name] where cmd is that command (an OR of flag-gated values), else ``default``."""
            if not values:
                return Const(default)
            picked = [Mux(is_cmd[name], value, 0) for name, value in values.items()]
            known = Cat(*(is_cmd[name] for name in values)).any()
            return Mux(known, reduce(operator.or_, picked), default)

        n_args = Signal(8)
        m.d.comb += n_args.eq(by_command(ARG_BYTES))
        # for the next payload byte (see above): where it goes, and whether it ends a pixel or a load word
        past_args, room, not_over, pix_last, word_last = (
            Signal(name=n) for n in ("past_args", "room", "not_over", "pix_last", "word_last"))
        m.d.sync += [past_args.eq(idx >= n_args), room.eq(stored < buf_bytes), not_over.eq(stored <= buf_bytes),
                     pix_last.eq(pix_sub == L.pixel_bytes - 1), word_last.eq(word_sub == L.load_bytes - 1)]

        # -- validity of a complete request, decided after its CRC byte (from registers: off the byte path) ----
        verdict, verdict_r, crc_ok = Signal(8, name="verdict"), Signal(8, name="verdict_r"), Signal(name="crc_ok")
        m.d.sync += verdict_r.eq(verdict)

        def early(name, condition):     # a condition of the verdict, registered a cycle earlier still (its
            flag = Signal(name=name)    # inputs settle with the last payload byte, DECIDE comes >= 4 cycles later)
            m.d.sync += flag.eq(condition)
            return flag

        def span(name, start, n):       # start + n, registered before it is compared (see VERDICT_WAIT)
            total = Signal(max(len(start), len(n)) + 1, name=name)
            m.d.sync += total.eq(start + n)
            return total

        pixels_len = L.n_in * L.pixel_bytes
        reply_len = Signal(16)            # set when the request is decided
        last_word = Signal(16)            # words in the reply - 1 (a register: no subtractor on the reply path)
        verdicts = {}
        ok_len = early("no_payload", length == 0)
        verdicts["INFO"] = verdicts["COUNTERS"] = Mux(ok_len, STATUS["OK"], STATUS["BAD_LENGTH"])
        ok_len = early("write_len_ok", (length >= 4 + L.load_bytes) & (stored <= buf_bytes) & (word_sub == 0))
        in_range = early("write_in_range", addr_ok & (span("write_span", req_addr, write_words) <= self.load_end))
        verdicts["WRITE"] = Mux(~ok_len, STATUS["BAD_LENGTH"], Mux(in_range, STATUS["OK"], STATUS["BAD_VALUE"]))
        verdicts["INFER"] = Mux(early("infer_len_bad", length != pixels_len), STATUS["BAD_LENGTH"],
                                Mux(bad_value, STATUS["BAD_VALUE"], STATUS["OK"]))
        for name, end in (("READ", self.monitor_end), ("READ_LEARN", self.learn_words)):
            if name == "READ_LEARN" and not self.has_learn:
                continue
            fits = early(f"{name.lower()}_fits", (count != 0) & addr_ok & (count <= L.max_words(name)) &
                         (span(f"{name.lower()}_span", req_addr, count) <= end))
            verdicts[name] = Mux(early(f"{name.lower()}_len_bad", length != 6), STATUS["BAD_LENGTH"],
                                 Mux(fits, STATUS["OK"], STATUS["BAD_VALUE"]))
        if self.has_learn:
            ok_len = early("learn_len_ok", (length == 0) | (length == 1 + pixels_len))
            ok_val = early("learn_value_ok", (length == 0) | ((label < L.classes) & ~bad_value))
            verdicts["LEARN"] = Mux(~ok_len, STATUS["BAD_LENGTH"], Mux(ok_val, STATUS["OK"], STATUS["BAD_VALUE"]))
        m.d.comb += verdict.eq(by_command(verdicts, STATUS["BAD_COMMAND"]))

        # -- the reply: header, words (one, or ``count`` from a memory), CRC ---------------------------------
        hdr_k = Signal(range(5))
        word_idx = Signal(16)
        commands = _commands(self.has_learn)
        byte_k = Signal(range(max(2, max(L.reply_bytes(c) for c in commands))))
        space, offsets, streams = self._reply_sources(m, word_idx, req_addr, latency)
        pos = Signal(range(max(2, len(space) // 8)))       # byte of the space being sent
        first = Signal.like(pos)
        streamed = Signal()
        word_bytes = Signal(range(max(L.reply_bytes(c) for c in commands) + 1))
        last_byte = Signal.like(word_bytes)              # word_bytes - 1, a constant per command
        stream_byte = Signal(8)
        # (what the command decides, in registers: cmd is set long before the reply)
        m.d.sync += [word_bytes.eq(by_command({n: L.reply_bytes(n) for n in commands})),
                     last_byte.eq(by_command({n: L.reply_bytes(n) - 1 for n in commands})),
                     first.eq(by_command({n: offsets[n] for n in commands if n in offsets})),
                     streamed.eq(by_command({n: 1 for n in commands if n in streams}))]
        for name in streams:
            with m.If(is_cmd[name]):
                m.d.comb += stream_byte.eq(streams[name].word_select(byte_k, 8))
        # the reply's end conditions, registered: the counters they read move at a byte's handshake, and
        # the next byte comes SETTLE cycles later at the earliest (after the header: a UART byte later)
        no_words, at_last_byte, at_last_word = (Signal(name=n) for n in ("no_words", "at_last_byte", "at_last_word"))
        m.d.sync += [no_words.eq(reply_len == 0), at_last_byte.eq(byte_k == last_byte),
                     at_last_word.eq(word_idx == last_word)]
        # header byte k (k >= 1) from a register: hdr_k moves at a byte's handshake and the next one comes
        # a UART byte later; byte 0 is the constant sync byte (and outside the CRC)
        header = Signal(8, reset_less=True)
        with m.Switch(hdr_k):
            for k, value in enumerate([SYNC_REPLY, cmd, code, reply_len[:8], reply_len[8:16]]):
                with m.Case(k):
                    m.d.sync += header.eq(value)

        # -- byte pump from the buffer: pixels words (INFER, LEARN) and load words (WRITE) ------------------
        ridx = Signal(range(buf_bytes + 1))
        all_read = Signal()                              # ridx == stored, kept as ridx moves (off the FSM's path)
        issued = Signal(range(max(self.simd * L.pixel_bytes, L.load_bytes) + 1))
        pending = Signal()
        pword = Signal(self.simd * L.pixel_bytes * 8)
        wword = Signal(L.load_bytes * 8)
        m.d.comb += rd.addr.eq(ridx)
        m.d.sync += pending.eq(0)
        for p in range(self.simd):
            m.d.comb += self.pixels.payload[p].eq(pword[p * L.pixel_bytes * 8:][:self.pixel_bits])

        def pump(m, word_len, shift_reg):
            """Issue one buffer read per cycle until ``word_len`` bytes of the word are issued; shift each
            byte into ``shift_reg`` a cycle later. Returns the condition: the word completes this cycle."""
            with m.If(issued < word_len):
                m.d.sync += [ridx.eq(ridx + 1), issued.eq(issued + 1), pending.eq(1), all_read.eq(ridx + 1 == stored)]
            with m.If(pending):
                m.d.sync += shift_reg.eq(Cat(shift_reg[8:], rd.data))
            return pending & (issued == word_len)

        # the load bus is driven from registers (a word lands a cycle after it is complete), so the
        # memories' region decoders start from flip-flops
        load_en = Signal(name="load_en")
        load_addr, load_data = Signal.like(self.load.addr, name="load_addr"), Signal.like(self.load.data, name="load_data")
        m.d.sync += load_en.eq(0)
        m.d.comb += [self.load.en.eq(load_en), self.load.addr.eq(load_addr), self.load.data.eq(load_data)]

        in_frame = Signal()
        m.d.comb += self.status.eq(Mux(in_frame, LINK_RECEIVING, LINK_BUSY))
        from_label = Signal()
        if self.has_learn:
            m.d.comb += [self.learn.label.eq(label), self.learn.from_label.eq(from_label)]

        def receiving():
            """Inside a frame: a frame whose bytes stop arriving is abandoned with a TIMEOUT reply."""
            m.d.comb += in_frame.eq(1)
            m.d.sync += timer.eq(Mux(got, 0, timer + 1))
            with m.If(~got & expired):
                m.next = "TIMEOUT"

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += self.status.eq(LINK_IDLE)
                with m.If(got & is_sync):
                    m.d.sync += [crc.eq(0), tx_crc.eq(0), timer.eq(0)]
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
                                 bad_value.eq(0), pix_sub.eq(0), word_sub.eq(0), write_words.eq(0)]
                    m.next = "LEN_DONE"
                receiving()
            with m.State("LEN_DONE"):                    # one cycle: the length is in its register
                m.d.comb += in_frame.eq(1)
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
                        for k in range(6):
                            with m.Case(k):
                                m.d.sync += arg[8 * k:8 * k + 8].eq(byte)
                    with m.If(past_args):
                        with m.If(room):
                            m.d.comb += [wr.addr.eq(stored), wr.data.eq(byte), wr.en.eq(1)]
                        with m.If(not_over):
                            m.d.sync += stored.eq(stored + 1)
                        # pixel values: little-endian bytes, checked against input.max_value at each last byte
                        m.d.sync += [pix_val.eq(value), pix_sub.eq(Mux(pix_last, 0, pix_sub + 1))]
                        with m.If(pix_last & too_big):
                            m.d.sync += bad_value.eq(1)
                        # load words: whole words only
                        m.d.sync += word_sub.eq(Mux(word_last, 0, word_sub + 1))
                        with m.If(word_last):
                            m.d.sync += write_words.eq(write_words + 1)
                    with m.If(final):
                        m.next = "CHECK"
                receiving()
            with m.State("CHECK"):
                with m.If(got):
                    m.d.sync += crc_ok.eq(crc_match)
                    m.next = "VERDICT_WAIT"
                receiving()
            with m.State("TIMEOUT"):                     # (its own state: the reply registers' enables stay
                m.d.sync += [code.eq(STATUS["TIMEOUT"]),     # off the receiving states' timeout logic)
                             hdr_k.eq(0), last_word.eq(0), reply_len.eq(0)]
                m.next = "REPLY_HEADER"
            with m.State("VERDICT_WAIT"):                # (the verdict's spans, flags and register settle)
                m.next = "DECIDE"
            with m.State("DECIDE"):                      # the verdict, registered a cycle ago, is final
                ok = crc_ok & (verdict_r == STATUS["OK"])
                m.d.sync += [code.eq(Mux(~crc_ok, STATUS["BAD_CRC"], verdict_r)),
                             reply_len.eq(Mux(ok, word_bytes, 0)),
                             hdr_k.eq(0), ridx.eq(0), all_read.eq(stored == 0), issued.eq(0), word_idx.eq(0), byte_k.eq(0),
                             last_word.eq(0), latency.eq(0), from_label.eq(0), pos.eq(first)]
                with m.If(ok):
                    m.next = "EXECUTE"
                with m.Else():
                    m.next = "REPLY_HEADER"
            with m.State("EXECUTE"):
                m.next = "REPLY_HEADER"                  # (by the registered command flags: one is set)
                with m.If(is_cmd["WRITE"]):
                    m.d.sync += write_words.eq(0)
                    m.next = "WRITE"
                with m.If(is_cmd["INFER"]):
                    m.next = "FILL"
                for name in _commands(self.has_learn):
                    if name in ("READ", "READ_LEARN"):
                        with m.If(is_cmd[name]):
                            m.d.sync += [last_word.eq(count - 1), reply_len.eq(_times(count, L.reply_bytes(name)))]
                if self.has_learn:
                    with m.If(is_cmd["LEARN"]):
                        m.next = "FILL"
                        with m.If(length == 0):
                            m.next = "LEARN_START"
            with m.State("WRITE"):
                done = pump(m, L.load_bytes, wword)
                with m.If(done):
                    m.d.sync += [load_en.eq(1), load_addr.eq(req_addr + write_words),
                                 load_data.eq(Cat(wword[8:], rd.data))]
                    m.d.sync += [issued.eq(0), write_words.eq(write_words + 1)]
                    with m.If(all_read):
                        m.next = "REPLY_HEADER"
            with m.State("FILL"):
                m.d.sync += latency.eq(latency + 1)
                with m.If(pump(m, self.simd * L.pixel_bytes, pword)):
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.sync += latency.eq(latency + 1)
                m.d.comb += self.pixels.valid.eq(1)
                with m.If(self.pixels.ready):
                    m.d.sync += issued.eq(0)
                    m.next = "FILL"
                    with m.If(all_read):
                        m.next = "RESULT"
            with m.State("RESULT"):
                m.d.sync += latency.eq(latency + 1)
                m.d.comb += self.result.ready.eq(1)
                with m.If(self.result.valid):
                    m.next = "REPLY_HEADER"
                    if self.has_learn:
                        with m.If(is_cmd["LEARN"]):
                            m.d.sync += from_label.eq(1)
                            m.next = "LEARN_START"
            if self.has_learn:
                with m.State("LEARN_START"):
                    m.d.comb += self.learn.start.eq(1)
                    m.next = "LEARN_WAIT"
                with m.State("LEARN_WAIT"):
                    with m.If(~self.learn.busy):
                        m.d.sync += from_label.eq(0)
                        m.next = "REPLY_HEADER"
            with m.State("REPLY_HEADER"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(Mux(hdr_k == 0, SYNC_REPLY, header))]
                with m.If(self.tx.ready):
                    m.d.sync += hdr_k.eq(hdr_k + 1)
                    with m.If(hdr_k != 0):
                        m.d.sync += tx_crc.eq(crc8_next(tx_crc, header))
                    with m.If(hdr_k == 4):
                        m.next = "REPLY_SETTLE"
                        with m.If(no_words):
                            m.next = "REPLY_CRC"
            # each reply byte is registered before it is sent (the byte mux over the reply space is wide):
            # memory addresses are registered, memories answer a cycle later, their words are registered,
            # then the byte: REPLY_SETTLE waits SETTLE cycles after each byte for the next one
            out = Signal(8, reset_less=True)
            m.d.sync += out.eq(Mux(streamed, stream_byte, _byte_of(m, space, pos)))
            settle = Signal(range(SETTLE + 1))
            with m.State("REPLY_SETTLE"):
                m.d.sync += settle.eq(settle + 1)
                with m.If(settle == SETTLE - 1):
                    m.d.sync += settle.eq(0)
                    m.next = "REPLY_DATA"
            with m.State("REPLY_DATA"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(out)]
                with m.If(self.tx.ready):
                    m.d.sync += [tx_crc.eq(crc8_next(tx_crc, out)), byte_k.eq(byte_k + 1), pos.eq(pos + 1)]
                    m.next = "REPLY_SETTLE"
                    with m.If(at_last_byte):
                        m.d.sync += [byte_k.eq(0), word_idx.eq(word_idx + 1)]
                        with m.If(at_last_word):
                            m.next = "REPLY_CRC"
            with m.State("REPLY_CRC"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(tx_crc)]
                with m.If(self.tx.ready):
                    m.next = "HUNT"

        return m


#: Cycles from a reply byte's handshake to the next byte ready in ``out``: the word index moves, the memory
#: address register, the monitor port (MONITOR_LATENCY), the word register, the byte register.
SETTLE = 3 + MONITOR_LATENCY


def _byte_of(m, space, pos):
    """Byte ``pos`` of ``space`` a cycle later: a registered 8-way select inside each block of 8 bytes,
    then the block's byte (one wide multiplexer made two shallow ones)."""
    blocks = [space[k:k + 64] for k in range(0, len(space), 64)]
    picked = [Signal(8, name=f"reply_block{b}", reset_less=True) for b in range(len(blocks))]
    for block, reg in zip(blocks, picked):
        m.d.sync += reg.eq(block.word_select(pos[:3], 8))
    return Cat(*picked).word_select(pos[3:], 8) if len(picked) > 1 else picked[0]


def _times(value, constant: int):
    """value * constant as shifts and adds (constant multipliers cost LUTs otherwise)."""
    return tree_sum([value << k for k in range(constant.bit_length()) if constant >> k & 1])


def _commands(has_learn: bool) -> list[str]:
    return [c for c in CMD if has_learn or c not in ("LEARN", "READ_LEARN")]


def _region_end(regions) -> int:
    return regions[-1].base + regions[-1].depth
