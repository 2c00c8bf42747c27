"""The load bus as one layer's memories see it: a write port per memory region, a cycle late."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.memory_map import Region

from .interfaces import LoadSignature, WriteSignature


def region_hit(region: Region, addr):
    """Whether ``addr`` (a load-bus or monitor address) falls in ``region``."""
    hit = Const(1, 1)
    if region.base:                                        # (no constant comparisons: lint-clean)
        hit &= addr >= region.base
    if region.base + region.depth < 2 ** len(addr):
        hit &= addr < region.base + region.depth
    return hit


class LoadDecode(wiring.Component):
    """One write port per region (``regions``: the layer's regions of the load map, each a member named
    after its memory), driven from the load bus a cycle late: the bus is registered once, and each
    region's decode is registered beside it, so its comparisons stay off the memories' write enables.
    A word on the bus at cycle n is written at cycle n + 1 (``WriteSignature``: local address, the
    region's low data bits, enable)."""

    def __init__(self, regions: list[Region], load_bus: tuple[int, int]):
        names = [r.memory for r in regions]
        if len(set(names)) != len(names) or "load" in names:
            raise ValueError(f"load decode: region names must be distinct and not 'load', got {names}")
        self.regions = {r.memory: r for r in regions}
        super().__init__({"load": In(LoadSignature(*load_bus)),
                          **{r.memory: Out(WriteSignature(r.depth, r.width)) for r in regions}})

    def elaborate(self, platform):
        m = Module()
        addr = Signal.like(self.load.addr, name="load_addr_late", reset_less=True)
        data = Signal.like(self.load.data, name="load_data_late", reset_less=True)
        m.d.sync += [addr.eq(self.load.addr), data.eq(self.load.data)]
        for name, region in self.regions.items():
            enable = Signal(name=f"load_{name}")
            m.d.sync += enable.eq(self.load.en & region_hit(region, self.load.addr))
            port = getattr(self, name)
            m.d.comb += [port.addr.eq(addr - region.base), port.data.eq(data[:region.width]), port.en.eq(enable)]
        return m
