"""The UART host link: the pyserial driver against the board top under Verilator, bit by bit on the pins.

Every comparison is with the integer reference or with the description's own memory images, and the
error cases read the board's raw reply bytes, checking the CRC with the protocol's definition rather
than with the driver.
"""

import numpy as np
import pytest

from flipspike.ir.learning import Learning
from flipspike.ir.memory_map import load_writes, memory_map
from flipspike.ir import Fold
from flipspike.ir.host_protocol import (CMD, STATUS, SYNC_REPLY, SYNC_REQUEST, LinkError, crc8, frame,
                                        reply_frame)
from flipspike.ir.learning import FlipRule
from flipspike.host.driver import Board
from flipspike.sim.cosim import cosim
from flipspike.sim.learn import learn_cosim
from flipspike.sim.monitor import monitor_check
from flipspike.sim.serial_cosim import simulated_board

from helpers import random_desc, random_pixels


def raw_reply(board: Board) -> tuple[int, int, bytes]:
    """(cmd, status, payload) of the next reply, read byte by byte; its CRC checked here."""
    port = board.port
    assert port.read(1) == bytes([SYNC_REPLY])
    head = port.read(4)
    payload = port.read(int.from_bytes(head[2:4], "little"))
    assert port.read(1)[0] == crc8(head + payload), "reply CRC"
    return head[0], head[1], payload


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(7)
    desc = random_desc(rng, [12, 8, 4], timesteps=3, input_bits=9)       # 2 bytes per pixel
    return desc, [Fold(4, 2), Fold(2, 4)], random_pixels(rng, desc, 12)


def test_inference_over_the_serial_link_is_bit_exact(net, build_root):
    desc, folds, x = net
    other = random_desc(np.random.default_rng(8), [12, 8, 4], timesteps=3, input_bits=9)
    with simulated_board(desc, folds, build_root=build_root) as board:
        assert board.layout.pixel_bytes == 2
        report = cosim(desc, folds, x, target=board)
        assert report["simulator"] == "board" and report["samples"] == len(x)
        assert report["mismatches"] == 0, report["mismatch_details"]
        assert all(layer["sops_measured"] == layer["sops_ref"] for layer in report["layers"])
        # another network of the same shape, loaded over WRITE frames, then every word read back
        assert cosim(other, folds, x, target=board)["mismatches"] == 0
        monitor = monitor_check(other, folds, x[0], target=board)
        assert monitor["mismatches"] == 0, monitor["details"]
        # the counters' cycles agree with the plain co-simulation's
        assert report["layers"][0]["cycles_measured"] == report["layers"][0]["cycles_model"]


def test_bad_frames_get_error_replies_and_change_nothing(net, build_root):
    desc, folds, x = net
    regions = memory_map(desc, folds)
    weights = next(r for r in regions if r.memory == "weights")
    with simulated_board(desc, folds, build_root=build_root) as board:
        board.write_memory(load_writes(desc, folds))
        before = board.read_memory(weights.base, weights.depth)
        good = board.infer(x[0])
        L = board.layout
        word = (1 << 8 * L.load_bytes) - 1
        write = frame(CMD["WRITE"], weights.base.to_bytes(4, "little") + word.to_bytes(L.load_bytes, "little"))
        cases = [
            (write[:-1] + bytes([write[-1] ^ 0x01]), "WRITE", "BAD_CRC"),
            (frame(0x7F), 0x7F, "BAD_COMMAND"),
            (frame(CMD["LEARN"]), "LEARN", "BAD_COMMAND"),             # no flip unit in this build
            (frame(CMD["INFER"], bytes(2 * L.n_in - 1)), "INFER", "BAD_LENGTH"),
            (frame(CMD["INFER"], (desc.input.max_value + 1).to_bytes(2, "little") * L.n_in), "INFER", "BAD_VALUE"),
            (frame(CMD["WRITE"], write[5:-2]), "WRITE", "BAD_LENGTH"),     # a word short of a byte
            (frame(CMD["READ"], weights.base.to_bytes(4, "little") + bytes(2)), "READ", "BAD_VALUE"),  # count 0
            (frame(CMD["READ"], (1 << 20).to_bytes(4, "little") + (1).to_bytes(2, "little")), "READ", "BAD_VALUE"),
            (frame(CMD["INFO"], b"\x00"), "INFO", "BAD_LENGTH"),
        ]
        for request, cmd, status in cases:
            board.port.write(b"\x00\x13" + request)                   # line noise first: the board hunts for sync
            got_cmd, got_status, payload = raw_reply(board)
            assert (got_cmd, got_status, payload) == (CMD.get(cmd, cmd), STATUS[status], b""), (cmd, status)
        # a frame that stops: TIMEOUT, then the link works again
        board.port.write(bytes([SYNC_REQUEST, CMD["INFER"], 2 * L.n_in, 0, 1, 2, 3]))
        assert raw_reply(board)[1] == STATUS["TIMEOUT"]
        assert board.read_memory(weights.base, weights.depth) == before
        again = board.infer(x[0])
        assert (again["cls"], again["acc"], again["counters"]) == (good["cls"], good["acc"], good["counters"])
        with pytest.raises(LinkError, match="bad payload length"):
            board.request("COUNTERS", b"\x01")


