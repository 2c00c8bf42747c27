"""The monitor's read path through one layer's memories (ODIN's monitor mode)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.memory_map import Region

from .interfaces import BorrowSignature, MonitorSignature
from .load_decode import region_hit


class MonitorMux(wiring.Component):
    """Reads any word of a layer's memories for the monitor by borrowing their read ports.

    ``ports``: per memory (a member named after it) the read port's (address width, data width); its
    region of the monitor map is ``regions``' of that name. The monitor address is decoded into
    registers (a hit and a local address per memory: the range comparisons stay off the memories'
    address paths); the engine lends the port where ``take`` is high and it does not read the port
    itself (the host reads only while the accelerator is idle). The word read is registered too: it
    appears on ``monitor.data`` MONITOR_LATENCY (3) cycles after its address, 0 where no region of this
    layer was hit.
    """

    def __init__(self, regions: list[Region], ports: dict[str, tuple[int, int]], monitor_bus: tuple[int, int]):
        by_name = {r.memory: r for r in regions}
        missing = [name for name in ports if name not in by_name]
        if missing or "monitor" in ports:
            raise ValueError(f"monitor mux: no monitor region for {missing or ['monitor']}")
        self.regions = {name: by_name[name] for name in ports}
        super().__init__({"monitor": In(MonitorSignature(*monitor_bus)),
                          **{name: Out(BorrowSignature(*shape)) for name, shape in ports.items()}})

    def elaborate(self, platform):
        m = Module()
        sel = Signal(range(len(self.regions) + 1))
        m.d.sync += sel.eq(0)
        for k, (name, region) in enumerate(self.regions.items()):
            port = getattr(self, name)
            hit = Signal(name=f"monitor_hit_{name}")
            addr = Signal.like(port.addr, name=f"monitor_addr_{name}", reset_less=True)
            m.d.sync += [hit.eq(region_hit(region, self.monitor.addr)), addr.eq(self.monitor.addr - region.base)]
            m.d.comb += [port.take.eq(hit), port.addr.eq(addr)]
            with m.If(hit):
                m.d.sync += sel.eq(k + 1)
        word = Signal.like(self.monitor.data, name="monitor_word")   # (registered: block RAM outputs are slow)
        for k, name in enumerate(self.regions):
            with m.If(sel == k + 1):
                m.d.comb += word.eq(Value.cast(getattr(self, name).data))
        m.d.sync += self.monitor.data.eq(word)
        return m
