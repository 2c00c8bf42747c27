"""The host link's reply streamer: a reply frame, its words read from the accelerator's ports."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.formats import MONITOR_LATENCY
from flipspike.ir.host_protocol import (COUNTER_BYTES, FLAG_EVENTS, FLAG_LEARN, FLAG_TBSO, MAGIC, SYNC_REPLY, VERSION,
                                        LinkLayout)

from .arith import tree_sum
from .interfaces import CounterLayout, MonitorSignature, result_layout
from .link_fields import arg, by_command, crc8_next, request_layout

#: Cycles from a reply byte's handshake to the next byte ready: the word index moves, the memory address
#: register, the monitor port (MONITOR_LATENCY), the word register, the byte register.
SETTLE = 3 + MONITOR_LATENCY


class ReplyStreamer(wiring.Component):
    """From ``start`` (a pulse, with ``code`` and ``ok``) to ``done`` (a pulse): the reply to ``request``
    on ``tx``, one byte at a time, its CRC computed on the way out (``acc_width``: the output layer's
    accumulators; ``addr_width``: the address bits of READ and READ_LEARN).

    Header: sync, command, ``code``, payload length. Where ``ok``, the payload follows: INFO's build
    identity; INFER's class, accumulators (``result``), ``latency`` and counters (``counters``, then an
    AER build's ``aer_dropped``);
    COUNTERS (the tail of INFER); LEARN's class, flips, cycles (and v: ``learn_v``); or ``count`` words
    streamed from a memory: READ from the monitor (``monitor``), READ_LEARN from the flip unit's
    readback (``readback_*``). Each byte is registered before it is sent (the byte multiplexer over the
    reply space is wide): memory addresses are registered, memories answer a cycle later, their words
    are registered, then the byte, so a byte follows the handshake of the last one SETTLE cycles later.
    """

    def __init__(self, layout: LinkLayout, *, acc_width: int, monitor_bus: tuple[int, int], addr_width: int,
                 learn_words: int = 0, v_bits: int = 0):
        self.layout, self.addr_width, self.has_learn = layout, addr_width, learn_words > 0
        members = {"start": In(1), "code": In(8), "ok": In(1), "done": Out(1),
                   "request": In(request_layout(layout)), "tx": Out(stream.Signature(8)),
                   "result": In(result_layout(layout.classes, acc_width)), "latency": In(32),
                   "counters": In(data.ArrayLayout(CounterLayout, layout.layers)),
                   "monitor": Out(MonitorSignature(*monitor_bus))}
        if layout.event_bytes:
            members["aer_dropped"] = In(8 * COUNTER_BYTES)
        if self.has_learn:
            members |= {"learn_flips": In(32), "learn_cycles": In(32), "readback_addr": Out(range(max(2, learn_words))),
                        "readback_weights": In(8 * layout.learn_weight_bytes),
                        "readback_momentum": In(8 * layout.learn_momentum_bytes)}
            if v_bits:
                members["learn_v"] = In(v_bits)
        super().__init__(members)

    def _sources(self, m, index, req_addr):
        """The reply payloads (``index``: the word being sent; ``req_addr``: the request's address
        argument). Fixed-size replies are windows of one byte space, so a single byte multiplexer serves
        them all (on an iCE40 a mux costs about a LUT per input bit): returns (space, {cmd: byte
        offset}). Streamed replies (READ, READ_LEARN) are one word per address: returns {cmd: word}."""
        L = self.layout
        res = self.result
        cls = Signal(L.cls_bytes * 8)
        m.d.comb += cls.eq(res.cls)
        accs = []
        for k in range(L.classes):
            acc = Signal(signed(L.acc_bytes * 8), name=f"acc{k}")
            m.d.comb += acc.eq(res.acc[k])
            accs.append(acc)
        counters = Cat(*(Cat(self.counters[i].cycles, self.counters[i].in_spikes, self.counters[i].sops,
                             self.counters[i].skipped) for i in range(L.layers)),
                       *([self.aer_dropped] if L.event_bytes else []))
        flags = Const((FLAG_LEARN if self.has_learn else 0) | (FLAG_TBSO if L.v_bytes else 0)
                      | (FLAG_EVENTS if L.event_bytes else 0), 8)
        parts = [("INFO", Cat(Const(int.from_bytes(MAGIC, "little"), 32), Const(VERSION, 8),
                              Const(int.from_bytes(L.digest, "little"), 32), Const(L.buffer_bytes, 16), flags)),
                 ("INFER", Cat(cls, *accs, self.latency, counters))]
        monitor = Signal.like(self.monitor.data, reset_less=True)   # memory words pass a register (slow RAM outputs)
        m.d.sync += monitor.eq(self.monitor.data)
        streams = {"READ": monitor}
        m.d.sync += self.monitor.addr.eq(req_addr + index)      # (registered: see SETTLE)
        if self.has_learn:
            v = self.learn_v if L.v_bytes else Const(0, 0)
            parts.append(("LEARN", Cat(cls, self.learn_flips, self.learn_cycles, v)))
            m.d.sync += self.readback_addr.eq(req_addr + index)
            learned = Signal(len(self.readback_weights) + len(self.readback_momentum), reset_less=True)
            m.d.sync += learned.eq(Cat(self.readback_weights, self.readback_momentum))
            streams["READ_LEARN"] = learned
        offsets, pos = {}, 0
        for name, value in parts:
            offsets[name] = pos
            pos += L.reply_bytes(name)
        offsets["COUNTERS"] = offsets["INFER"] + L.reply_bytes("INFER") - L.reply_bytes("COUNTERS")
        return Cat(*(value for _, value in parts)), offsets, streams

    def elaborate(self, platform):
        m = Module()
        L, req = self.layout, self.request
        is_cmd, count = req.is_cmd, arg(req, "count")
        commands = L.commands
        hdr_k = Signal(range(5))
        word_idx = Signal(16)
        byte_k = Signal(range(max(2, max(L.reply_bytes(c) for c in commands))))
        space, offsets, streams = self._sources(m, word_idx, arg(req, "addr")[:self.addr_width])
        pos = Signal(range(max(2, len(space) // 8)))       # byte of the space being sent
        first = Signal.like(pos)
        streamed = Signal()
        word_bytes = Signal(range(max(L.reply_bytes(c) for c in commands) + 1))
        last_byte = Signal.like(word_bytes)              # word_bytes - 1, a constant per command
        stream_byte = Signal(8)
        # (what the command decides, in registers: the command is set long before the reply)
        m.d.sync += [word_bytes.eq(by_command(is_cmd, {n: L.reply_bytes(n) for n in commands})),
                     last_byte.eq(by_command(is_cmd, {n: L.reply_bytes(n) - 1 for n in commands})),
                     first.eq(by_command(is_cmd, {n: offsets[n] for n in commands if n in offsets})),
                     streamed.eq(by_command(is_cmd, {n: 1 for n in commands if n in streams}))]
        for name in streams:
            with m.If(is_cmd[name]):
                m.d.comb += stream_byte.eq(streams[name].word_select(byte_k, 8))
        # the reply's length and last word: one word, or ``count`` (READ, READ_LEARN); none unless ok
        code, tx_crc = Signal(8, name="code"), Signal(8, name="tx_crc")
        reply_len, last_word = Signal(16), Signal(16)
        streamed_len = by_command(is_cmd, {n: _times(count, L.reply_bytes(n)) for n in streams})
        # the reply's end conditions, registered: the counters they read move at a byte's handshake, and
        # the next byte comes SETTLE cycles later at the earliest (after the header: a UART byte later)
        no_words, at_last_byte, at_last_word = (Signal(name=n) for n in ("no_words", "at_last_byte", "at_last_word"))
        m.d.sync += [no_words.eq(reply_len == 0), at_last_byte.eq(byte_k == last_byte),
                     at_last_word.eq(word_idx == last_word)]
        # header byte k (k >= 1) from a register: hdr_k moves at a byte's handshake and the next one comes
        # a UART byte later; byte 0 is the constant sync byte (and outside the CRC)
        header = Signal(8, reset_less=True)
        with m.Switch(hdr_k):
            for k, value in enumerate([SYNC_REPLY, req.cmd, code, reply_len[:8], reply_len[8:16]]):
                with m.Case(k):
                    m.d.sync += header.eq(value)
        out = Signal(8, reset_less=True)
        m.d.sync += out.eq(Mux(streamed, stream_byte, _byte_of(m, space, pos)))
        settle = Signal(range(SETTLE + 1))

        with m.FSM():
            with m.State("IDLE"):
                # (loaded every cycle, enabled by the state alone: they keep the values of the start cycle)
                m.d.sync += [code.eq(self.code), tx_crc.eq(0), hdr_k.eq(0), word_idx.eq(0), byte_k.eq(0),
                             pos.eq(first), reply_len.eq(Mux(self.ok, Mux(streamed, streamed_len, word_bytes), 0)),
                             last_word.eq(Mux(self.ok & streamed, count - 1, 0))]
                with m.If(self.start):
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(Mux(hdr_k == 0, SYNC_REPLY, header))]
                with m.If(self.tx.ready):
                    m.d.sync += hdr_k.eq(hdr_k + 1)
                    with m.If(hdr_k != 0):
                        m.d.sync += tx_crc.eq(crc8_next(tx_crc, header))
                    with m.If(hdr_k == 4):
                        m.next = "SETTLE"
                        with m.If(no_words):
                            m.next = "CRC"
            with m.State("SETTLE"):
                m.d.sync += settle.eq(settle + 1)
                with m.If(settle == SETTLE - 1):
                    m.d.sync += settle.eq(0)
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(out)]
                with m.If(self.tx.ready):
                    m.d.sync += [tx_crc.eq(crc8_next(tx_crc, out)), byte_k.eq(byte_k + 1), pos.eq(pos + 1)]
                    m.next = "SETTLE"
                    with m.If(at_last_byte):
                        m.d.sync += [byte_k.eq(0), word_idx.eq(word_idx + 1)]
                        with m.If(at_last_word):
                            m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(tx_crc)]
                with m.If(self.tx.ready):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m


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
