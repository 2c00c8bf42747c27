"""The host link's parts, each under Amaranth's simulator against the protocol as ir/host_protocol.py
defines it (frames built with its frame(), replies checked with its reply_frame() and crc8()). The
whole link, behind a UART, is held against the driver and the integer reference in test_host_link.py."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import memory
from amaranth.sim import Simulator

from flipspike.hw.link_fields import decoded_commands
from flipspike.hw.link_executor import RequestExecutor
from flipspike.hw.link_receiver import FrameReceiver
from flipspike.hw.link_reply import ReplyStreamer
from flipspike.hw.link_verdict import RequestCheck
from flipspike.ir.host_protocol import (CMD, MAGIC, STATUS, VERSION, LinkLayout, encode_args, frame, reply_frame)

LAYOUT = LinkLayout(n_in=6, pixel_bytes=2, max_value=300, classes=3, cls_bytes=1, acc_bytes=2, layers=2,
                    load_bytes=3, monitor_bytes=2, learn_weight_bytes=0, learn_momentum_bytes=0, v_bytes=0,
                    buffer_bytes=256, digest=b"\x01\x02\x03\x04")


def simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def request_of(ctx, port) -> dict:
    value = ctx.get(port)
    return {name: int(getattr(value, name)) for name in ("cmd", "length", "stored", "word_sub", "words",
                                                          "bad_value", "crc_ok")} | {"arg": int(value.arg)}


# -- the receiver ---------------------------------------------------------------------------------------------

def test_receiver_parses_frames_into_requests():
    dut = FrameReceiver(LAYOUT, timeout=40)
    pixels = [5, 300, 0, 17, 299, 1]
    cases = [   # (bytes, expected request fields, payload bytes expected in the buffer)
        (frame(CMD["INFER"], b"".join(p.to_bytes(2, "little") for p in pixels)),
         dict(cmd=CMD["INFER"], length=12, stored=12, words=4, word_sub=0, bad_value=0, crc_ok=1, arg=None), 12),
        (frame(CMD["INFER"], b"".join(p.to_bytes(2, "little") for p in pixels[:5] + [301])),
         dict(cmd=CMD["INFER"], length=12, stored=12, words=4, word_sub=0, bad_value=1, crc_ok=1, arg=None), 12),
        (frame(CMD["WRITE"], encode_args("WRITE", addr=0x01020304) + bytes(range(7))),
         # (the pixel check runs over every payload, only INFER and LEARN look at it: 0x0302 > 300)
         dict(cmd=CMD["WRITE"], length=11, stored=7, words=2, word_sub=1, bad_value=1, crc_ok=1, arg=None), 7),
        (frame(CMD["READ"], encode_args("READ", addr=9, count=513)),
         dict(cmd=CMD["READ"], length=6, stored=0, words=0, word_sub=0, bad_value=0, crc_ok=1,
              arg=9 | 513 << 32), 0),
        (frame(CMD["INFO"])[:-1] + b"\x00", dict(cmd=CMD["INFO"], length=0, stored=0, words=0, word_sub=0,
                                                  bad_value=0, crc_ok=int(frame(CMD["INFO"])[-1] == 0), arg=None), 0),
    ]

    async def bench(ctx):
        for raw, want, n_stored in cases:
            written, done = {}, False
            for byte in b"\x00\x13" + raw:                 # (line noise before the sync byte is ignored)
                ctx.set(dut.rx.payload, byte)
                ctx.set(dut.rx.valid, 1)
                await ctx.tick()
                ctx.set(dut.rx.valid, 0)
                for _ in range(2):
                    if ctx.get(dut.buf.en):
                        written[ctx.get(dut.buf.addr)] = ctx.get(dut.buf.data)
                    assert not ctx.get(dut.timed_out)
                    done = done or ctx.get(dut.done)
                    await ctx.tick()
            assert done                                    # with the CRC byte
            payload = raw[4:-1]
            if want["arg"] is None:     # (the first six payload bytes, whatever the command: arguments are prefixes)
                want = want | {"arg": int.from_bytes(payload[:6], "little")}
            assert request_of(ctx, dut.request) == want
            assert written == dict(enumerate(payload[len(payload) - n_stored:]))
            assert not ctx.get(dut.idle)
            ctx.set(dut.resume, 1)
            await ctx.tick()
            ctx.set(dut.resume, 0)
            assert ctx.get(dut.idle)

    simulate(dut, bench)


def test_receiver_abandons_a_frame_that_stops():
    dut = FrameReceiver(LAYOUT, timeout=30)

    async def bench(ctx):
        for byte in frame(CMD["INFER"], bytes(12))[:6]:
            ctx.set(dut.rx.payload, byte)
            ctx.set(dut.rx.valid, 1)
            await ctx.tick()
            ctx.set(dut.rx.valid, 0)
            await ctx.tick()
        cycles = 0
        while not ctx.get(dut.timed_out):
            assert ctx.get(dut.in_frame) and cycles < 40
            await ctx.tick()
            cycles += 1
        assert 30 <= cycles <= 33
        await ctx.tick()
        assert not ctx.get(dut.in_frame) and not ctx.get(dut.idle)   # held until the reply is out

    simulate(dut, bench)


# -- the verdict ----------------------------------------------------------------------------------------------

def expected_status(cmd, length, addr, count, stored, word_sub, words, bad_value, *, load_end, monitor_end):
    """The protocol's acceptance rules, as ir/host_protocol.py's docstring and STATUS_TEXT state them."""
    L = LAYOUT
    if cmd in ("INFO", "COUNTERS"):
        return "OK" if length == 0 else "BAD_LENGTH"
    if cmd == "INFER":
        return "BAD_LENGTH" if length != L.n_in * L.pixel_bytes else "BAD_VALUE" if bad_value else "OK"
    if cmd == "WRITE":
        if length < 4 + L.load_bytes or stored > L.buffer_bytes or word_sub:
            return "BAD_LENGTH"
        return "OK" if addr + words <= load_end else "BAD_VALUE"
    if cmd == "READ":
        if length != 6:
            return "BAD_LENGTH"
        return "OK" if 0 < count <= L.max_words("READ") and addr + count <= monitor_end else "BAD_VALUE"
    return "BAD_COMMAND"


def test_request_check_follows_the_protocol():
    load_end, monitor_end = 40, 40000                  # (the monitor map longer than a reply's words)
    dut = RequestCheck(LAYOUT, has_learn=False, load_end=load_end, monitor_end=monitor_end, learn_words=0,
                       addr_width=16)
    rng = np.random.default_rng(4)
    names = {v: k for k, v in CMD.items()}
    requests = []
    for _ in range(300):
        cmd = int(rng.choice(list(CMD.values()) + [0x42]))
        length = int(rng.choice([0, 6, 12, 7, 10, 13, int(rng.integers(0, 300))]))
        addr = int(rng.choice([0, 3, 39, 45, 39990, 65535, 65536, 1 << 20, int(rng.integers(0, 1 << 32))]))
        count = int(rng.choice([0, 1, 2, 5, 11, 60000]))
        requests.append(dict(cmd=cmd, length=length, addr=addr, count=count, stored=int(rng.integers(0, 258)),
                             word_sub=int(rng.integers(0, 3)), words=int(rng.integers(0, 12)),
                             bad_value=int(rng.integers(0, 2))))
    most = LAYOUT.max_words("READ")
    edges = [dict(cmd=CMD["READ"], length=6, addr=0, count=n) for n in (most, most + 1)]     # (the limits, and
    edges += [dict(cmd=CMD["READ"], length=6, addr=monitor_end - 3, count=n) for n in (3, 4)]  # one past each)
    edges += [dict(cmd=CMD["WRITE"], length=4 + 3 * n, addr=load_end - 3, words=n, stored=3 * n) for n in (3, 4)]
    requests += [dict(dict(count=0, stored=0, word_sub=0, words=0, bad_value=0), **e) for e in edges]

    async def bench(ctx):
        for r in requests:
            ctx.set(dut.request.cmd, r["cmd"])
            for name in decoded_commands(LAYOUT):
                ctx.set(getattr(dut.request.is_cmd, name), int(r["cmd"] == CMD[name]))
            ctx.set(dut.request.arg, r["addr"] | r["count"] << 32)
            for name in ("length", "stored", "word_sub", "words", "bad_value"):
                ctx.set(getattr(dut.request, name), r[name])
            for _ in range(RequestCheck.LATENCY):
                await ctx.tick()
            want = expected_status(names.get(r["cmd"], "?"), r["length"], r["addr"], r["count"], r["stored"],
                                   r["word_sub"], r["words"], r["bad_value"], load_end=load_end,
                                   monitor_end=monitor_end)
            assert ctx.get(dut.status) == STATUS[want], r

    simulate(dut, bench)


# -- the executor ----------------------------------------------------------------------------------------------

def executor_bench(buffer: bytes):
    dut = RequestExecutor(LAYOUT, simd=2, pixel_bits=9, load_bus=(6, 20), addr_width=6, has_learn=False)
    m = Module()
    m.submodules.dut = dut
    m.submodules.buf = buf = memory.Memory(shape=8, depth=LAYOUT.buffer_bytes, init=list(buffer))
    rd = buf.read_port()
    m.d.comb += [rd.addr.eq(dut.buf_addr), dut.buf_data.eq(rd.data)]
    return m, dut


def start(ctx, dut, cmd: str, length: int, stored: int, arg: int = 0):
    for name in decoded_commands(LAYOUT):
        ctx.set(getattr(dut.request.is_cmd, name), int(name == cmd))
    ctx.set(dut.request.cmd, CMD[cmd])
    ctx.set(dut.request.length, length)
    ctx.set(dut.request.stored, stored)
    ctx.set(dut.request.arg, arg)
    ctx.set(dut.start, 1)


def test_executor_writes_load_words_at_consecutive_addresses():
    words = [0x12345, 0xABCDE, 0x00F0F, 0x77777]
    payload = b"".join(w.to_bytes(3, "little") for w in words)
    m, dut = executor_bench(payload)
    writes = []

    async def bench(ctx):
        start(ctx, dut, "WRITE", 4 + len(payload), len(payload), arg=17)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(100):
            if ctx.get(dut.load.en):
                writes.append((ctx.get(dut.load.addr), ctx.get(dut.load.data)))
            if ctx.get(dut.done):
                break
            await ctx.tick()
        assert ctx.get(dut.done)
        await ctx.tick()
        if ctx.get(dut.load.en):                      # (the last word lands as done pulses)
            writes.append((ctx.get(dut.load.addr), ctx.get(dut.load.data)))

    simulate(m, bench)
    assert writes == [(17 + k, w) for k, w in enumerate(words)]


def test_executor_streams_pixels_and_counts_the_latency():
    pixels = [1, 300, 7, 0, 511, 256]
    m, dut = executor_bench(b"".join(p.to_bytes(2, "little") for p in pixels))
    rng = np.random.default_rng(0)
    sent, cycles = [], 0

    async def bench(ctx):
        nonlocal cycles
        start(ctx, dut, "INFER", 12, 12)
        await ctx.tick()
        ctx.set(dut.start, 0)
        while not ctx.get(dut.done):
            ready = int(rng.random() < 0.5)
            ctx.set(dut.pixels.ready, ready)
            ctx.set(dut.result_valid, len(sent) == 6 and rng.random() < 0.3)
            if ctx.get(dut.pixels.valid) and ready:
                sent.extend(int(v) for v in ctx.get(dut.pixels.payload))
            took_result = ctx.get(dut.result_ready) and ctx.get(dut.result_valid)
            await ctx.tick()
            cycles += 1
            assert cycles < 200
            if took_result:
                latency = ctx.get(dut.latency)
        assert sent == pixels
        assert latency == cycles - 1            # the cycles from the first pixel read to the result taken

    simulate(m, bench)


# -- the reply ------------------------------------------------------------------------------------------------

def replies(ok: bool, cmd: str, code: int, **ports) -> bytes:
    dut = ReplyStreamer(LAYOUT, acc_width=12, monitor_bus=(6, 16), addr_width=6)
    out = []

    async def bench(ctx):
        for name in decoded_commands(LAYOUT):
            ctx.set(getattr(dut.request.is_cmd, name), int(name == cmd))
        ctx.set(dut.request.cmd, CMD[cmd])
        for name, value in ports.items():
            ctx.set(getattr(dut, name), value)
        await ctx.tick()                              # (the command's registers settle: set long before)
        ctx.set(dut.start, 1)
        ctx.set(dut.code, code)
        ctx.set(dut.ok, ok)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for k in range(2000):
            ready = k % 10 == 0                       # a UART takes a byte every ten cycles
            ctx.set(dut.tx.ready, ready)
            if ready and ctx.get(dut.tx.valid):
                out.append(ctx.get(dut.tx.payload))
                if ctx.get(dut.done):
                    break
            await ctx.tick()

    simulate(dut, bench)
    return bytes(out)


def test_reply_of_info_is_the_build_identity():
    got = replies(True, "INFO", STATUS["OK"])
    payload = MAGIC + bytes([VERSION]) + LAYOUT.digest + LAYOUT.buffer_bytes.to_bytes(2, "little") + bytes([0])
    assert got == reply_frame(CMD["INFO"], STATUS["OK"], payload)


def test_reply_of_infer_carries_class_accumulators_latency_and_counters():
    counters = [{"cycles": 100 + i, "in_spikes": 7 * i, "sops": 2 ** 31 + i, "skipped": i} for i in range(2)]
    got = replies(True, "INFER", STATUS["OK"], result={"cls": 2, "acc": [-5, 2047, -2048]}, latency=123456,
                  counters=counters)
    payload = bytes([2]) + b"".join(v.to_bytes(2, "little", signed=True) for v in (-5, 2047, -2048))
    payload += (123456).to_bytes(4, "little")
    payload += b"".join(c[k].to_bytes(4, "little") for c in counters for k in ("cycles", "in_spikes", "sops", "skipped"))
    assert got == reply_frame(CMD["INFER"], STATUS["OK"], payload)


@pytest.mark.parametrize("status", ["BAD_CRC", "TIMEOUT", "BAD_VALUE"])
def test_error_replies_carry_no_payload(status):
    assert replies(False, "READ", STATUS[status]) == reply_frame(CMD["READ"], STATUS[status])
