"""The board top: the accelerator behind a UART host link.

    rx pin -> UARTRx -> HostLink -> Accelerator (pixels or events, load, monitor, learn)
    tx pin <- UARTTx <- HostLink <- Accelerator (result, counters)

:class:`HostTop` has plain ``rx``/``tx`` pins, so it is what the serial co-simulation runs;
:class:`BoardDesign` wraps it for an ``amaranth-boards`` platform (the board's USB serial UART, an LED
lit while a request executes).
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.aer import EventFormat
from flipspike.ir.errors import ConfigError
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold
from flipspike.ir.host_protocol import link_layout
from flipspike.ir.learning import Learning

from .accelerator import Accelerator
from .host_link import HostLink
from .pll import PLLConfig, PLLDomain
from .uart import UARTRx, UARTTx, check_divisor


class HostTop(wiring.Component):
    """``divisor``: clock cycles per UART bit; ``timeout``: cycles without a byte inside a frame;
    ``vendor``: see :class:`flipspike.hw.accelerator.Accelerator`."""

    def __init__(self, desc: NetDesc, folds: list[Fold], learn: Learning | None = None, *, divisor: int,
                 timeout: int, vendor: str | None = None, aer: EventFormat | None = None):
        check_divisor(divisor)
        if aer is not None and learn is not None:
            raise ConfigError("a build takes events (--aer) or learns on chip, not both yet: the flip unit's "
                              "LEARN sends pixels")
        self.accel = Accelerator(desc, folds, learn, vendor=vendor, aer=aer)
        self.layout = link_layout(desc, folds, learn, aer)
        self.divisor, self.timeout = divisor, timeout
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "status": Out(2)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.accel = accel = self.accel
        m.submodules.link = link = HostLink(accel, self.layout, self.timeout)
        m.submodules.uart_rx = rx = UARTRx(self.divisor)
        m.submodules.uart_tx = tx = UARTTx(self.divisor)
        for name in ("pixels", "events", "load", "monitor", "learn", "result"):
            if name in accel.signature.members:
                wiring.connect(m, getattr(link, name), getattr(accel, name))
        m.d.comb += link.counters.eq(accel.counters)
        if "aer_dropped" in accel.signature.members:
            m.d.comb += link.aer_dropped.eq(accel.aer_dropped)
        wiring.connect(m, rx.data, link.rx)
        wiring.connect(m, link.tx, tx.data)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx), self.status.eq(link.status)]
        return m


class BoardDesign(Elaboratable):
    """:class:`HostTop` on a board: UART 0 of the platform at ``baud``, LED 0 lit while busy. With a
    ``pll`` (:func:`flipspike.hw.pll.pll_config`) the design runs at the PLL's frequency, else at the
    board's oscillator (``clock_hz``)."""

    def __init__(self, desc: NetDesc, folds: list[Fold], learn: Learning | None = None, *, clock_hz: float,
                 baud: int, timeout_s: float = 0.05, pll: PLLConfig | None = None, vendor: str | None = None,
                 aer: EventFormat | None = None):
        self.pll = pll
        if pll is not None:
            clock_hz = pll.f_out
        divisor = round(clock_hz / baud)
        if divisor < 4 or abs(clock_hz / divisor - baud) / baud > 0.02:
            self._MustUse__silence = True                   # refused: never elaborated, on purpose
            raise ConfigError(f"{baud} baud is not reachable from a {clock_hz / 1e6:g} MHz clock within 2 % "
                             f"(divisor {clock_hz / baud:.2f}); choose a baud rate that divides the clock")
        self.top = HostTop(desc, folds, learn, divisor=divisor, timeout=max(16, round(clock_hz * timeout_s)),
                           vendor=vendor, aer=aer)

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = top = self.top
        if self.pll is not None:
            m.domains.sync = sync = ClockDomain("sync")    # (defined here, above the design; the PLL drives it)
            m.submodules.clock = PLLDomain(self.pll, platform.request(platform.default_clk, dir="-"), sync)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        m.submodules.led_pin = led_pin = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [top.rx.eq(rx_pin.i), tx_pin.o.eq(top.tx), led_pin.o.eq(top.status != 0)]
        return m
