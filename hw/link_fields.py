"""What the host link's parts share: the CRC step, the request as the receiver hands it on, and
values chosen by command."""

from __future__ import annotations

import operator
from functools import reduce

from amaranth.hdl import Cat, Const, Mux
from amaranth.lib import data

from flipspike.ir.host_protocol import ARG_BYTES, CMD, LinkLayout, arg_field, crc8

#: Argument bytes a request may carry (the receiver keeps them in a register).
ARG_BITS = 8 * max(ARG_BYTES.values())


def crc8_next(crc, byte):
    """One byte of CRC-8/SMBUS, combinational. The CRC is linear over GF(2): each output bit is the XOR
    of the input bits (crc ^ byte) whose unit vectors set it, found with the protocol's own crc8()."""
    value = crc ^ byte
    bits = []
    for out in range(8):
        taps = [i for i in range(8) if crc8(bytes([1 << i])) >> out & 1]
        bits.append(reduce(operator.xor, [value[i] for i in taps]))
    return Cat(*bits)


def request_layout(layout: LinkLayout) -> data.StructLayout:
    """A received request: ``cmd`` (the command byte) and ``is_cmd`` (one flag per command of
    :data:`~flipspike.ir.host_protocol.CMD`), ``length`` (payload bytes), ``arg`` (the argument bytes,
    see :func:`arg`), ``stored`` (payload bytes past the arguments, saturating above the buffer),
    ``word_sub`` (bytes of an incomplete load word at the end), ``words`` (whole load words),
    ``bad_value`` (a pixel above input.max_value) and ``crc_ok`` (the CRC byte matched); an AER build's
    also ``event_sub`` (bytes of an incomplete event word at the end)."""
    fields = {
        "cmd": 8, "is_cmd": data.StructLayout({name: 1 for name in decoded_commands(layout)}), "length": 16,
        "arg": ARG_BITS, "stored": range(layout.buffer_bytes + 2), "word_sub": range(max(2, layout.load_bytes)),
        "words": 16, "bad_value": 1, "crc_ok": 1}
    if layout.event_bytes:
        fields["event_sub"] = range(max(2, layout.event_bytes))
    return data.StructLayout(fields)


def decoded_commands(layout: LinkLayout) -> list[str]:
    """The commands the receiver decodes into flags: all, EVENTS only in an AER build (a command the
    build does not answer, e.g. LEARN without a flip unit, gets BAD_COMMAND from the verdict)."""
    return [name for name in CMD if name != "EVENTS" or layout.event_bytes]


def arg(request, name: str):
    """Argument ``name`` (addr, count, label) of ``request`` (a view of :func:`request_layout`)."""
    first, n = arg_field(name)
    return request.arg[8 * first:8 * (first + n)]


def by_command(is_cmd, values: dict, default=0):
    """values[name] where the request's command is ``name`` (an OR of flag-gated values), else
    ``default``. ``is_cmd``: the request's command flags."""
    if not values:
        return Const(default)
    picked = [Mux(is_cmd[name], value, 0) for name, value in values.items()]
    known = Cat(*(is_cmd[name] for name in values)).any()
    return Mux(known, reduce(operator.or_, picked), default)

