"""The board clock from a PLL: the accelerator runs at the frequency asked for (its Fmax, say), not at
the board's oscillator.

:func:`pll_config` finds the dividers of the iCE40 ``SB_PLL40_PAD`` (iCEBreaker) or the ECP5
``EHXPLLL`` (ULX3S) for the highest frequency at or below the one asked for, within the PLLs'
documented ranges (iCE40: PFD 10-133 MHz, VCO 533-1066 MHz, output 16-275 MHz; ECP5: PFD 3.125-400
MHz, VCO 400-800 MHz, output up to 400 MHz). :class:`PLLDomain` instantiates it and makes the
``sync`` domain from its output, held in reset until the PLL locks and a few more cycles have passed
(block RAM needs some microseconds after configuration before it reads back).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib import io

from flipspike.ir.errors import ConfigError

#: cycles the sync domain stays in reset after the PLL locks
RESET_CYCLES = 1024
#: output frequencies each PLL makes, Hz (the datasheets' ranges)
OUTPUT_RANGE = {"ice40": (16e6, 275e6), "ecp5": (3.125e6, 400e6)}


@dataclass(frozen=True)
class PLLConfig:
    family: str          # "ice40" or "ecp5"
    f_in: float          # Hz
    f_out: float         # Hz, as achieved
    params: dict         # the primitive's parameters


def pll_config(family: str, f_in: float, f_want: float) -> PLLConfig:
    """Dividers for the highest output frequency <= ``f_want`` from ``f_in`` (both in Hz)."""
    search = {"ice40": _ice40, "ecp5": _ecp5}
    if family not in search:
        raise ConfigError(f"no PLL for FPGA family {family!r} (ice40 or ecp5)")
    best = max(search[family](f_in, f_want), key=lambda c: c.f_out, default=None)
    if best is None:
        raise ConfigError(f"no {family} PLL setting gives {f_want / 1e6:g} MHz or less from {f_in / 1e6:g} MHz; "
                         f"the PLL's output starts at {OUTPUT_RANGE[family][0] / 1e6:g} MHz")
    return best


def _ice40(f_in: float, f_want: float):
    low, high = OUTPUT_RANGE["ice40"]
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f_out = f_vco / 2 ** divq
                if low <= f_out <= min(f_want, high):
                    filt = next(k for k, top in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, float("inf")), 1)
                                if f_pfd < top)
                    yield PLLConfig("ice40", f_in, f_out, {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                                           "FILTER_RANGE": filt})


def _ecp5(f_in: float, f_want: float):
    high = OUTPUT_RANGE["ecp5"][1]
    for clki in range(1, 129):
        f_pfd = f_in / clki
        if not 3.125e6 <= f_pfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            f_out = f_pfd * clkfb                      # (feedback from CLKOP)
            if f_out > min(f_want, high):
                break
            clkop = next((d for d in range(1, 129) if 400e6 <= f_out * d <= 800e6), None)
            if clkop is not None:
                yield PLLConfig("ecp5", f_in, f_out, {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop})


class PLLDomain(Elaboratable):
    """Drives ``domain`` (a ClockDomain its parent defines, the design's ``sync``) at ``config.f_out``,
    from the PLL fed by the board's clock pin ``clk_port`` (a raw port:
    ``platform.request(platform.default_clk, dir="-")``)."""

    def __init__(self, config: PLLConfig, clk_port, domain: ClockDomain):
        self.config, self.clk_port, self.domain = config, clk_port, domain

    def elaborate(self, platform):
        m = Module()
        cd = self.domain
        locked = Signal()
        c, p = self.config, self.config.params
        if c.family == "ice40":      # straight from the pad (the PLL sits beside the clock pin)
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=self.clk_port.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=cd.clk, o_LOCK=locked)
        else:
            m.submodules.clk_in = clk_in = io.Buffer("i", self.clk_port)
            m.submodules.pll = Instance(
                "EHXPLLL", a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_ENABLE="ENABLED", p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP", i_CLKI=clk_in.i, i_CLKFB=cd.clk, i_RST=0, i_STDBY=0,
                i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0, i_PHASELOADREG=0,
                i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=cd.clk, o_LOCK=locked)
        # reset until locked (synchronized) and RESET_CYCLES more cycles
        sync_lock = Signal(2, reset_less=True)
        wait = Signal(range(RESET_CYCLES + 1), reset_less=True)
        m.d.sync += sync_lock.eq(Cat(locked, sync_lock[0]))
        with m.If(~sync_lock[1]):
            m.d.sync += wait.eq(0)
        with m.Elif(wait != RESET_CYCLES):
            m.d.sync += wait.eq(wait + 1)
        rst = Signal(init=1, reset_less=True)            # from a register: it fans out to the whole design
        m.d.sync += rst.eq(wait != RESET_CYCLES)
        m.d.comb += cd.rst.eq(rst)
        if platform is not None:
            platform.add_clock_constraint(cd.clk, c.f_out)
        return m
