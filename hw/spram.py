"""A single-port memory built from the iCE40UP5K's SPRAMs (SB_SPRAM256KA, 16384 x 16 bits each).

One address per cycle: a write (from the load bus) or a read (the engine, the monitor), never both. After
a write cycle the primitive's read data is undefined (the model keeps the last word): nothing uses it, as
the load bus writes only while the accelerator is idle and every read issues its own address. SPRAM has
no initial contents, so what it holds is written at run time (``flipspike.ir.memory_map.boot_writes``).

``vendor="ice40"`` instantiates the primitives (board builds and ``synth --device up5k``): banks in
depth (a registered bank select picks the read data) by slices of 16 bits in width. Otherwise (no
vendor, or a device without SPRAM, where planning never puts weights) a behavioural model with the
same ports and timing, for Verilator and pysim: co-simulation runs the same single-port sequencing,
the same empty start and the same loading as the board.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Const, Instance, Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In

from flipspike.ir.folding import SPRAM_SHAPE, spram_tiles

VENDORS = (None, "ice40", "ecp5")


class SinglePortRAM(wiring.Component):
    """``read``: a synchronous read port (data a cycle after the address); ``write``: a write port.
    A cycle with ``write.en`` writes and does not read."""

    def __init__(self, width: int, depth: int, *, vendor: str | None = None):
        if width < 1 or depth < 2:
            raise ValueError(f"SinglePortRAM needs width >= 1 and depth >= 2; got {width}, {depth}")
        if vendor not in VENDORS:
            raise ValueError(f"SinglePortRAM: unknown vendor {vendor!r}; choose one of {VENDORS}")
        self.width, self.depth, self.vendor = width, depth, vendor
        self.banks, self.slices = spram_tiles(depth, width)
        abits = (depth - 1).bit_length()
        super().__init__({"read": In(memory.ReadPort.Signature(addr_width=abits, shape=unsigned(width))),
                          "write": In(memory.WritePort.Signature(addr_width=abits, shape=unsigned(width)))})

    def elaborate(self, platform):
        m = Module()
        reading = self.read.en & ~self.write.en
        if self.vendor != "ice40":
            m.submodules.cells = cells = memory.Memory(shape=unsigned(self.width), depth=self.depth, init=[])
            rd, wr = cells.read_port(), cells.write_port()
            m.d.comb += [rd.addr.eq(self.read.addr), rd.en.eq(reading), self.read.data.eq(rd.data),
                         wr.addr.eq(self.write.addr), wr.data.eq(self.write.data), wr.en.eq(self.write.en)]
            return m
        depth, width = SPRAM_SHAPE
        abits = (depth - 1).bit_length()
        addr, cell_addr = Signal.like(self.read.addr), Signal(abits)
        m.d.comb += [addr.eq(Mux(self.write.en, self.write.addr, self.read.addr)), cell_addr.eq(addr[:abits])]
        bank = addr[abits:] if self.banks > 1 else Const(0, 1)
        data = Signal(self.banks * self.slices * width)
        wdata = Signal(self.slices * width)
        m.d.comb += wdata.eq(self.write.data)
        for b in range(self.banks):
            for s in range(self.slices):
                m.submodules[f"spram_{b}_{s}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=cell_addr, i_DATAIN=wdata[s * width:(s + 1) * width],
                    i_MASKWREN=Const(0b1111, 4), i_WREN=self.write.en & (bank == b),
                    i_CHIPSELECT=(self.write.en | self.read.en) & (bank == b),
                    i_CLOCK=ClockSignal(), i_STANDBY=Const(0), i_SLEEP=Const(0), i_POWEROFF=Const(1),
                    o_DATAOUT=data[(b * self.slices + s) * width:(b * self.slices + s + 1) * width])
        if self.banks == 1:
            m.d.comb += self.read.data.eq(data[:self.width])
            return m
        held = Signal(range(self.banks))                 # the bank the read data comes from
        with m.If(reading):
            m.d.sync += held.eq(bank)
        words = [data[b * self.slices * width:][:self.width] for b in range(self.banks)]
        out = words[-1]
        for k in range(self.banks - 2, -1, -1):          # (a chain of muxes: the device has four SPRAMs)
            out = Mux(held == k, words[k], out)
        m.d.comb += self.read.data.eq(out)
        return m
