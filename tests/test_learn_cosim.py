"""On-chip learning through the whole accelerator: the flip unit on the output layer, updated over the
load bus, read back and compared with the integer rule after every update."""

import json

import numpy as np
from hypothesis import given, settings, strategies as st

from flipspike.cli import main
from flipspike.hw.verilog import generate
from flipspike.sim.lint import lint
from flipspike.ir.learning import Learning
from flipspike.ir import Fold
from flipspike.ir.learning import FlipRule
from flipspike.sim.learn import learn_cosim, random_updates

from helpers import random_desc, random_pixels


def test_thousand_random_updates_under_verilator(build_root):
    rng = np.random.default_rng(42)
    desc = random_desc(rng, [8, 6, 6], timesteps=3)
    folds = [Fold(4, 3), Fold(3, 2)]
    rule = FlipRule(momentum_bits=7, rate_shift=2, grad_shift=2, threshold=5, reset_on_flip=True, delta_bits=5,
                    trace_bits=3)
    x = random_pixels(rng, desc, 5)
    report = learn_cosim(desc, folds, rule, random_updates(rng, desc.layers[-1], rule, 1000), x_eval=x,
                         build_root=build_root)
    assert report["updates"] == 1000 and report["flips"] > 500
    assert report["mismatches"] == 0, report["mismatched_updates"]
    assert report["cycles_per_update"] == report["cycles_per_update_model"] == 6 + 1


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2 ** 31), mbits=st.integers(3, 10), k=st.integers(1, 3), kg=st.integers(0, 3),
       reset=st.booleans(), gamma=st.integers(0, 3), tbso=st.booleans(), theta2=st.integers(0, 4))
def test_random_rules_in_the_accelerator(seed, mbits, k, kg, reset, gamma, tbso, theta2):
    rng = np.random.default_rng(seed)
    desc = random_desc(rng, [6, 4, 3], timesteps=2, input_bits=3)
    rule = FlipRule(momentum_bits=mbits, rate_shift=k, grad_shift=kg, threshold=min(gamma, 2 ** (mbits - 1) - 1),
                    reset_on_flip=reset, delta_bits=4, trace_bits=2, tbso=tbso, v_bits=12, v_rate_shift=2,
                    v_in_shift=2, threshold2=theta2)
    report = learn_cosim(desc, [Fold(3, 2), Fold(2, 3)], rule, random_updates(rng, desc.layers[-1], rule, 15),
                         x_eval=random_pixels(rng, desc, 2), simulator="pysim")
    assert report["mismatches"] == 0
    assert report["cycles_per_update"] == report["cycles_per_update_model"]


def test_design_with_flip_unit_passes_lint(tmp_path):
    desc = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2)
    design = generate(desc, [Fold(4, 2), Fold(3, 4)], tmp_path / "rtl", Learning(1, FlipRule()))
    assert design.config["ports"]["learn"]["rule"] == FlipRule().as_dict()
    result = lint(design.dir)
    assert result.ok, result.output


def test_on_device_adaptation(digits_desc, build_root, tmp_path, capsys):
    """The trained digits network with its output layer randomized learns it back on chip, from labels
    alone: test accuracy measured in co-simulation goes from chance to >= 80 % in two passes over the
    training images, bit-exact throughout. (How far one pass gets depends on the starting network, which
    float rounding in training moves from one CPU to another: 90.8 % on one, 71.1 % on another; the rule's
    instability is issue 21's.)"""
    net, out = tmp_path / "net.json", tmp_path / "learn.json"
    digits_desc.save(net)
    assert main(["cosim", str(net), "--learn", "--reinit-output", "--updates", "2874", "--json", str(out),
                 "--build-dir", str(build_root)]) == 0
    report = json.loads(out.read_text())
    assert report["updates"] == 2874 and report["mismatches"] == 0
    assert report["acc_before"] <= 0.2 and report["acc_after"] >= 0.8
    for key in ("updates", "flips", "mismatches", "cycles_per_update", "acc_before", "acc_after"):
        assert key in report
    assert "mismatches: 0" in capsys.readouterr().out


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2 ** 31), T=st.integers(1, 4), pe=st.sampled_from([1, 2, 4]),
       simd=st.sampled_from([1, 3, 6]))
def test_learning_from_labels_on_chip(seed, T, pe, simd):
    """Gradient source (b): the output layer learns from labels alone. Its errors come from the class it
    just computed, its traces from the spike counts it saw; weights, momenta and flips after every
    update equal the integer rule driven by host-computed errors and traces."""
    rng = np.random.default_rng(seed)
    desc = random_desc(rng, [6, 6, 4], timesteps=T, input_bits=3, weight_density=0.5)
    rule = FlipRule(momentum_bits=6, rate_shift=2, threshold=3, delta_bits=4, trace_bits=3, tbso=seed % 3 == 0,
                    v_bits=14, v_rate_shift=3, v_in_shift=3, threshold2=2)
    x = random_pixels(rng, desc, 12)
    y = rng.integers(0, 4, 12)
    report = learn_cosim(desc, [Fold(3, 2), Fold(simd, pe)], rule, onchip=(x, y), x_eval=x, simulator="pysim")
    assert report["mismatches"] == 0, report["mismatched_updates"]
    assert report["source"] == "on-chip labels"


def test_learning_from_labels_on_chip_flips_weights():
    """A case known to learn (errors made, weights flipped): on chip and on the host, the same flips."""
    rng = np.random.default_rng(0)
    desc = random_desc(rng, [6, 6, 4], timesteps=3, input_bits=3)
    rule = FlipRule(momentum_bits=6, rate_shift=2, threshold=3, delta_bits=4, trace_bits=3)
    x, y = random_pixels(rng, desc, 12), rng.integers(0, 4, 12)
    report = learn_cosim(desc, [Fold(3, 2), Fold(3, 2)], rule, onchip=(x, y), x_eval=x, simulator="pysim")
    assert report["mismatches"] == 0 and report["flips"] > 0
