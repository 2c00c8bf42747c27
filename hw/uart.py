"""8N1 UART receiver and transmitter, ``divisor`` clock cycles per bit (clock / baud rate).

The receiver synchronises the line through two flip-flops, waits half a bit after the start edge,
checks the start bit is still low and samples each data bit in its middle; a byte whose stop bit is
low (a framing error, or a break) is dropped. Bytes leave as a stream; one that arrives while the
previous is still not taken is dropped too (``overrun`` pulses): the host link never lets that happen.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from flipspike.ir.errors import ConfigError


def check_divisor(divisor: int) -> None:
    if not isinstance(divisor, int) or divisor < 4:
        raise ConfigError(f"UART divisor must be an integer >= 4 clock cycles per bit, got {divisor!r} "
                         "(lower the baud rate or raise the clock)")


class UARTRx(wiring.Component):
    def __init__(self, divisor: int):
        check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8)), "overrun": Out(1)})

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(self.divisor))
        bit = Signal(range(10))
        shift = Signal(8)
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += [timer.eq(self.divisor // 2), bit.eq(0)]
                    m.next = "SAMPLE"
            with m.State("SAMPLE"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(bit + 1)]
                    with m.If(bit == 0):                     # middle of the start bit
                        with m.If(line):
                            m.next = "IDLE"                  # a glitch, not a start bit
                    with m.Elif(bit < 9):
                        m.d.sync += shift.eq(Cat(shift[1:], line))
                    with m.Else():                           # middle of the stop bit
                        with m.If(line):
                            m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
                            m.d.comb += self.overrun.eq(self.data.valid & ~self.data.ready)
                            m.next = "IDLE"
                        with m.Else():
                            m.next = "BREAK"
            with m.State("BREAK"):                           # wait for the line to go idle again
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    def __init__(self, divisor: int):
        check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        shift = Signal(10, init=0x3FF)                       # stop bit, 8 data bits, start bit (LSB first)
        left = Signal(range(11))
        m.d.comb += [self.tx.eq(shift[0]), self.data.ready.eq(left == 0)]
        with m.If(left == 0):
            with m.If(self.data.valid):
                m.d.sync += [shift.eq(Cat(0, self.data.payload, 1)), left.eq(10), timer.eq(self.divisor - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shift.eq(Cat(shift[1:], 1)), left.eq(left - 1), timer.eq(self.divisor - 1)]
        return m
