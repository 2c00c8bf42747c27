"""The host link's framed serial protocol, defined once for the board top (hw) and the host driver.

Frames, 8N1 bytes on the board's UART::

    host -> board   A5  cmd  len_lo len_hi  payload[len]  crc
    board -> host   5A  cmd  status  len_lo len_hi  payload[len]  crc

``crc`` is CRC-8 (polynomial 0x07, initial value 0, no reflection: CRC-8/SMBUS) over every byte after
the sync byte. Multi-byte numbers are little-endian; signed ones two's complement. A request is acted
on only after its CRC checks and its length and values are valid, so a malformed frame, a bad
checksum or a timeout (no byte for ``timeout`` cycles inside a frame) gets an error reply (status
nonzero, no payload) and never changes the board's state.

Commands and their payloads (see :func:`reply_fields` for the reply layouts):

==========  ================================  ==========================================================
INFO        --                                magic "FSPK", version, build digest (4), buffer bytes (2),
                                              flags (bit 0: flip unit, bit 1: T-BSO)
WRITE       addr (4), words                   load-bus words of ``load_bytes`` bytes at addr, addr+1, ...
READ        addr (4), count (2)               ``count`` monitor words of ``monitor_bytes`` bytes
INFER       pixels (``pixel_bytes`` each)     class, accumulations, latency (cycles), raw counters
            (AER builds: event words, ``event_bytes`` each, the last of the sample's; the board adds ``end``;
            the counters end with the port's dropped events)
EVENTS      event words (AER builds only)     -- (the sample's events so far, into the port; no result yet)
COUNTERS    --                                raw counters (free-running, modulo 2**32)
LEARN       -- , or label (1) + pixels         one flip-unit update: from loaded errors/traces, or infer
                                              the pixels then learn from the label on chip
READ_LEARN  addr (4), count (2)               flip-unit readback: weight word + momentum word each
==========  ================================  ==========================================================
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .errors import FlipspikeError
from .formats import COUNTERS
from .memory_map import build_shape, bus_widths, monitor_widths

SYNC_REQUEST = 0xA5
SYNC_REPLY = 0x5A
MAGIC = b"FSPK"
VERSION = 1
CRC_POLY = 0x07

CMD = {"INFO": 0x00, "WRITE": 0x01, "READ": 0x02, "INFER": 0x03, "COUNTERS": 0x04, "LEARN": 0x05,
       "READ_LEARN": 0x06, "EVENTS": 0x07}
#: INFO's flags byte: a flip unit, in T-BSO mode, an AER build (its INFER carries event words).
FLAG_LEARN, FLAG_TBSO, FLAG_EVENTS = 1, 2, 4
#: Event words a build's buffer holds at least (an AER build: a sample goes as EVENTS frames of this many,
#: then an INFER with the rest).
MIN_EVENT_CHUNK = 256
#: Argument fields (name, bytes) at the start of each request payload, in order: the board keeps them
#: in registers (the rest goes to its buffer), the driver writes them with :func:`encode_args`.
ARGS = {"WRITE": (("addr", 4),), "READ": (("addr", 4), ("count", 2)), "READ_LEARN": (("addr", 4), ("count", 2)),
        "LEARN": (("label", 1),)}
ARG_BYTES = {cmd: sum(n for _, n in fields) for cmd, fields in ARGS.items()}


def arg_field(name: str) -> tuple[int, int]:
    """(first byte, bytes) of argument ``name``: the same place in every command that has it."""
    places = {(sum(n for _, n in fields[:k]), fields[k][1])
              for fields in ARGS.values() for k in range(len(fields)) if fields[k][0] == name}
    if len(places) != 1:
        raise KeyError(f"argument {name!r} has {len(places)} places in ARGS")
    return places.pop()


def encode_args(cmd: str, **values: int) -> bytes:
    """The argument bytes of a ``cmd`` request (little-endian), e.g. encode_args("READ", addr=0, count=8)."""
    return b"".join(int(values[name]).to_bytes(n, "little") for name, n in ARGS[cmd])

STATUS = {"OK": 0, "BAD_CRC": 1, "BAD_COMMAND": 2, "BAD_LENGTH": 3, "TIMEOUT": 4, "BAD_VALUE": 5}
STATUS_TEXT = {
    1: "bad checksum (the frame was damaged on the line)",
    2: "unknown command (or a learning command to a build without a flip unit)",
    3: "bad payload length for the command",
    4: "timeout inside a frame (bytes stopped arriving)",
    5: "a value out of range (a pixel above input.max_value, a label >= classes, or a count of 0)",
}
MAX_PAYLOAD = 0xFFFF
COUNTER_BYTES = 4
LATENCY_BYTES = 4


class LinkError(FlipspikeError, RuntimeError):
    """The board answered with an error frame, or no valid frame came back."""


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8/SMBUS: polynomial x^8 + x^2 + x + 1, MSB first, initial value 0."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def frame(cmd: int, payload: bytes = b"") -> bytes:
    """A request frame."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the protocol's {MAX_PAYLOAD}")
    body = bytes([cmd]) + len(payload).to_bytes(2, "little") + payload
    return bytes([SYNC_REQUEST]) + body + bytes([crc8(body)])


