"""Run the accelerator under Amaranth's own simulator: no compile step, ~thousands of cycles/s.

Used for small blocks and tiny random networks (property tests); whole networks go to Verilator.
"""

from __future__ import annotations

from amaranth.sim import Simulator

from flipspike.hw.accelerator import Accelerator
from flipspike.ir import NetDesc
from flipspike.ir.folding import Fold

from .samples import COUNTER_FIELDS, counter_delta, pixel_words

TIMEOUT_CYCLES = 1_000_000


def run_pysim(desc: NetDesc, folds: list[Fold], samples, *, vcd: str | None = None) -> list[dict]:
    """Stream ``samples`` ([N, n_in] pixels) through the accelerator one at a time; observe each result."""
    dut = Accelerator(desc, folds)
    n_layers = len(desc.layers)
    observed: list[dict] = []

    def read_counters(ctx):
        return [[ctx.get(dut.counters[i][name]) for name in COUNTER_FIELDS] for i in range(n_layers)]

    async def bench(ctx):
        ctx.set(dut.result.ready, 1)
        for pixels in samples:
            before = read_counters(ctx)
            cycles = 0
            for word in pixel_words(pixels, folds[0].simd):
                ctx.set(dut.pixels.payload, word)
                ctx.set(dut.pixels.valid, 1)
                await ctx.tick().until(dut.pixels.ready)
                cycles += 1
            ctx.set(dut.pixels.valid, 0)
            while True:
                _, _, valid = await ctx.tick().sample(dut.result.valid)
                cycles += 1
                if valid:
                    break
                if cycles > TIMEOUT_CYCLES:
                    raise TimeoutError("no result after 1M cycles: the accelerator is stuck")
            result = ctx.get(dut.result.payload)
            observed.append({
                "cls": int(result.cls),
                "acc": [int(result.acc[i]) for i in range(desc.layers[-1].n_out)],
                "counters": counter_delta(before, read_counters(ctx)),
                "latency": cycles,
            })

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return observed
