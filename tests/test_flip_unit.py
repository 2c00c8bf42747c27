"""The flip-trigger update unit against the integer rule: weight bits, momenta and flip counts after
every update, over random widths, rates, thresholds and foldings (>= 1000 updates in all)."""

import numpy as np
import torch
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import memory
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from flipspike.ir.formats import pack_lanes
from flipspike.hw.flip_unit import FlipUnit
from flipspike.ir.memory_map import weight_words
from flipspike.ir import Fold
from flipspike.ir.learning import FlipRule
from flipspike.sw.integer_learning import FlipState, flip_step

UPDATES = 45


class Harness(Elaboratable):
    """FlipUnit attached to a weight memory, with a readback port for the test."""

    def __init__(self, n_in, n_out, fold, rule, init_words):
        self.unit = FlipUnit(n_in, n_out, fold, rule)
        self.raddr = Signal(range(max(2, self.unit.words)))
        self.rdata = Signal(fold.pe * fold.simd)
        self.init = init_words

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        m.submodules.wmem = wmem = memory.Memory(shape=len(self.rdata), depth=max(2, unit.words), init=self.init)
        rd, wr, probe = wmem.read_port(), wmem.write_port(), wmem.read_port()
        m.d.comb += [rd.addr.eq(unit.weights.raddr), unit.weights.rdata.eq(rd.data),
                     wr.addr.eq(unit.weights.waddr), wr.data.eq(unit.weights.wdata), wr.en.eq(unit.weights.we),
                     probe.addr.eq(self.raddr), self.rdata.eq(probe.data)]
        return m


def plain_rule(b, m, g, rule, v=0):
    """The rule for one weight, in Python integers (``v``: T-BSO's second moment after this update)."""
    m = max(rule.m_min, min(rule.m_max, m - (m >> rule.rate_shift) + (g >> rule.grad_shift)))
    flip = m > rule.threshold if b else m < -rule.threshold
    if rule.tbso:
        flip = flip and m * m > rule.threshold2 * v
    return b ^ int(flip), (0 if flip and rule.reset_on_flip else m), int(flip)


def unpack(word, lanes, width, signed):
    out = []
    for k in range(lanes):
        v = (word >> (k * width)) & ((1 << width) - 1)
        out.append(v - (1 << width) if signed and v >> (width - 1) else v)
    return out


@settings(max_examples=24, deadline=None)
@given(seed=st.integers(0, 2 ** 31), mbits=st.integers(3, 12), k=st.integers(1, 4), kg=st.integers(0, 6),
       reset=st.booleans(), dbits=st.integers(2, 8), tbits=st.integers(1, 4), gamma_frac=st.floats(0, 0.6))
def test_flip_unit_matches_integer_rule(seed, mbits, k, kg, reset, dbits, tbits, gamma_frac):
    rule = FlipRule(momentum_bits=mbits, rate_shift=min(k, mbits), grad_shift=kg,
                    threshold=int(gamma_frac * ((1 << (mbits - 1)) - 1)), reset_on_flip=reset,
                    delta_bits=dbits, trace_bits=tbits)
    check_unit(np.random.default_rng(seed), rule)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 31), mbits=st.integers(4, 10), k=st.integers(1, 3), vbits=st.integers(4, 20),
       k2=st.integers(1, 4), vshift=st.integers(0, 6), theta2=st.integers(0, 9), dbits=st.integers(2, 5))
def test_flip_unit_tbso_mode(seed, mbits, k, vbits, k2, vshift, theta2, dbits):
    """T-BSO mode: the second moment v (read back after every update) and the flips it gates."""
    rule = FlipRule(momentum_bits=mbits, rate_shift=min(k, mbits), threshold=1, delta_bits=dbits, trace_bits=3,
                    tbso=True, v_bits=vbits, v_rate_shift=min(k2, vbits), v_in_shift=vshift, threshold2=theta2)
    check_unit(np.random.default_rng(seed), rule)


def test_flip_unit_flips_and_resets():
    for reset in (False, True):
        rule = FlipRule(momentum_bits=6, rate_shift=2, grad_shift=1, threshold=3, reset_on_flip=reset,
                        delta_bits=5, trace_bits=3)
        assert check_unit(np.random.default_rng(5), rule) > 20


