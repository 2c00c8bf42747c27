"""The layer engine's components, each under Amaranth's simulator against a model written from the spec
(the layer's definition, not the plan's or the hardware's own formulas): the issue stage's walk, the
accumulator, the LIF neuron stage, the output stage's argmax, the load decoder and the monitor's mux.
The whole engine is held against the integer reference by the accelerator's tests."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import memory
from amaranth.sim import Simulator

from flipspike.hw.accumulate import Accumulator
from flipspike.hw.issue import IssueStage
from flipspike.hw.load_decode import LoadDecode
from flipspike.hw.monitor_mux import MonitorMux
from flipspike.hw.neuron_stage import NeuronStage
from flipspike.hw.output_stage import OutputStage
from flipspike.ir import Fold, LayerWidths
from flipspike.ir.formats import MONITOR_LATENCY
from flipspike.ir.memory_map import Region
from flipspike.ir.plan import SYNAPSE_LATENCY, LayerPlan

from helpers import random_conv_desc, random_desc


def simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


# -- the issue stage: the order of a sample's words, from the layer's definition ------------------------------

def expected_walk(layer, fold: Fold, first: bool, T: int, nonzero: list[int] | None) -> list[dict]:
    """The words one sample issues, in order: nested loops over the layer's geometry as the module
    docstring of hw/layer_engine.py describes it."""
    f_in, f_out = layer.n_in // fold.simd, layer.n_out // fold.pe
    if layer.conv is None:
        h = w = k = s = 1
        p, c_words, ho, wo, P = 0, f_in, 1, 1, 1
    else:
        (h, w, c), k, s, p = layer.conv.in_shape, layer.conv.kernel, layer.conv.stride, layer.conv.padding
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        c_words, P = c // fold.simd, layer.pool
    hp, wp = ho // P, wo // P
    words = []

    def step(t: int, syn: bool):
        out = []
        for py in range(hp):
            for px in range(wp):
                for nf in range(f_out):
                    for dy in range(P):
                        for dx in range(P):
                            oy, ox = py * P + dy, px * P + dx
                            window = [(ky, kx, cw) for ky in range(k) for kx in range(k) for cw in range(c_words)]
                            places = []
                            for sf, (ky, kx, cw) in enumerate(window):
                                y, x = oy * s + ky - p, ox * s + kx - p
                                inside = 0 <= y < h and 0 <= x < w
                                places.append((sf, inside, (y * w + x) * c_words + cw if inside else None))
                            if first and not syn:
                                places = places[:1]                    # the stored current: one pseudo-word
                            elif nonzero is not None:
                                hits = [pl for pl in places if pl[1] and nonzero[pl[2]]]
                                places = hits or places[:1]
                            for j, (sf, inside, addr) in enumerate(places):
                                out.append(dict(t=t, syn=int(syn), nf=nf, sf=sf, in_bounds=int(inside), in_addr=addr,
                                                group=(oy * wp * P + ox) * f_out + nf,
                                                out_word=(py * wp + px) * f_out + nf, first=int(j == 0),
                                                last=int(j == len(places) - 1), sub_first=int(dy == 0 and dx == 0),
                                                sub_last=int(dy == P - 1 and dx == P - 1), waddr=nf * f_in + sf))
        out[-1]["end"] = 1
        return out

    if first:
        words += step(0, True)
    for t in range(T):
        words += step(t, False)
    return words


def issue_cases():
    rng = np.random.default_rng(3)
    mlp = random_desc(rng, [8, 6, 4, 2], timesteps=3)
    conv = random_conv_desc(rng, (5, 5, 2), [dict(channels=4, kernel=3, padding=1, pool=2),
                                             dict(channels=2, kernel=3, stride=2, padding=1)], 2, timesteps=2)
    return [("dense first", mlp, 0, Fold(4, 2)), ("dense hidden", mlp, 1, Fold(2, 2)),
            ("dense event", mlp, 1, Fold(1, 3, True)), ("conv first, pooled", conv, 0, Fold(2, 2)),
            ("conv strided", conv, 1, Fold(2, 1)), ("conv event", conv, 1, Fold(1, 2, True))]


@pytest.mark.parametrize("name,desc,index,fold", issue_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_issue_stage_walks_the_layer(name, desc, index, fold):
    layer, T = desc.layers[index], desc.timesteps
    plan = LayerPlan(layer, fold, first=index == 0, timesteps=T)
    nonzero = [int(b) for b in np.random.default_rng(5).random(plan.in_words) < 0.4] if fold.event else None
    want = expected_walk(layer, fold, index == 0, T, nonzero)
    dut = IssueStage(plan)
    got, skipped = [], 0

    async def bench(ctx):
        nonlocal skipped
        ctx.set(dut.ready_wait, 1)
        ctx.set(dut.ready_next, 1)
        if fold.event:
            ctx.set(dut.nonzero, sum(b << i for i, b in enumerate(nonzero)))
        for _ in range(len(want) + 4):
            word = ctx.get(dut.word)
            if word.valid:
                row = {name: int(getattr(word, name)) for name in ("nf", "sf", "in_bounds", "group", "out_word",
                                                                   "first", "last", "sub_first", "sub_last", "syn")}
                row |= dict(t=ctx.get(dut.t), in_addr=ctx.get(dut.in_addr) if word.in_bounds else None,
                            waddr=ctx.get(dut.waddr))
                assert word.t0 == (row["t"] == 0) and word.tlast == (row["t"] == T - 1)
                # the input is released as a step's last word issues (the first layer's: its synapse phase's);
                # every step but a synapse phase commits spikes
                releases = word.end & (row["syn"] if index == 0 else 1)
                assert (ctx.get(dut.release), word.commit) == (releases, word.end & (1 - row["syn"]))
                if word.end:
                    row["end"] = 1
                got.append(row)
                if fold.event and len(got) <= len(want):      # (the walk goes on into the next sample)
                    skipped += ctx.get(dut.skipped)
            await ctx.tick()

    simulate(dut, bench)
    assert got[:len(want)] == want
    if fold.event:   # every word of a group is either issued or skipped, once
        assert skipped == T * plan.groups * plan.f_in - len(want)


def test_issue_stage_waits_between_steps():
    """With ready_next low, each step ends in WAIT and the next starts only when ready_wait rises."""
    desc = random_desc(np.random.default_rng(0), [4, 4, 2], timesteps=2)
    plan = LayerPlan(desc.layers[1], Fold(2, 2), timesteps=2)
    dut = IssueStage(plan)
    trace = []

    async def bench(ctx):
        for cycle in range(20):
            ctx.set(dut.ready_wait, cycle in (2, 10))
            trace.append((ctx.get(dut.word.valid), ctx.get(dut.t)))
            await ctx.tick()

    simulate(dut, bench)
    issued = [cycle for cycle, (valid, _) in enumerate(trace) if valid]
    assert issued == [3, 4, 11, 12]                   # 1 group x 2 words per step, a cycle after ready_wait
    assert [trace[c][1] for c in issued] == [0, 0, 1, 1]


# -- stage C: the accumulator ---------------------------------------------------------------------------------

@pytest.mark.parametrize("first_layer,shortcut", [(False, False), (True, False), (False, True)])
def test_accumulator_sums_the_drive(first_layer, shortcut):
    rng = np.random.default_rng(11)
    W, F, pe = LayerWidths(input=1, current=6, bias=5, threshold=6, state=12, shortcut=4 if shortcut else 0), 2, 3
    dut = Accumulator(pe, W, F, first_layer=first_layer, shortcut=shortcut)
    groups = []
    for _ in range(12):
        n = int(rng.integers(1, 5))
        syn = int(rng.integers(0, 2)) if first_layer else 1
        groups.append(dict(n=n, syn=syn, bias=rng.integers(-16, 16, pe), gain=rng.integers(-8, 8, pe),
                           own=rng.integers(0, 2, pe),
                           current=rng.integers(-32, 32, (n, pe)), stored=rng.integers(-32, 32, (n, pe))))

    def expected(g):
        if not g["syn"]:        # first layer, a neuron step: the stored current of its one pseudo-word, plus bias
            return [int(g["bias"][p] + (g["stored"][0][p] << F)) for p in range(pe)]
        start = [0] * pe if first_layer else [int(g["bias"][p] + (g["gain"][p] if shortcut and g["own"][p] else 0))
                                              for p in range(pe)]
        return [start[p] + sum(int(c[p]) << F for c in g["current"]) for p in range(pe)]

    async def bench(ctx):
        for g in groups:
            n = g["n"] if g["syn"] else 1
            for j in range(n):
                if shortcut:        # own bits come with the word at stage B, SYNAPSE_LATENCY cycles before C
                    ctx.set(dut.own, sum(int(b) << p for p, b in enumerate(g["own"])))
                    for _ in range(SYNAPSE_LATENCY):
                        await ctx.tick()
                    ctx.set(dut.gain, [int(v) for v in g["gain"]])
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, j == 0)
                ctx.set(dut.current, [int(v) for v in g["current"][j]])
                ctx.set(dut.bias, [int(v) for v in g["bias"]])
                if first_layer:
                    ctx.set(dut.syn, g["syn"])
                    ctx.set(dut.stored, [int(v) for v in g["stored"][j]])
                await ctx.tick()
                ctx.set(dut.valid, 0)
            assert [ctx.get(dut.acc[p]) for p in range(pe)] == expected(g)

    simulate(dut, bench)


# -- stages C and D of a LIF layer ----------------------------------------------------------------------------

@pytest.mark.parametrize("leak,reset,forward", [(1, "hard", False), (2, "soft", False), (None, "hard", True)])
def test_neuron_stage_is_the_lif_update(leak, reset, forward):
    """theta the cycle before C; v at C with first; the drive a few cycles later: v_next and spike are
    v2 = v - (v >>> k) + D, s = v2 >= theta, reset, as docs/integer-semantics.md writes them."""
    rng = np.random.default_rng(2)
    W, pe, dw = LayerWidths(input=1, current=7, bias=6, threshold=6, state=12), 2, 12
    dut = NeuronStage(pe, W, drive_width=dw, leak_shift=leak, reset=reset, forward=forward)

    def lif(v, theta, drive, t0):
        v = 0 if t0 else v
        v2 = v - (v >> leak if leak is not None else 0) + drive
        fire = v2 >= theta
        return (v2 - theta if reset == "soft" else 0) if fire else v2, int(fire)

    async def bench(ctx):
        v_prev = [0] * pe
        for _ in range(40):
            theta, v = rng.integers(1, 60, pe), rng.integers(-400, 400, pe)
            drive, t0 = rng.integers(-300, 300, pe), int(rng.random() < 0.2)
            ctx.set(dut.theta, [int(x) for x in theta])
            await ctx.tick()
            ctx.set(dut.first, 1)
            ctx.set(dut.t0, t0)
            if forward:       # the only group: its membrane is the one stage D writes back this cycle
                ctx.set(dut.step, 1)                          # (with the previous group's drive, at D)
                v = np.array(v_prev)
            else:
                ctx.set(dut.v, [int(x) for x in v])
            await ctx.tick()
            ctx.set(dut.first, 0)
            ctx.set(dut.step, 0)
            drive = rng.integers(-300, 300, pe)
            ctx.set(dut.drive, [int(x) for x in drive])
            await ctx.delay(1e-9)
            for p in range(pe):
                want = lif(int(v[p]), int(theta[p]), int(drive[p]), t0)
                assert (ctx.get(dut.v_next[p]), ctx.get(dut.spike) >> p & 1) == want
            v_prev = [ctx.get(dut.v_next[p]) for p in range(pe)]

    simulate(dut, bench)


# -- the output layer ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("groups,pe,result_register", [(1, 4, False), (2, 3, True), (5, 2, True), (3, 1, False)])
def test_output_stage_accumulates_and_takes_the_argmax(groups, pe, result_register):
    """Samples of T steps, each walking the groups (two words each): the accumulators sum each group's
    drives over the steps, and the class offered is their argmax, the lowest index on ties."""
    rng = np.random.default_rng(groups * 10 + pe)
    n, T = groups * pe, 3
    W = LayerWidths(input=1, current=6, bias=5, threshold=1, state=10)
    dut = OutputStage(n, pe, W, 10, result_register=result_register)
    samples = [rng.integers(-1, 2, (T, groups, pe)) for _ in range(10)]   # (small: ties happen)
    results = []

    def flags(port, t, nf, first, end=0):
        return {f"{port}.first": first, f"{port}.nf": nf, f"{port}.t0": t == 0, f"{port}.tlast": t == T - 1,
                f"{port}.end": end}

    async def bench(ctx):
        # a word's flags at C; its pre flags the cycle before; D (the write-back) the cycle after the last word
        timeline = []
        for drives in samples:
            for t in range(T):
                for g in range(groups):
                    timeline.append((t, g, 0, drives[t, g]))
                    timeline.append((t, g, 1, drives[t, g]))
            timeline += [None] * 20                   # (the engine's sequencing lets the result leave)
        for k in range(len(timeline) + 40):
            state = {}
            nxt = timeline[k + 1] if k + 1 < len(timeline) else None
            cur = timeline[k] if k < len(timeline) else None
            prev = timeline[k - 1] if 0 < k <= len(timeline) else None
            state |= flags("pre", *(nxt[:2] if nxt else (0, 0)), first=int(bool(nxt) and nxt[2] == 0))
            state |= flags("c", *(cur[:2] if cur else (0, 0)), first=int(bool(cur) and cur[2] == 0))
            last = prev is not None and prev[2] == 1
            state |= flags("d", *(prev[:2] if prev else (0, 0)), first=0,
                           end=int(last and prev[1] == groups - 1))
            for name, value in state.items():
                port, field = name.split(".")
                ctx.set(getattr(getattr(dut, port), field), int(value))
            ctx.set(dut.step, int(last))
            ctx.set(dut.drive, [int(x) for x in prev[3]] if last else [0] * pe)
            ctx.set(dut.result.ready, 1)
            await ctx.delay(1e-9)
            if ctx.get(dut.result.valid):
                payload = ctx.get(dut.result.payload)
                results.append((payload.cls, [payload.acc[j] for j in range(n)]))
            await ctx.tick()

    simulate(dut, bench)
    assert len(results) == len(samples)
    for (cls, accs), drives in zip(results, samples):
        want = drives.sum(axis=0).reshape(-1)
        assert accs == [int(v) for v in want]
        assert cls == int(np.argmax(want))            # numpy's argmax: the first maximum


# -- the load bus and the monitor --------------------------------------------------------------------------

def test_load_decode_writes_each_region_a_cycle_late():
    regions = [Region(0, "weights", 0, 6, 8), Region(0, "bias", 6, 2, 5), Region(0, "threshold", 9, 3, 4)]
    dut = LoadDecode(regions, (4, 8))
    rng = np.random.default_rng(0)
    bus = [(int(rng.integers(0, 16)), int(rng.integers(0, 256)), int(rng.integers(0, 2))) for _ in range(80)]

    async def bench(ctx):
        before = None
        for addr, value, en in bus + [(0, 0, 0)]:
            ctx.set(dut.load.addr, addr)
            ctx.set(dut.load.data, value)
            ctx.set(dut.load.en, en)
            await ctx.delay(1e-9)
            for r in regions:
                port = getattr(dut, r.memory)
                hit = before is not None and before[2] and r.base <= before[0] < r.base + r.depth
                assert ctx.get(port.en) == hit
                if hit:
                    assert (ctx.get(port.addr), ctx.get(port.data)) == (before[0] - r.base, before[1] % (1 << r.width))
            before = (addr, value, en)
            await ctx.tick()

    simulate(dut, bench)


def test_monitor_mux_reads_through_lent_ports():
    """Two memories lend their read ports: each address's word comes back MONITOR_LATENCY cycles later,
    0 outside their regions, and a port the engine reads itself is not taken."""
    images = {"weights": [11 * i + 3 for i in range(6)], "membrane": [200 + i for i in range(4)]}
    regions = [Region(0, "weights", 2, 6, 8), Region(0, "membrane", 8, 4, 8)]
    mux = MonitorMux(regions, {"weights": (3, 8), "membrane": (2, 8)}, (4, 8))
    m = Module()
    m.submodules.mux = mux
    engine_reads = Signal()
    for name, image in images.items():
        m.submodules[name] = mem = memory.Memory(shape=8, depth=len(image), init=image)
        port, lent = mem.read_port(), getattr(mux, name)
        with m.If(~engine_reads & lent.take):
            m.d.comb += port.addr.eq(lent.addr)
        m.d.comb += lent.data.eq(port.data)
    monitor_addr, monitor_data = mux.monitor.addr, mux.monitor.data

    def word(addr):
        for r in regions:
            if r.base <= addr < r.base + r.depth:
                return images[r.memory][addr - r.base]
        return 0

    addresses = list(range(16)) + [5, 9, 0, 7]

    async def bench(ctx):
        seen = []
        for k in range(len(addresses) + MONITOR_LATENCY):
            if k < len(addresses):
                ctx.set(monitor_addr, addresses[k])
            await ctx.tick()
            seen.append(ctx.get(monitor_data))
        assert seen[MONITOR_LATENCY - 1:][:len(addresses)] == [word(a) for a in addresses]
        ctx.set(engine_reads, 1)                      # the engine's own address stays: word 0 of each memory
        ctx.set(monitor_addr, 5)
        for _ in range(MONITOR_LATENCY):
            await ctx.tick()
        assert ctx.get(monitor_data) == images["weights"][0]

    simulate(m, bench)
