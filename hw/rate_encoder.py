"""Rate encoding on chip: a sample's pixels in, T frames of spikes out (``input.encoding: rate``).

The pixels arrive once, SIMD a cycle; frame 0's spikes leave as they arrive, and the pixels are kept in
block RAM to make frames 1 to T-1, a word a cycle. Lane j of a word spikes where its pixel exceeds the
threshold made of the LFSR's next ``bits`` output bits: the SIMD * bits bits of a word come from the
state through fixed XOR networks and the state leaps SIMD * bits shifts a word
(:func:`flipspike.ir.encoding.leap_matrices`), so a word costs one cycle whatever its width. The state
starts from the seed at every sample. The thresholds are those of :mod:`flipspike.ir.encoding`, in the
same order (frame-major, pixel by pixel), so the spikes are the reference's bit for bit.
"""

from __future__ import annotations

import operator
from functools import reduce

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.encoding import LFSR_WIDTH, check_seed, leap_matrices


def _xor_rows(matrix, state) -> list:
    """One bit per row of a GF(2) matrix: the XOR of the state bits its row selects (0 where none)."""
    return [reduce(operator.xor, [state[k] for k in range(LFSR_WIDTH) if row[k]], Const(0, 1)) for row in matrix]


class RateEncoder(wiring.Component):
    def __init__(self, size: int, simd: int, bits: int, timesteps: int, seed: int):
        if size % simd:
            raise ValueError(f"RateEncoder: {size} pixels are not a whole number of {simd}-pixel words")
        check_seed(seed)
        self.words, self.simd, self.bits, self.timesteps, self.seed = size // simd, simd, bits, timesteps, seed
        super().__init__({
            "pixels": In(stream.Signature(data.ArrayLayout(unsigned(bits), simd))),
            "spikes": Out(stream.Signature(data.ArrayLayout(unsigned(1), simd))),
        })

    def elaborate(self, platform):
        m = Module()
        T, words, simd, bits = self.timesteps, self.words, self.simd, self.bits
        m.submodules.mem = mem = memory.Memory(shape=unsigned(simd * bits), depth=max(2, words), init=[],
                                               attrs={"ram_style": "block"})
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,))   # (one word: frame 1 reads the word written as frame 0 ends)
        t = Signal(range(max(2, T)))
        w = Signal(range(max(2, words)))
        state = Signal(LFSR_WIDTH, init=self.seed)
        replay = Signal()                             # frames 1 .. T-1: pixels from memory, ready from the read
        outputs, leap = leap_matrices(simd * bits)
        r_bits = Cat(*_xor_rows(outputs, state))
        next_state = Cat(*_xor_rows(leap, state))
        pixel = Signal(data.ArrayLayout(unsigned(bits), simd))
        m.d.comb += pixel.eq(Mux(replay, rd.data, self.pixels.payload))
        for j in range(simd):                        # lane j's threshold: bits j*bits .. of this word's stream
            m.d.comb += self.spikes.payload[j].eq(pixel[j] > r_bits[j * bits:(j + 1) * bits])
        m.d.comb += [self.spikes.valid.eq(Mux(replay, 1, self.pixels.valid)),
                     self.pixels.ready.eq(~replay & self.spikes.ready)]
        fire = self.spikes.valid & self.spikes.ready
        last_word = w == words - 1
        next_w = Mux(fire, Mux(last_word, 0, w + 1), w)
        m.d.comb += [rd.addr.eq(next_w), wr.addr.eq(w), wr.data.eq(self.pixels.payload), wr.en.eq(fire & ~replay)]
        with m.If(fire):
            m.d.sync += [w.eq(next_w), state.eq(next_state)]
            with m.If(last_word):
                with m.If(t == T - 1):                # the sample's last frame: back to the seed, take pixels
                    m.d.sync += [t.eq(0), replay.eq(0), state.eq(self.seed)]
                with m.Else():
                    m.d.sync += [t.eq(t + 1), replay.eq(1)]
        return m
