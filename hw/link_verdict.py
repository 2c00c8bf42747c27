"""The host link's verdict: whether a received request may act, or which error it gets."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.host_protocol import STATUS, LinkLayout

from .link_fields import arg, by_command, request_layout


class RequestCheck(wiring.Component):
    """``status``: OK (and ``ok``), or the error status of ``request`` (BAD_COMMAND, BAD_LENGTH, BAD_VALUE; the CRC
    is the caller's), by the protocol's rules (:mod:`flipspike.ir.host_protocol`): a payload length
    that fits the command; WRITE's whole words inside the load map (``load_end`` words); READ's and
    READ_LEARN's count nonzero, within a reply, inside the monitor map (``monitor_end``) or the flip
    unit's words (``learn_words``); pixels within input.max_value; LEARN's label a class; an AER build's
    INFER and EVENTS whole event words that fit the buffer (EVENTS at least one).

    Every condition is registered as soon as its inputs settle with the last payload byte, and the
    status is registered after them: it is final ``LATENCY`` cycles after the request's last byte.
    (``addr_width``: the address bits that reach any memory; the bytes above must be zero.)
    """

    #: Cycles from the last payload byte to a final ``status`` (spans, conditions, the status).
    LATENCY = 3

    def __init__(self, layout: LinkLayout, *, has_learn: bool, load_end: int, monitor_end: int, learn_words: int,
                 addr_width: int):
        self.layout, self.has_learn = layout, has_learn
        self.load_end, self.monitor_end, self.learn_words, self.addr_width = load_end, monitor_end, learn_words, addr_width
        super().__init__({"request": In(request_layout(layout)), "status": Out(8), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        L, req, aw = self.layout, self.request, self.addr_width
        addr, count, label, length = arg(req, "addr"), arg(req, "count"), arg(req, "label"), req.length
        req_addr, addr_ok = addr[:aw], addr[aw:] == 0

        def early(name, condition):     # a condition, registered (its inputs settle with the last payload byte)
            flag = Signal(name=name)
            m.d.sync += flag.eq(condition)
            return flag

        def span(name, start, n):       # start + n, registered before it is compared
            total = Signal(max(len(start), len(n)) + 1, name=name)
            m.d.sync += total.eq(start + n)
            return total

        pixels_len = L.n_in * L.pixel_bytes
        verdicts = {}
        ok_len = early("no_payload", length == 0)
        verdicts["INFO"] = verdicts["COUNTERS"] = Mux(ok_len, STATUS["OK"], STATUS["BAD_LENGTH"])
        ok_len = early("write_len_ok", (length >= 4 + L.load_bytes) & (req.stored <= L.buffer_bytes) &
                       (req.word_sub == 0))
        in_range = early("write_in_range", addr_ok & (span("write_span", req_addr, req.words) <= self.load_end))
        verdicts["WRITE"] = Mux(~ok_len, STATUS["BAD_LENGTH"], Mux(in_range, STATUS["OK"], STATUS["BAD_VALUE"]))
        if L.event_bytes:                # whole event words, as many as the buffer holds (INFER: 0 or more)
            fits = early("events_fit", (req.event_sub == 0) & (req.stored <= L.buffer_bytes))
            verdicts["INFER"] = Mux(fits, STATUS["OK"], STATUS["BAD_LENGTH"])
            verdicts["EVENTS"] = Mux(fits & early("events_some", length != 0), STATUS["OK"], STATUS["BAD_LENGTH"])
        else:
            verdicts["INFER"] = Mux(early("infer_len_bad", length != pixels_len), STATUS["BAD_LENGTH"],
                                    Mux(req.bad_value, STATUS["BAD_VALUE"], STATUS["OK"]))
        for name, end in (("READ", self.monitor_end), ("READ_LEARN", self.learn_words)):
            if name == "READ_LEARN" and not self.has_learn:
                continue
            fits = early(f"{name.lower()}_fits", (count != 0) & addr_ok & (count <= L.max_words(name)) &
                         (span(f"{name.lower()}_span", req_addr, count) <= end))
            verdicts[name] = Mux(early(f"{name.lower()}_len_bad", length != 6), STATUS["BAD_LENGTH"],
                                 Mux(fits, STATUS["OK"], STATUS["BAD_VALUE"]))
        if self.has_learn:
            ok_len = early("learn_len_ok", (length == 0) | (length == 1 + pixels_len))
            ok_val = early("learn_value_ok", (length == 0) | ((label < L.classes) & ~req.bad_value))
            verdicts["LEARN"] = Mux(~ok_len, STATUS["BAD_LENGTH"], Mux(ok_val, STATUS["OK"], STATUS["BAD_VALUE"]))
        verdict = Signal(8, name="verdict")
        m.d.comb += verdict.eq(by_command(req.is_cmd, verdicts, STATUS["BAD_COMMAND"]))
        m.d.sync += [self.status.eq(verdict), self.ok.eq(verdict == STATUS["OK"])]
        return m