def test_on_chip_learning_over_the_serial_link(build_root):
    rng = np.random.default_rng(0)
    desc = random_desc(rng, [6, 6, 4], timesteps=3, input_bits=3)
    folds = [Fold(3, 2), Fold(3, 2)]
    rule = FlipRule(momentum_bits=6, rate_shift=2, threshold=3, delta_bits=4, trace_bits=3)
    x, y = random_pixels(rng, desc, 12), rng.integers(0, 4, 12)
    with simulated_board(desc, folds, Learning(1, rule), build_root=build_root) as board:
        report = learn_cosim(desc, folds, rule, onchip=(x, y), x_eval=x, target=board)
    assert report["updates"] == 12 and report["flips"] > 0
    assert report["mismatches"] == 0, report["mismatched_updates"]


class FakePort:
    """A serial port that answers every request with canned bytes (no board, no simulator)."""

    def __init__(self, replies):
        self.replies, self.pending, self.written = list(replies), b"", []

    def write(self, data):
        self.written.append(bytes(data))
        if self.replies:
            self.pending += self.replies.pop(0)

    def read(self, n):
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self):
        pass


def _info(layout, digest=None):
    payload = (b"FSPK" + bytes([1]) + (digest or layout.digest) + layout.buffer_bytes.to_bytes(2, "little")
               + bytes([0]))
    return reply_frame(CMD["INFO"], 0, payload)


def test_driver_refuses_another_build_and_damaged_replies(net):
    from flipspike.ir.host_protocol import link_layout
    desc, folds, _ = net
    layout = link_layout(desc, folds)
    with pytest.raises(LinkError, match="different build"):
        Board(FakePort([_info(layout, b"\x00\x00\x00\x00")]), desc, folds)
    counters = reply_frame(CMD["COUNTERS"], 0, bytes(4 * 4 * layout.layers))
    board = Board(FakePort([_info(layout), counters]), desc, folds)
    assert board.port.written[0] == bytes([SYNC_REQUEST, CMD["INFO"], 0, 0, crc8(bytes([CMD["INFO"], 0, 0]))])
    damaged = bytearray(counters)
    damaged[-1] ^= 0xFF
    board.port.replies.append(bytes(damaged))
    with pytest.raises(LinkError, match="bad CRC"):
        board.read_counters()
    with pytest.raises(LinkError, match="no complete reply"):
        board.read_counters()                                           # silence


def malformed_frames(rng: np.random.Generator, layout, desc, weights, n: int) -> list[tuple[bytes, str | None]]:
    """``n`` requests that must not act: (bytes, the status the reply must carry, or None: no reply)."""
    L = layout
    valid = [frame(CMD["WRITE"], weights.base.to_bytes(4, "little") + rng.integers(0, 256, L.load_bytes,
                                                                                   dtype=np.uint8).tobytes()),
             frame(CMD["READ"], weights.base.to_bytes(4, "little") + (1).to_bytes(2, "little")),
             frame(CMD["INFER"], b"".join(int(v).to_bytes(L.pixel_bytes, "little")
                                          for v in rng.integers(0, desc.input.max_value + 1, L.n_in))),
             frame(CMD["COUNTERS"]), frame(CMD["INFO"])]
    out = []
    for _ in range(n):
        base = bytearray(valid[rng.integers(len(valid))])
        kind = rng.integers(6)
        if kind == 0:                                     # a bit flipped in the payload or the CRC: the CRC says so
            k = int(rng.integers(4, len(base)))           # (not in the header: a longer length is a timeout)
            base[k] ^= 1 << int(rng.integers(8))
            out.append((bytes(base), "BAD_CRC"))
        elif kind == 1:                                   # an unknown command, or LEARN without a flip unit
            cmd = int(rng.choice([0x7F, 0x42, CMD["LEARN"], CMD["READ_LEARN"]]))
            out.append((frame(cmd, rng.integers(0, 256, int(rng.integers(0, 8)), dtype=np.uint8).tobytes()),
                        "BAD_COMMAND"))
        elif kind == 2:                                   # a wrong length for the command
            cmd = str(rng.choice(["INFER", "READ", "INFO", "COUNTERS"]))
            right = {"INFER": L.n_in * L.pixel_bytes, "READ": 6, "INFO": 0, "COUNTERS": 0}[cmd]
            length = int(rng.choice([n for n in range(0, 2 * L.n_in * L.pixel_bytes + 8) if n != right]))
            out.append((frame(CMD[cmd], rng.integers(0, 256, length, dtype=np.uint8).tobytes()), "BAD_LENGTH"))
        elif kind == 3:                                   # addresses and counts out of range
            addr = int(rng.choice([1 << 20, (1 << 32) - 1, weights.base]))
            count = 0 if addr == weights.base else int(rng.integers(1, 4))
            out.append((frame(CMD["READ"], addr.to_bytes(4, "little") + count.to_bytes(2, "little")), "BAD_VALUE"))
        elif kind == 4:                                   # a pixel above input.max_value
            pixels = [int(v) for v in rng.integers(0, desc.input.max_value + 1, L.n_in)]
            pixels[int(rng.integers(L.n_in))] = int(rng.integers(desc.input.max_value + 1, 1 << (8 * L.pixel_bytes)))
            out.append((frame(CMD["INFER"], b"".join(p.to_bytes(L.pixel_bytes, "little") for p in pixels)),
                        "BAD_VALUE"))
        else:                                             # garbage with no sync byte: ignored, no reply
            junk = rng.integers(0, 256, int(rng.integers(1, 12)), dtype=np.uint8)
            out.append((bytes(junk[junk != SYNC_REQUEST].tolist()), None))
    return out


