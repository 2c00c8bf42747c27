"""cocotb bench: stream samples through the accelerator, observe result and counters once per sample.

Stimulus: a list of jobs, each optionally loading a network's contents over the load bus, then running
its samples one at a time and back to back. One simulator start serves many networks of one shape.
Runs inside the simulator. Imports neither torch nor Amaranth: stimulus and port map arrive as JSON,
observations leave as JSON, and the comparison with the integer reference happens in the caller.
Python wakes up once per pixel word and once per result -- never per clock cycle.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from flipspike.sim.samples import counter_delta, decode_counters, decode_result, pack_word, stream_summary

CLOCK_NS = 10


@cocotb.test()
async def stream_samples(dut):
    with open(os.environ["FLIPSPIKE_STIMULUS"]) as f:
        stimulus = json.load(f)
    ports = stimulus["ports"]
    aer = "events" in ports                               # an AER port: words are packed already
    port = "events" if aer else "pixels"
    bits = None if aer else ports["pixels"]["bits"]

    def counters():
        return decode_counters(dut.counters.value.to_unsigned(), ports)

    def result():
        return decode_result(dut.result__payload.value.to_unsigned(), ports)

    valid, ready, payload = (getattr(dut, f"{port}__{name}") for name in ("valid", "ready", "payload"))

    async def send(words):
        for word in words:
            while not ready.value:                        # ready changes only on rising edges
                await FallingEdge(dut.clk)
            payload.value = word if aer else pack_word(word, bits)
            valid.value = 1
            await FallingEdge(dut.clk)                    # the word was taken at the rising edge between
        valid.value = 0

    async def load(writes):
        for addr, data in writes:                         # one word per cycle, while idle
            dut.load__addr.value = addr
            dut.load__data.value = data
            dut.load__en.value = 1
            await FallingEdge(dut.clk)
        dut.load__en.value = 0

    async def one_at_a_time(samples):
        observed = []
        for words in samples:
            await FallingEdge(dut.clk)
            before = counters()
            start = get_sim_time("ns")
            await send(words)
            if not dut.result__valid.value:
                await RisingEdge(dut.result__valid)
            await FallingEdge(dut.clk)                    # valid is high for this cycle (ready is tied high)
            observed.append({**result(), "counters": counter_delta(before, counters(), ports),
                             "latency": round((get_sim_time("ns") - start) / CLOCK_NS)})
        return observed

    async def back_to_back(samples):                      # layers overlap across samples
        results, arrival = [], []

        async def collect():
            while len(results) < len(samples):
                await RisingEdge(dut.result__valid)
                await FallingEdge(dut.clk)
                results.append(result())
                arrival.append(get_sim_time("ns") / CLOCK_NS)

        collector = cocotb.start_soon(collect())
        for words in samples:
            await send(words)
        await collector
        return stream_summary(results, arrival)

    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    valid.value = 0
    dut.load__en.value = 0
    dut.result__ready.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    async def read_monitor(addresses):
        """The monitor port: the word at an address appears ``monitor_latency`` cycles later."""
        values = []
        for addr in addresses:
            dut.monitor__addr.value = addr
            for _ in range(stimulus["monitor_latency"]):
                await FallingEdge(dut.clk)
            values.append(dut.monitor__data.value.to_unsigned())
        return values

    async def learn(update):
        """One on-chip learning step: errors and traces over the load bus (or, with a label, infer the
        sample and learn from the label on chip), start, wait, read back."""
        if "label" in update:
            await send(update["pixels"])
            if not dut.result__valid.value:
                await RisingEdge(dut.result__valid)
            await FallingEdge(dut.clk)
            dut.learn__label.value = update["label"]
            dut.learn__from_label.value = 1
        else:
            await load(update["writes"])
        dut.learn__start.value = 1
        await FallingEdge(dut.clk)
        dut.learn__start.value = 0
        while dut.learn__busy.value:
            await FallingEdge(dut.clk)
        dut.learn__from_label.value = 0
        weights, momentum = [], []
        for addr in range(update["words"] + 1):           # read port: one cycle of latency
            if addr:
                weights.append(dut.learn__readback_weights.value.to_unsigned())
                momentum.append(dut.learn__readback_momentum.value.to_unsigned())
            dut.learn__readback_addr.value = min(addr, update["words"] - 1)
            await FallingEdge(dut.clk)
        return {"weights": weights, "momentum": momentum, "flips": dut.learn__flips.value.to_unsigned(),
                "cycles": dut.learn__cycles.value.to_unsigned(),
                "v": dut.learn__v.value.to_unsigned() if update.get("tbso") else 0}

    jobs = []
    for job in stimulus["jobs"]:
        start = get_sim_time("ns")
        await load(job["loads"])
        observed = {"samples": await one_at_a_time(job["samples"])}
        if job.get("peek"):
            observed["peek"] = await read_monitor(job["peek"])
        observed["stream"] = await back_to_back(job["samples"]) if job.get("stream", True) else None
        if job.get("updates"):
            observed["learn"] = [await learn(update) for update in job["updates"]]
            observed["samples_after"] = await one_at_a_time(job.get("samples_after", []))
        observed["simulated_cycles"] = round((get_sim_time("ns") - start) / CLOCK_NS)
        if aer:
            observed["aer_dropped"] = dut.aer_dropped.value.to_unsigned()
        jobs.append(observed)
    with open(os.environ["FLIPSPIKE_OBSERVED"], "w") as f:
        json.dump(jobs, f)
