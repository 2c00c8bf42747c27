"""The host driver: talk to a board (or the serial co-simulation) over its UART with pyserial.

:class:`Board` speaks the framed protocol of :mod:`flipspike.ir.host_protocol` and offers the
co-simulation's job interface (:meth:`Board.run_jobs` takes the jobs of
:func:`flipspike.sim.cosim.run_hardware` and returns the same observations), so one test or one CLI
command runs against Verilator or a board::

    board = Board("/dev/ttyUSB1", desc, folds)          # checks the board holds a build of this shape
    board.write_memory(load_writes(desc, folds))         # contents over the load bus
    obs = board.infer(pixels)                             # {"cls", "acc", "counters", "latency"}
"""

from __future__ import annotations

import time

from flipspike.ir.aer import EventFormat
from flipspike.ir.errors import DataError
from flipspike.ir.host_protocol import link_layout
from flipspike.ir.learning import Learning
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold
from flipspike.ir.formats import COUNTERS, counter_delta
from flipspike.ir.memory_map import boot_writes
from flipspike.ir.host_protocol import (CMD, COUNTER_BYTES, MAGIC, STATUS, STATUS_TEXT, SYNC_REPLY, VERSION,
                                        LinkError, crc8, decode_fields, encode_args, frame)

#: The bit rate both board builds use by default (the FTDI parts on iCEBreaker and ULX3S run it).
DEFAULT_BAUD = 1_000_000


def open_serial(port: str, baud: int, timeout: float):
    try:
        import serial
    except ImportError:
        raise LinkError("the host driver needs pyserial: pip install pyserial") from None
    try:
        return serial.Serial(port, baud, timeout=timeout)
    except (OSError, serial.SerialException) as exc:
        raise LinkError(f"cannot open serial port {port}: {exc}; check the board is plugged in and the port "
                        "name (ls /dev/ttyUSB* /dev/ttyACM*), and that you may use it (group dialout)") from None


