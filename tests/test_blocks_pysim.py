"""Each block under Amaranth's simulator against plain-Python arithmetic written from the spec."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from flipspike.hw.buffers import SpikeBuffer
from flipspike.hw.neuron import NeuronPrepare, NeuronUpdate, threshold_term
from flipspike.hw.synapse import SynapseArray
from flipspike.ir.plan import SYNAPSE_LATENCY
from flipspike.ir import LayerWidths


def run_comb(dut, cases, check):
    async def bench(ctx):
        for case in cases:
            for port, value in case.items():
                ctx.set(getattr(dut, port), value)
            await ctx.delay(1e-9)
            check(ctx, case)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("simd,pe,bits,early", [(8, 3, 1, True), (5, 2, 4, True), (1, 1, 1, True), (16, 4, 5, True),
                                              (5, 2, 4, False), (16, 4, 5, False)])
def test_synapse_array_is_and_popcount(simd, pe, bits, early):
    rng = np.random.default_rng(simd * pe)
    dut = SynapseArray(simd, pe, bits, early_negation=early)
    cases = []
    for _ in range(60):
        x = rng.integers(0, 2 ** bits, simd)
        x[rng.random(simd) < 0.3] = 0
        w = rng.integers(0, 2, (pe, simd))
        cases.append({"x": [int(v) for v in x], "w": int(sum(int(b) << k for k, b in enumerate(w.reshape(-1))))})
    cases.append({"x": [2 ** bits - 1] * simd, "w": 0})                  # all inputs max, all weights -1
    cases.append({"x": [2 ** bits - 1] * simd, "w": 2 ** (simd * pe) - 1})

    def expected(case):
        w = [(case["w"] >> k) & 1 for k in range(simd * pe)]
        return [sum((1 if w[p * simd + i] else -1) * case["x"][i] for i in range(simd)) for p in range(pe)]  # +-1 dot

    async def bench(ctx):              # a new (x, w) every cycle; each current SYNAPSE_LATENCY cycles later
        for k in range(len(cases) + SYNAPSE_LATENCY):
            if k < len(cases):
                ctx.set(dut.x, cases[k]["x"])
                ctx.set(dut.w, cases[k]["w"])
                await ctx.delay(1e-9)
            if k >= SYNAPSE_LATENCY:
                case = cases[k - SYNAPSE_LATENCY]
                assert [ctx.get(dut.current[p]) for p in range(pe)] == expected(case)
                assert ctx.get(dut.active) == sum(1 for v in case["x"] if v)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_xnor_popcount_would_be_wrong_for_01_spikes():
    # The reason for AND-popcount: with s = 0 and w = -1 an XNOR counts a match that is not there.
    s, w = [1, 0, 0, 1], [1, 0, 0, 0]             # weights +1 -1 -1 -1
    xnor = 2 * sum(1 for a, b in zip(s, w) if a == b) - len(s)
    and_pop = 2 * sum(a & b for a, b in zip(s, w)) - sum(s)
    true = sum(a * (1 if b else -1) for a, b in zip(s, w))
    assert and_pop == true == 0 and xnor != true


@pytest.mark.parametrize("kind,k,reset", [("lif", 1, "hard"), ("lif", 3, "soft"), ("lif", None, "hard"),
                                          ("output", None, "hard")])
def test_neuron_update(kind, k, reset):
    """NeuronPrepare then NeuronUpdate, as the engine's stages C and D feed them, against the update
    written from the spec in one piece: v2 = v - (v >>> k) + (I << F) + c; s = v2 >= theta; reset."""
    from amaranth.hdl import Module

    rng = np.random.default_rng(7)
    widths = LayerWidths(input=1, current=7, bias=6, threshold=6, state=12)
    F, lanes = 2, 3
    m = Module()
    m.submodules.update = update = NeuronUpdate(lanes, widths, drive_width=widths.drive(F), kind=kind,
                                                reset=reset)
    if kind == "lif":
        m.submodules.prepare = prepare = NeuronPrepare(lanes, widths, leak_shift=k)
        m.d.comb += [update.v.eq(prepare.v1), update.margin.eq(prepare.margin)]
    cases = []
    for _ in range(200):
        cases.append({"v": [int(a) for a in rng.integers(-600, 600, lanes)],
                      "current": [int(a) for a in rng.integers(-60, 61, lanes)],
                      "bias": [int(a) for a in rng.integers(-32, 32, lanes)],
                      "threshold": [int(a) for a in rng.integers(1, 64, lanes)]})
    cases.append({"v": [0, 40, -2048], "current": [0, 0, 63], "bias": [5, 0, -32], "threshold": [5, 40, 1]})

    async def bench(ctx):
        for case in cases:
            ctx.set(prepare.v if kind == "lif" else update.v, case["v"])
            if kind == "lif":
                ctx.set(prepare.theta_term, [threshold_term(th, k) for th in case["threshold"]])
            ctx.set(update.drive, [i * 2 ** F + c for i, c in zip(case["current"], case["bias"])])
            await ctx.delay(1e-9)
            for p in range(lanes):
                v, i, c, th = (case[n][p] for n in ("v", "current", "bias", "threshold"))
                if kind == "lif" and k is not None:
                    v = v - v // 2 ** k
                v = v + i * 2 ** F + c
                spike = kind == "lif" and v >= th
                if spike:
                    v = 0 if reset == "hard" else v - th
                assert ctx.get(update.v_next[p]) == v
                assert (ctx.get(update.spike) >> p) & 1 == int(spike)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("size,pe,simd,banks,kind", [
    (8, 4, 2, 2, "ff"), (8, 4, 2, 4, "ff"),              # flip-flops
    (8, 4, 2, 2, "ram"), (8, 4, 2, 3, "ram"),            # block RAM: writer wider than reader
    (32, 2, 8, 3, "ram"), (48, 1, 16, 2, "ram"),         # reader wider (bit lanes; a bank stride > words)
    (16, 4, 4, 2, "ram"), (12, 3, 6, 2, "ram"),          # equal widths; 12 = 2 words at a stride of 2
    (12, 4, 6, 2, "falls back")])                        # widths not powers of two of each other: flip-flops
def test_spike_buffer_ring(size, pe, simd, banks, kind):
    """Fill every bank (lanes in a random order), read them back in order: words and nonzero masks
    against a list of the steps' bits."""
    dut = SpikeBuffer(size, pe=pe, simd=simd, mask=True, banks=banks, ram=kind != "ff")
    assert (dut.ram_shape is not None) == (kind == "ram")
    rng = np.random.default_rng(size * pe + simd)
    steps = [[int(b) for b in rng.integers(0, 2, size) * (rng.random(size) < 0.5)] for _ in range(banks)]

    def word(bits, w, n):
        return sum(b << k for k, b in enumerate(bits[w * n:(w + 1) * n]))

    async def bench(ctx):
        assert ctx.get(dut.write.free_banks) == banks and not ctx.get(dut.read.avail)
        for step, bits in enumerate(steps):                                # fill every bank
            for g in rng.permutation(size // pe):
                ctx.set(dut.write.we, 1)
                ctx.set(dut.write.addr, int(g))
                ctx.set(dut.write.data, word(bits, g, pe))
                await ctx.tick()
            ctx.set(dut.write.we, 0)
            ctx.set(dut.write.commit, 1)
            await ctx.tick()
            ctx.set(dut.write.commit, 0)
            assert ctx.get(dut.write.free_banks) == banks - step - 1
            assert ctx.get(dut.read.next_avail) == (step >= 1)
        assert ctx.get(dut.read.avail)                                     # all banks full
        for bits in steps:                                                 # read them back in order
            nonzero = [any(bits[w * simd:(w + 1) * simd]) for w in range(size // simd)]
            assert ctx.get(dut.read.nonzero) == sum(b << w for w, b in enumerate(nonzero))
            for w in rng.permutation(size // simd):
                ctx.set(dut.read.addr, int(w))
                await ctx.tick()
                assert ctx.get(dut.read.data.as_value()) == word(bits, w, simd)
            ctx.set(dut.read.release, 1)
            await ctx.tick()
            ctx.set(dut.read.release, 0)
        assert ctx.get(dut.write.free_banks) == banks and not ctx.get(dut.read.avail)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
