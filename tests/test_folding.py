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
    from flipspike.gen.cycle_model import fold_cycles, layer_cycles
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