def check_unit(rng, rule) -> int:
    """Run UPDATES random updates through the unit; compare after each one. Returns the flips."""
    dbits, tbits, mbits = rule.delta_bits, rule.trace_bits, rule.momentum_bits
    n_in, n_out = int(rng.choice([4, 6, 8])), int(rng.choice([2, 3, 4]))
    fold = Fold(int(rng.choice([d for d in (1, 2, n_in) if n_in % d == 0])),
                int(rng.choice([d for d in (1, n_out) if n_out % d == 0])))
    bits0 = rng.integers(0, 2, (n_out, n_in)).astype(np.uint8)

    class L:                                           # weight_words wants a layer-like object
        weights, n_in_, n_out_ = bits0, n_in, n_out
    L.n_in, L.n_out = n_in, n_out
    h = Harness(n_in, n_out, fold, rule, weight_words(L, fold))
    unit = h.unit
    lanes = fold.pe * fold.simd
    deltas = rng.integers(-(1 << (dbits - 1)), 1 << (dbits - 1), (UPDATES, n_out))
    traces = rng.integers(0, 1 << tbits, (UPDATES, n_in))

    state = FlipState(torch.from_numpy(bits0.copy()), torch.zeros(n_out, n_in, dtype=torch.int64))
    plain_b, plain_m, plain_v = bits0.astype(int).tolist(), [[0] * n_in for _ in range(n_out)], 0
    expected = []
    total = 0
    for u in range(UPDATES):
        state, flips = flip_step(state, deltas[u], traces[u], rule)
        if rule.tbso:
            sample = (sum(int(d) ** 2 for d in deltas[u]) * sum(int(t) ** 2 for t in traces[u])) >> rule.v_in_shift
            plain_v = min(plain_v - (plain_v >> rule.v_rate_shift) + sample, (1 << rule.v_bits) - 1)
        plain_flips = 0
        for j in range(n_out):
            for i in range(n_in):
                plain_b[j][i], plain_m[j][i], f = plain_rule(plain_b[j][i], plain_m[j][i],
                                                             int(deltas[u][j] * traces[u][i]), rule, plain_v)
                plain_flips += f
        assert plain_flips == flips and state.bits.tolist() == plain_b and state.momentum.tolist() == plain_m
        assert state.v == plain_v
        total += flips
        expected.append((state.bits.numpy().copy(), state.momentum.numpy().copy(), total, state.v))

    observed = []

    async def write(ctx, port, values, lanes, width):
        for word in range(len(values) // lanes):
            ctx.set(port.addr, word)
            ctx.set(port.data, pack_lanes(values[word * lanes:(word + 1) * lanes], width))
            ctx.set(port.en, 1)
            await ctx.tick()
        ctx.set(port.en, 0)

    async def bench(ctx):
        for u in range(UPDATES):
            await write(ctx, unit.delta, deltas[u], fold.pe, dbits)
            await write(ctx, unit.trace, traces[u], fold.simd, tbits)
            cycles0 = ctx.get(unit.cycles)
            ctx.set(unit.start, 1)
            await ctx.tick()
            ctx.set(unit.start, 0)
            while ctx.get(unit.busy):
                await ctx.tick()
            await ctx.tick()                           # last write-back
            moments = unit.f_in + unit.f_out + 2 if rule.tbso else 0
            assert ctx.get(unit.cycles) - cycles0 == unit.words + 1 + moments
            bits = np.zeros((n_out, n_in), dtype=np.uint8)
            mom = np.zeros((n_out, n_in), dtype=np.int64)
            for addr in range(unit.words):
                nf, sf = divmod(addr, unit.f_in)
                ctx.set(h.raddr, addr)
                ctx.set(unit.momentum_addr, addr)
                await ctx.tick()
                wb = unpack(ctx.get(h.rdata), lanes, 1, False)
                mb = unpack(ctx.get(unit.momentum_data), lanes, mbits, True)
                for lane in range(lanes):
                    p, i = divmod(lane, fold.simd)
                    bits[nf * fold.pe + p, sf * fold.simd + i] = wb[lane]
                    mom[nf * fold.pe + p, sf * fold.simd + i] = mb[lane]
            observed.append((bits, mom, ctx.get(unit.flips), ctx.get(unit.v) if rule.tbso else 0))

    sim = Simulator(h)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for u, ((eb, em, ef, ev), (ob, om, of, ov)) in enumerate(zip(expected, observed)):
        assert ev == ov, f"second moment differs after update {u}"
        assert np.array_equal(eb, ob), f"weights differ after update {u}"
        assert np.array_equal(em, om), f"momenta differ after update {u}"
        assert ef == of, f"flip count differs after update {u}"
    return total


def test_rule_validation():
    import pytest
    from flipspike.ir import DescriptionError
    with pytest.raises(DescriptionError, match="threshold must be 0..127"):
        FlipRule(momentum_bits=8, threshold=200)
    with pytest.raises(DescriptionError, match="momentum_bits must be 2..16"):
        FlipRule(momentum_bits=20)
