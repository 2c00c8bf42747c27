import pytest

from flipspike.ir import Fold, FoldingError, default_folding, parse_folding
from flipspike.ir.folding import check_fold

import numpy as np
from helpers import random_desc


def test_indivisible_simd_names_the_divisors():
    with pytest.raises(FoldingError, match=r"SIMD=10 does not divide its fan-in n_in=64; choose one of \[1, 2, 4, 8, 16, 32, 64\]"):
        check_fold("fc1", 64, 128, Fold(10, 8))


def test_indivisible_pe():
    with pytest.raises(FoldingError, match="PE=3 does not divide its fan-out n_out=10"):
        check_fold("fc2", 128, 10, Fold(16, 3))


def test_parse_and_default():
    desc = random_desc(np.random.default_rng(0), [64, 128, 10], timesteps=2)
    assert default_folding(desc.layers) == [Fold(16, 8), Fold(16, 5)]
    assert parse_folding("8x4,32x10", desc.layers) == [Fold(8, 4), Fold(32, 10)]
    with pytest.raises(FoldingError, match="one SIMDxPE per layer"):
        parse_folding("8x4", desc.layers)
    with pytest.raises(FoldingError, match="is not SIMDxPE"):
        parse_folding("8x4,big", desc.layers)


def test_target_cycles_picks_the_cheapest_fold_that_fits():
    from flipspike.gen.autofold import fold_for_cycles
    from flipspike.ir.cycle_model import fold_cycles, layer_cycles
    from flipspike.ir.folding import divisors
    from helpers import random_desc
    desc = random_desc(np.random.default_rng(0), [64, 128, 10], timesteps=4)
    for target in (150, 400, 2000):
        folds = fold_for_cycles(desc, target)
        assert max(r["cycles"] for r in layer_cycles(desc, folds)) <= target
        for i, (layer, fold) in enumerate(zip(desc.layers, folds)):   # no fitting fold has fewer lanes
            for simd in divisors(layer.n_in):
                for pe in divisors(layer.n_out):
                    if simd * pe < fold.simd * fold.pe:
                        assert fold_cycles(layer, Fold(simd, pe), 4, i == 0)[0] > target
    with pytest.raises(FoldingError, match="at least"):
        fold_for_cycles(desc, 5)


def test_event_driven_plan_from_spikes_matches_the_hardware():
    """--event --target-cycles plans event-driven layers from the spikes they receive: the cycles it
    expects for the chosen fold are what the hardware (Amaranth's simulator) measures on those inputs,
    and where the dense model alone would need more lanes for the target, the plan takes fewer."""
    from flipspike.gen.activity import input_spikes
    from flipspike.gen.autofold import fold_for_cycles
    from flipspike.ir.cycle_model import layer_cycles
    from flipspike.ir.plan import PIPELINE_DRAIN
    from flipspike.sim.pysim import run_pysim
    from helpers import random_pixels

    rng = np.random.default_rng(3)
    desc = random_desc(rng, [16, 24, 6], timesteps=3, input_bits=3)
    x = random_pixels(rng, desc, 6)
    spikes = input_spikes(desc, x, [1])
    active = spikes[1].mean(axis=(0, 1)).sum()                       # mean active inputs per step
    assert 0 < active < desc.layers[1].n_in / 2                      # (sparse enough to matter)
    target = 54                         # cycles per inference: dense takes 8x1 for it, the spikes allow 1x3e
    planned = fold_for_cycles(desc, target, spikes)
    dense = fold_for_cycles(desc, target)
    assert planned[1].event and not dense[1].event
    assert planned[1].simd * planned[1].pe < dense[1].simd * dense[1].pe
    expected = layer_cycles(desc, planned, spikes)[1]
    assert expected["expected"] and expected["cycles"] <= target
    measured = np.mean([s["counters"][1]["cycles"] for s in run_pysim(desc, planned, x, stream=False)["samples"]])
    # one sample at a time the layer also drains after its last step, which a stream hides
    assert abs(measured - (expected["cycles"] + PIPELINE_DRAIN)) <= 0.05 * measured, (measured, expected)


def test_window_wide_simd_spans_a_rectangle_of_the_kernel():
    """A convolution's SIMD may go beyond its input channels where the word covers kernel positions of one
    row (m divides k) or whole rows: then its weights stay one contiguous run of the (ky, kx, c) row."""
    from flipspike.ir.folding import simd_options, window_span, with_event
    from flipspike.ir.plan import LayerPlan
    from helpers import random_conv_desc
    desc = random_conv_desc(np.random.default_rng(0), (6, 6, 1), [{"channels": 4, "kernel": 3, "padding": 1},
                            {"channels": 4, "kernel": 3}], 3, timesteps=2)
    conv = desc.layers[1]                                        # 4 input channels, 3x3
    assert simd_options(conv) == [1, 2, 4, 12, 36]               # within a pixel; a kernel row; the window
    assert [window_span(conv, s) for s in (4, 12, 36, 8, 24)] == [(1, 1), (1, 3), (3, 3), None, None]
    plan = LayerPlan(conv, Fold(12, 2))
    assert (plan.ports, plan.port_simd, plan.f_in, plan.cg) == (3, 4, 3, 1)
    assert plan.window_offsets() == [(0, 0, 0), (1, 0, 0), (2, 0, 0)]
    assert plan.port_offsets() == [(0, 0), (0, 1), (0, 2)]
    # the word's weights, port by port, are the weight row's (ky, kx, c) columns in order
    for sf, (ky, kx, _) in enumerate(plan.window_offsets()):
        for j, (dy, dx) in enumerate(plan.port_offsets()):
            first_column = ((ky + dy) * 3 + kx + dx) * 4
            assert first_column == sf * 12 + j * plan.port_simd
    with pytest.raises(FoldingError, match=r"SIMD=8 neither divides its 4 input channels .* choose one of "
                                           r"\[1, 2, 4, 12, 36\]"):
        parse_folding("1x4,8x4,4x3", desc.layers)
    with pytest.raises(FoldingError, match="an event-driven convolution skips words pixel by pixel"):
        parse_folding("1x4,12x4e,4x3", desc.layers)
    # --event leaves a window-wide layer dense
    assert with_event(desc.layers, parse_folding("1x4,12x4,4x3", desc.layers)) == [
        Fold(1, 4), Fold(12, 4), Fold(4, 3, True)]


def test_window_wide_folds_reach_below_the_conv_floor():
    """The planner takes a window-wide word only where no word within a pixel reaches the target with as
    few lanes: a target below the layer's floor at SIMD = C_in, PE = C_out."""
    from flipspike.gen.autofold import fold_for_cycles
    from flipspike.ir.cycle_model import layer_cycles
    from helpers import random_conv_desc
    desc = random_conv_desc(np.random.default_rng(0), (8, 8, 1), [{"channels": 4, "kernel": 1},
                            {"channels": 4, "kernel": 3, "padding": 1, "pool": 2}], 3, timesteps=2)
    floor = layer_cycles(desc, [Fold(1, 4), Fold(4, 4), Fold(64, 3)])[1]["cycles"]
    assert fold_for_cycles(desc, floor)[1] == Fold(4, 4)         # reachable within a pixel: one port
    fast = fold_for_cycles(desc, floor // 2)
    assert fast[1].simd > 4 and layer_cycles(desc, fast)[1]["cycles"] <= floor // 2