def test_frame_fuzzer_changes_no_state(net, build_root):
    """Random malformed frames (flipped bits, unknown commands, LEARN without a flip unit, wrong lengths,
    out-of-range addresses and values, garbage): each answered with its error (garbage: nothing) and no
    state changed; the harness's state check catches the one valid WRITE sent at the end."""
    desc, folds, x = net
    weights = next(r for r in memory_map(desc, folds) if r.memory == "weights")
    rng = np.random.default_rng(11)
    with simulated_board(desc, folds, build_root=build_root) as board:
        board.write_memory(load_writes(desc, folds))
        state = lambda: (board.read_memory(weights.base, weights.depth), board.infer(x[0]))
        before = state()
        cases = malformed_frames(rng, board.layout, desc, weights, 200)
        assert {status for _, status in cases} >= {"BAD_CRC", "BAD_COMMAND", "BAD_LENGTH", "BAD_VALUE", None}
        for request, status in cases:
            board.port.write(request)
            if status is not None:
                got = raw_reply(board)
                assert got[1] == STATUS[status] and got[2] == b"", (request.hex(), status, got)
        assert state() == before
        word = int(before[0][0]) ^ 1                     # the harness can fail: a valid write is seen
        board.write_memory([(weights.base, word)])
        assert state()[0] != before[0]


def test_opening_a_board_fills_its_spram(build_root):
    """A build whose first layer keeps its weights in SPRAM (no initial contents): the driver writes
    them as it opens the board, so the first INFER frame, with nothing else loaded, already answers
    what the integer reference computes."""
    from flipspike.sim.compare import compare
    from flipspike.sw.integer import run_integer

    rng = np.random.default_rng(12)
    desc = random_desc(rng, [12, 8, 4], timesteps=3, input_bits=4)
    folds = [Fold(4, 2, spram=True), Fold(2, 4)]
    x = random_pixels(rng, desc, 6)
    with simulated_board(desc, folds, build_root=build_root) as board:
        observed = {"samples": [board.infer(pixels) for pixels in x]}
    ref = run_integer(desc, x)
    assert compare(ref, observed) == []


def test_events_over_the_serial_link(build_root):
    """An AER build behind the host link: each sample's events as EVENTS frames of the buffer's size and a
    last INFER (the board closes the sample), bit-exact against the reference on the frames the port's rules
    make, out-of-range events included; partial event words and empty EVENTS frames refused; a board
    opened without the AER format refused by its digest."""
    from flipspike.ir.aer import EventFormat, accepted
    from flipspike.ir.host_protocol import FLAG_EVENTS
    from test_aer import random_events

    from helpers import random_conv_desc
    rng = np.random.default_rng(11)
    desc = random_conv_desc(rng, (4, 4, 2), [{"channels": 3, "kernel": 3, "padding": 1}], 3, timesteps=4,
                            input_bits=1, encoding="frames")
    fmt = EventFormat.of(desc, 2)
    folds = [Fold(2, 3), Fold(4, 3)]
    samples = [random_events(rng, fmt, n) for n in (0, 7, 40, 300, 90)]
    with simulated_board(desc, folds, build_root=build_root, aer=fmt) as board:
        L = board.layout
        assert L.event_bytes == 2 and L.max_events < 300 and board.info()["flags"] & FLAG_EVENTS
        report = cosim(desc, folds, samples, target=board, aer=fmt)
        assert report["mismatches"] == 0 and report["samples"] == len(samples), report["mismatch_details"]
        refused = [int((~accepted(ev, fmt)).sum()) for ev in samples]       # the port's rules, from ir.aer
        assert report["aer_dropped"] == sum(refused) > 0
        assert [board.infer(ev)["aer_dropped"] for ev in samples] == refused
        for request, cmd in ((frame(CMD["INFER"], bytes(3)), "INFER"), (frame(CMD["EVENTS"]), "EVENTS")):
            board.port.write(request)
            assert raw_reply(board) == (CMD[cmd], STATUS["BAD_LENGTH"], b"")
        assert cosim(desc, folds, samples[2:4], target=board, aer=fmt)["mismatches"] == 0
        port = board.port
        with pytest.raises(LinkError, match="different build"):
            Board(port, desc, folds)