class Board:
    """A board (or simulated board) running a build of ``desc``'s shape with ``folds`` (and ``learn``).

    ``port``: a serial device path, or an already open pyserial-like object (``read``/``write``).
    Opening sends INFO and refuses a board whose build differs (its digest covers every shape
    parameter), so contents are never loaded into the wrong build. A build that keeps weights in SPRAM
    (fold suffix ``s``; SPRAM has no initial contents) gets ``desc``'s weights there as it opens."""

    def __init__(self, port, desc: NetDesc, folds: list[Fold], learn: Learning | None = None, *,
                 baud: int = DEFAULT_BAUD, timeout: float = 2.0, aer: EventFormat | None = None):
        self.layout = link_layout(desc, folds, learn, aer)
        self.aer = aer
        self.folds, self.learn_cfg = folds, learn
        self.port = open_serial(port, baud, timeout) if isinstance(port, str) else port
        self.timeout = timeout
        info = self.info()
        if info["magic"] != MAGIC or info["version"] != VERSION:
            raise LinkError(f"the device answered but is not a flipspike board of protocol {VERSION} "
                            f"(magic {info['magic']!r}, version {info['version']})")
        if info["digest"] != int.from_bytes(self.layout.digest, "little"):
            raise LinkError("the board holds a different build (its shape digest differs from this network's and "
                            "folding's): rebuild with `flipspike build` for this network, or pass its folding")
        boot = boot_writes(desc, folds)
        if boot:
            self.write_memory(boot)
        self._dropped = 0                                # the AER port's refused events, as last read
        self._counters = self.read_counters()

    def close(self):
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- frames ---------------------------------------------------------------------------------------------
    def request(self, cmd: str, payload: bytes = b"") -> bytes:
        """Send one request, return the reply's payload; an error reply raises :class:`LinkError`."""
        self.port.write(frame(CMD[cmd], payload))
        return self._reply(cmd)

    def _read(self, n: int) -> bytes:
        data = self.port.read(n)
        if len(data) != n:
            raise LinkError(f"no complete reply within {self.timeout} s ({len(data)} of {n} bytes): is the board "
                            "configured with this build, and the baud rate right?")
        return data

    def _reply(self, cmd: str) -> bytes:
        deadline = time.monotonic() + self.timeout
        while self._read(1)[0] != SYNC_REPLY:             # skip line noise before the reply
            if time.monotonic() > deadline:
                raise LinkError(f"no reply frame within {self.timeout} s")
        head = self._read(4)
        length = int.from_bytes(head[2:4], "little")
        body = head + self._read(length)
        check = self._read(1)[0]
        if crc8(body) != check:
            raise LinkError("reply damaged on the line (bad CRC); retry, or lower the baud rate")
        if head[0] != CMD[cmd]:
            raise LinkError(f"reply to command {head[0]:#04x}, expected {cmd}: the link lost sync")
        if head[1] != STATUS["OK"]:
            raise LinkError(f"the board refused {cmd}: {STATUS_TEXT.get(head[1], f'status {head[1]}')}",)
        return body[4:]

    # -- commands -------------------------------------------------------------------------------------------
    def info(self) -> dict:
        return decode_fields(self.layout.reply_fields("INFO"), self.request("INFO"))

    def read_counters(self) -> list[dict[str, int]]:
        """Every layer's counters, free-running (:data:`flipspike.ir.formats.COUNTERS`); an AER build's
        dropped-event count is kept as ``dropped_events`` reads it."""
        fields = decode_fields(self.layout.reply_fields("COUNTERS"), self.request("COUNTERS"))
        self._dropped = fields.get("aer_dropped", 0)
        return [{k: fields[f"counter{l}.{k}"] for k in COUNTERS} for l in range(self.layout.layers)]

    def write_memory(self, writes) -> None:
        """Load-bus writes [(address, word)], sent as runs of consecutive addresses."""
        L = self.layout
        writes = sorted((int(a), int(d)) for a, d in writes)
        run: list[tuple[int, int]] = []
        for addr, word in writes + [(None, None)]:
            if run and (addr != run[-1][0] + 1 or len(run) == L.max_words("WRITE")):
                payload = encode_args("WRITE", addr=run[0][0]) + b"".join(
                    d.to_bytes(L.load_bytes, "little") for _, d in run)
                self.request("WRITE", payload)
                run = []
            if addr is not None:
                run.append((addr, word))

    def read_memory(self, addr: int, count: int) -> list[int]:
        """``count`` monitor words from ``addr`` (weights, biases, thresholds, membranes; see monitor_map)."""
        return self._read_words("READ", addr, count)

    def _read_words(self, cmd: str, addr: int, count: int) -> list[bytes]:
        out = []
        step = self.layout.max_words(cmd)
        size = self.layout.reply_bytes(cmd)
        for start in range(addr, addr + count, step):
            n = min(step, addr + count - start)
            raw = self.request(cmd, encode_args(cmd, addr=start, count=n))
            out += [raw[k:k + size] for k in range(0, len(raw), size)]
        return out if cmd != "READ" else [int.from_bytes(w, "little") for w in out]

    def _pixels(self, pixels) -> bytes:
        n = self.layout.pixel_bytes
        flat = [int(p) for p in pixels]
        if len(flat) != self.layout.n_in:
            raise DataError(f"a sample has {self.layout.n_in} pixels, got {len(flat)}")
        return b"".join(p.to_bytes(n, "little") for p in flat)

    def infer(self, pixels) -> dict:
        """One sample: its class, output accumulations, per-layer counter increments and latency. An AER
        build (``aer``) takes the sample's events instead, [n, 4] of x, y, p, t in arrival order."""
        if self.aer is not None:
            return self.infer_events(pixels)
        return self._result(self.request("INFER", self._pixels(pixels)))

    def infer_events(self, events) -> dict:
        """One sample of an AER build from its events ([n, 4]: x, y, p, t in arrival order, the port's rules:
        :mod:`flipspike.ir.aer`): EVENTS frames of ``max_events`` words, then an INFER with the rest (the
        board closes the sample). ``latency``: the cycles of that last frame, from its first event out to
        the result."""
        if self.aer is None:
            raise LinkError("this build takes pixels, not events: build it with --aer")
        n = self.layout.event_bytes
        words = b"".join(w.to_bytes(n, "little") for w in self.aer.pack(events)[:-1])   # (the board sends end)
        step = self.layout.max_events * n
        chunks = [words[k:k + step] for k in range(0, len(words), step)] or [b""]
        for chunk in chunks[:-1]:
            self.request("EVENTS", chunk)
        return self._result(self.request("INFER", chunks[-1]))

    def _result(self, payload: bytes) -> dict:
        fields = decode_fields(self.layout.reply_fields("INFER"), payload, signed=("acc",))
        out = {"cls": fields["cls"], "acc": [fields[f"acc{k}"] for k in range(self.layout.classes)],
               "counters": self._counter_delta(fields), "latency": fields["latency"]}
        if self.aer is not None:
            out["aer_dropped"] = self._dropped_delta(fields)
        return out

    def _counter_delta(self, fields: dict) -> list[dict]:
        now = [{k: fields[f"counter{l}.{k}"] for k in COUNTERS} for l in range(self.layout.layers)]
        delta = [counter_delta(lb, la) for la, lb in zip(now, self._counters)]
        self._counters = now
        return delta

    def _dropped_delta(self, fields: dict) -> int:
        """Events the AER port refused since the last reply that said (its counter wraps at 2**32)."""
        now = fields.get("aer_dropped", 0)
        delta, self._dropped = (now - self._dropped) % (1 << 8 * COUNTER_BYTES), now
        return delta

    def learn(self, pixels=None, label: int | None = None) -> dict:
        """One flip-unit update: from the errors and traces already loaded (no arguments), or infer
        ``pixels`` and learn from ``label`` on chip. Returns flips, cycles (and v in T-BSO mode)."""
        if self.learn_cfg is None:
            raise LinkError("this build has no flip unit: build it with on-chip learning")
        payload = b"" if pixels is None else encode_args("LEARN", label=label) + self._pixels(pixels)
        fields = decode_fields(self.layout.reply_fields("LEARN"), self.request("LEARN", payload))
        self._counters = self.read_counters()            # the inference moved them
        return {"cls": fields["cls"], "flips": fields["flips"], "cycles": fields["cycles"], "v": fields.get("v", 0)}

    def read_learned(self, count: int) -> tuple[list[int], list[int]]:
        """The learning layer's first ``count`` weight words and their momentum words."""
        nw = self.layout.learn_weight_bytes
        words = self._read_words("READ_LEARN", 0, count)
        return ([int.from_bytes(w[:nw], "little") for w in words], [int.from_bytes(w[nw:], "little") for w in words])

    # -- the co-simulation's job interface ------------------------------------------------------------------
    def run_jobs(self, jobs: list[dict]) -> list[dict]:
        """The jobs of :func:`flipspike.sim.cosim.run_hardware`, with the same observations (no
        back-to-back streaming over a serial link: ``stream`` is None)."""
        out = []
        for job in jobs:
            self.write_memory(job.get("loads", ()))
            observed = {"samples": [self.infer(s) for s in job["samples"]], "stream": None}
            if job.get("peek"):
                observed["peek"] = self._peek(job["peek"])
            if job.get("updates"):
                observed["learn"] = [self._update(u) for u in job["updates"]]
                observed["samples_after"] = [self.infer(s) for s in job.get("samples_after", [])]
            observed["simulated_cycles"] = sum(s["latency"] for s in observed["samples"])
            if self.aer is not None:                     # the events each sample's port refused, summed
                observed["aer_dropped"] = sum(s["aer_dropped"] for s in observed["samples"])
            out.append(observed)
        return out

    def _peek(self, addresses) -> list[int]:
        """Monitor words at ``addresses``, read as runs of consecutive addresses."""
        values, start = [], 0
        addresses = [int(a) for a in addresses]
        for k in range(1, len(addresses) + 1):
            if k == len(addresses) or addresses[k] != addresses[k - 1] + 1:
                values += self.read_memory(addresses[start], k - start)
                start = k
        return values

    def _update(self, update: dict) -> dict:
        if "label" in update:
            pixels = [p for word in update["pixels"] for p in word]
            step = self.learn(pixels, update["label"])
        else:
            self.write_memory(update["writes"])
            step = self.learn()
        weights, momentum = self.read_learned(update["words"])
        return {"weights": weights, "momentum": momentum, "flips": step["flips"], "cycles": step["cycles"],
                "v": step["v"] if update.get("tbso") else 0}
