"""Run the accelerator under Amaranth's own simulator: no compile step, ~thousands of cycles/s.

Used for small blocks and tiny random networks (property tests); whole networks go to Verilator.
Observations have the same form as the Verilator bench's (see ``flipspike.sim.samples``).
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from flipspike.hw.accelerator import Accelerator
from flipspike.ir import NetDesc
from flipspike.ir.aer import EventFormat
from flipspike.ir.folding import Fold
from flipspike.ir.plan import input_simd

from flipspike.ir.formats import COUNTERS, MONITOR_LATENCY, counter_delta

from .samples import pixel_words, stream_summary

TIMEOUT_CYCLES = 200_000       # (Amaranth simulates ~2k cycles/s: minutes, not hours, to say it is stuck)


def run_pysim(desc: NetDesc, folds: list[Fold], samples, *, loads=(), stream: bool = True,
              learn=None, updates=(), samples_after=(), vcd: str | None = None, peek=(),
              checks: bool = True, aer: EventFormat | None = None) -> dict:
    """Observe ``samples`` ([N, n_in] pixels): first one at a time (per-sample counters and latency), then,
    if ``stream``, all back to back (results and steady-state cycles per inference). ``loads``: load-bus
    writes applied first (see flipspike.ir.memory_map.load_writes). With ``learn`` (a memory_map.Learning),
    each of ``updates`` ({"writes", "words"}) runs one on-chip learning step, read back as in the
    Verilator bench, and ``samples_after`` are then observed one at a time. ``checks``: the engines
    assert their sequencing's invariants as they run (an AssertionError names the layer). With ``aer``
    (an :class:`flipspike.ir.aer.EventFormat`) the build takes events: each sample is an array of events
    [N, 4] (x, y, p, t), sent in order and closed by an ``end`` word; ``aer_dropped`` is observed too."""
    dut = Accelerator(desc, folds, learn, checks=checks, aer=aer)
    n_layers, classes, simd = len(desc.layers), desc.layers[-1].n_out, input_simd(desc, folds)
    port = dut.pixels if aer is None else dut.events
    if aer is None:
        words = [pixel_words(pixels, simd) for pixels in samples]
    else:
        words = [[{"x": x, "y": y, "p": p, "t": t, "end": 0} for x, y, p, t in np.asarray(ev).reshape(-1, 4).tolist()]
                 + [{"x": 0, "y": 0, "p": 0, "t": 0, "end": 1}] for ev in samples]
    observed = {"samples": [], "stream": None, "simulated_cycles": 0, "samples_after": []}

    def read_counters(ctx):
        return [{name: ctx.get(dut.counters[i][name]) for name in COUNTERS} for i in range(n_layers)]

    def read_result(payload):
        return {"cls": int(payload.cls), "acc": [int(payload.acc[i]) for i in range(classes)]}

    async def send(ctx, sample_words):
        for word in sample_words:
            ctx.set(port.payload, word)
            ctx.set(port.valid, 1)
            for _ in range(TIMEOUT_CYCLES):
                if (await ctx.tick().sample(port.ready))[2]:
                    break
            else:
                raise TimeoutError(f"the input port took no word for {TIMEOUT_CYCLES} cycles: the accelerator is stuck")
        ctx.set(port.valid, 0)

    async def load(ctx, writes):
        for addr, value in writes:
            ctx.set(dut.load.addr, addr)
            ctx.set(dut.load.data, value)
            ctx.set(dut.load.en, 1)
            await ctx.tick()
        ctx.set(dut.load.en, 0)

    async def one_at_a_time(ctx, all_words=None, into="samples"):
        ctx.set(dut.result.ready, 1)
        if all_words is None:
            await load(ctx, loads)
            all_words = words
        for sample_words in all_words:
            before = read_counters(ctx)
            await send(ctx, sample_words)
            cycles = len(sample_words)
            while True:
                _, _, valid, payload = await ctx.tick().sample(dut.result.valid, dut.result.payload)
                cycles += 1
                if valid:
                    break
                if cycles > TIMEOUT_CYCLES:
                    raise TimeoutError(f"no result after {TIMEOUT_CYCLES} cycles: the accelerator is stuck")
            observed.setdefault(into, []).append({**read_result(payload),
                                                 "counters": [counter_delta(b, a) for b, a in zip(before, read_counters(ctx))],
                                                 "latency": cycles})
            observed["simulated_cycles"] += cycles

    streaming = {"on": False, "done": False}

    async def learn_step(ctx, update):
        if "label" in update:                        # source (b): infer the sample, then learn from its label
            await send(ctx, update["pixels"])
            while not (await ctx.tick().sample(dut.result.valid))[2]:
                pass
            ctx.set(dut.learn.label, update["label"])
            ctx.set(dut.learn.from_label, 1)
        else:
            await load(ctx, update["writes"])
        ctx.set(dut.learn.start, 1)
        await ctx.tick()
        ctx.set(dut.learn.start, 0)
        while ctx.get(dut.learn.busy):
            await ctx.tick()
        ctx.set(dut.learn.from_label, 0)
        weights, momentum = [], []
        for addr in range(update["words"]):
            ctx.set(dut.learn.readback_addr, addr)
            await ctx.tick()
            weights.append(ctx.get(dut.learn.readback_weights))
            momentum.append(ctx.get(dut.learn.readback_momentum))
        return {"weights": weights, "momentum": momentum, "flips": ctx.get(dut.learn.flips),
                "cycles": ctx.get(dut.learn.cycles), "v": ctx.get(dut.learn.v) if learn.rule.tbso else 0}

    async def read_monitor(ctx):
        values = []
        for addr in peek:
            ctx.set(dut.monitor.addr, addr)
            await ctx.tick().repeat(MONITOR_LATENCY)
            values.append(ctx.get(dut.monitor.data))
        observed["peek"] = values

    async def back_to_back(ctx):
        await one_at_a_time(ctx)
        await read_monitor(ctx)
        if stream:
            streaming["on"] = True
            for sample_words in words:
                await send(ctx, sample_words)
        while stream and not streaming["done"]:
            await ctx.tick()
        if aer is not None:
            observed["aer_dropped"] = ctx.get(dut.aer_dropped)
        if updates:
            observed["learn"] = [await learn_step(ctx, update) for update in updates]
            await one_at_a_time(ctx, [pixel_words(p, simd) for p in samples_after], "samples_after")

    async def collect(ctx):
        if not stream:
            return
        while not streaming["on"]:
            await ctx.tick()
        results, arrival, tick = [], [], 0
        while len(results) < len(words):
            _, _, valid, payload = await ctx.tick().sample(dut.result.valid, dut.result.payload)
            tick += 1
            if valid:
                results.append(read_result(payload))
                arrival.append(tick)
            if tick > TIMEOUT_CYCLES:
                raise TimeoutError("streaming stalled: not every sample produced a result")
        observed["stream"] = stream_summary(results, arrival)
        observed["simulated_cycles"] += tick
        streaming["done"] = True

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(back_to_back)
    sim.add_testbench(collect)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return observed