def reply_frame(cmd: int, status: int, payload: bytes = b"") -> bytes:
    """A reply frame (what the board sends; the driver's tests build expected replies with it)."""
    body = bytes([cmd, status]) + len(payload).to_bytes(2, "little") + payload
    return bytes([SYNC_REPLY]) + body + bytes([crc8(body)])


def nbytes(bits: int) -> int:
    return max(1, (bits + 7) // 8)


@dataclass(frozen=True)
class LinkLayout:
    """The byte sizes of one build's protocol fields: what the board top and the driver both derive."""
    n_in: int             # pixels per sample
    pixel_bytes: int      # bytes per pixel
    max_value: int        # largest pixel value accepted
    classes: int
    cls_bytes: int
    acc_bytes: int        # bytes per output accumulation (sign-extended)
    layers: int           # layers with counters
    load_bytes: int       # bytes per load-bus word
    monitor_bytes: int    # bytes per monitor word
    learn_weight_bytes: int     # 0 without a flip unit
    learn_momentum_bytes: int
    v_bytes: int          # 0 unless T-BSO
    buffer_bytes: int     # request payload bytes the board can hold (after the argument bytes)
    digest: bytes         # 4 bytes identifying the build's shape
    event_bytes: int = 0  # an AER build: bytes per event word (INFER and EVENTS carry them); 0: pixels

    @property
    def commands(self) -> list[str]:
        """The commands a build answers (the learning ones only with a flip unit, EVENTS only with AER)."""
        return [c for c in CMD if (self.learn_weight_bytes or c not in ("LEARN", "READ_LEARN"))
                and (self.event_bytes or c != "EVENTS")]

    @property
    def value_bytes(self) -> int:
        """Bytes of one value of an INFER payload: a pixel, or an event word."""
        return self.event_bytes or self.pixel_bytes

    @property
    def max_events(self) -> int:
        """Event words one EVENTS or INFER frame may carry (AER builds)."""
        return self.buffer_bytes // self.event_bytes if self.event_bytes else 0

    def reply_fields(self, cmd: str) -> list[tuple[str, int]]:
        """(field, bytes) of one reply payload, in order (streamed replies: of one word)."""
        counters = [(f"counter{l}.{k}", COUNTER_BYTES) for l in range(self.layers)
                    for k in COUNTERS] + ([("aer_dropped", COUNTER_BYTES)] if self.event_bytes else [])
        if cmd == "INFO":
            return [("magic", 4), ("version", 1), ("digest", 4), ("buffer_bytes", 2), ("flags", 1)]
        if cmd == "INFER":
            return ([("cls", self.cls_bytes)] + [(f"acc{k}", self.acc_bytes) for k in range(self.classes)]
                    + [("latency", LATENCY_BYTES)] + counters)
        if cmd == "COUNTERS":
            return counters
        if cmd == "LEARN":
            return ([("cls", self.cls_bytes), ("flips", COUNTER_BYTES), ("cycles", COUNTER_BYTES)]
                    + ([("v", self.v_bytes)] if self.v_bytes else []))
        if cmd == "READ":
            return [("word", self.monitor_bytes)]
        if cmd == "READ_LEARN":
            return [("weights", self.learn_weight_bytes), ("momentum", self.learn_momentum_bytes)]
        if cmd in ("WRITE", "EVENTS"):
            return []
        raise KeyError(cmd)

    def reply_bytes(self, cmd: str) -> int:
        return sum(n for _, n in self.reply_fields(cmd))

    def infer_rate(self, baud: int) -> dict:
        """What the link alone allows, one INFER at a time (request, then reply; 10 bits a byte on a UART):
        bytes each way and inferences per second. Frame input sends T frames a sample, a byte or more a
        value, so there the link, not the accelerator, sets the pace."""
        reply = len(reply_frame(CMD["INFER"], 0)) + self.reply_bytes("INFER")
        if self.event_bytes:
            return self.event_rate(baud) | {"reply_bytes": reply}
        request = len(frame(CMD["INFER"])) + self.n_in * self.pixel_bytes
        return {"baud": baud, "request_bytes": request, "reply_bytes": reply,
                "inferences_per_s": baud / 10 / (request + reply)}

    def event_rate(self, baud: int, events_per_sample: float | None = None) -> dict:
        """What the link alone allows an AER build (10 bits a byte): events per second sent in full
        frames of ``max_events``, and, for samples of ``events_per_sample`` events (default: a frame's
        worth), inferences per second (the sample's frames, then the INFER's reply)."""
        per_frame = len(frame(CMD["EVENTS"])) + len(reply_frame(CMD["EVENTS"], 0))
        events_per_s = baud / 10 * self.max_events / (self.max_events * self.event_bytes + per_frame)
        n = self.max_events if events_per_sample is None else events_per_sample
        frames = max(1, -(-int(n) // self.max_events))
        sample_bytes = n * self.event_bytes + frames * per_frame + self.reply_bytes("INFER")
        return {"baud": baud, "event_bytes": self.event_bytes, "events_per_frame": self.max_events,
                "events_per_s": events_per_s, "events_per_sample": n,
                "inferences_per_s": baud / 10 / sample_bytes}

    def max_words(self, cmd: str) -> int:
        """Most words one WRITE (buffer) or READ/READ_LEARN (16-bit reply length) frame may carry."""
        if cmd == "WRITE":
            return self.buffer_bytes // self.load_bytes
        return MAX_PAYLOAD // self.reply_bytes(cmd)


def build_digest(shape: dict, learn: dict | None) -> bytes:
    """4 bytes that change whenever the build's shape (sizes, folding, widths, ...) or flip unit does."""
    text = json.dumps({"shape": shape, "learn": learn}, sort_keys=True)
    return hashlib.sha256(text.encode()).digest()[:4]


def decode_fields(fields: list[tuple[str, int]], payload: bytes, signed: tuple[str, ...] = ()) -> dict:
    """Split a reply payload into named little-endian integers (``signed``: field-name prefixes)."""
    out, pos = {}, 0
    for name, n in fields:
        raw = payload[pos:pos + n]
        out[name] = int.from_bytes(raw, "little", signed=name.startswith(signed)) if name != "magic" else raw
        pos += n
    if pos != len(payload):
        raise LinkError(f"reply payload is {len(payload)} bytes, the layout says {pos}")
    return out


def link_layout(desc, folds, learn=None, aer=None) -> LinkLayout:
    """The protocol's field sizes for a build of ``desc`` with ``folds`` (and a flip unit if ``learn``;
    ``aer``: an :class:`~flipspike.ir.aer.EventFormat`, the build takes events)."""
    out = desc.layers[-1]
    pixel_bytes = nbytes(desc.input.bits)
    weight_bytes = momentum_bytes = v_bytes = 0
    if learn is not None:
        fold = folds[learn.layer]
        lanes = fold.pe * fold.simd
        weight_bytes, momentum_bytes = nbytes(lanes), nbytes(lanes * learn.rule.momentum_bits)
        v_bytes = nbytes(learn.rule.v_bits) if learn.rule.tbso else 0
    elements = desc.input.elements(desc.timesteps)           # a sample's pixels, or its T frames
    event_bytes = 0 if aer is None else nbytes(aer.word_bits)
    payload = MIN_EVENT_CHUNK * event_bytes if aer is not None else elements * pixel_bytes
    buffer_bytes = 1 << max(8, (payload - 1).bit_length())
    shape = build_shape(desc, folds) | ({} if aer is None else {"aer": aer.as_dict()})
    return LinkLayout(
        n_in=elements, pixel_bytes=pixel_bytes, max_value=desc.input.max_value, classes=out.n_out,
        cls_bytes=nbytes(max(1, (out.n_out - 1).bit_length())), acc_bytes=nbytes(out.widths.state),
        layers=len(desc.layers), load_bytes=nbytes(bus_widths(desc, folds, learn)[1]),
        monitor_bytes=nbytes(monitor_widths(desc, folds, learn)[1]), learn_weight_bytes=weight_bytes,
        learn_momentum_bytes=momentum_bytes, v_bytes=v_bytes, buffer_bytes=buffer_bytes,
        digest=build_digest(shape, None if learn is None else learn.as_dict()), event_bytes=event_bytes)
