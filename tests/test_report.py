"""flipspike report and the energy estimates."""

import json

import numpy as np
import pytest

import flipspike as fs
from flipspike.cli import main
from flipspike.gen.energy import energy_estimate
from flipspike.ir import default_folding

from helpers import random_desc, random_pixels


def test_energy_is_sops_times_the_ac_energy():
    desc = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2)
    e = energy_estimate(desc, [100.0, 50.0])
    assert e["estimate"] and e["snn_nj"] == pytest.approx(150 * 0.9 / 1000)
    assert e["ann_nj"] == pytest.approx((8 * 6 + 6 * 4) * 4.6 / 1000)


def test_report_collects_training_cosim_and_learning(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--arch", "64-16-10", "--epochs", "2", "--timesteps", "2", "--out", str(run)]) == 0
    rng = np.random.default_rng(1)
    desc = random_desc(rng, [8, 6, 4], timesteps=2)
    x = random_pixels(rng, desc, 3)
    report = fs.cosim(desc, x, fold=default_folding(desc.layers), simulator="pysim").as_dict()
    (tmp_path / "cosim.json").write_text(json.dumps(report))
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert "## Training: stbp 64-16-10" in md and "## Co-simulation (pysim" in md and "nJ per inference" in md
    for png in tmp_path.glob("report_*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    assert len(list(tmp_path.glob("report_*.png"))) == 2
    assert "<table>" in (tmp_path / "report.html").read_text()


def test_report_of_an_empty_directory_is_an_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no metrics.json" in capsys.readouterr().err


def test_report_shows_a_board_build(tmp_path):
    from flipspike.gen.build import board_report
    from flipspike.gen.report_page import build_report
    stat = {"modules": {"top": {"num_cells_by_type": {"SB_LUT4": 3000, "SB_DFF": 1500, "SB_RAM40_4K": 9}}}}
    pnr = {"utilization": {"SB_IO": {"used": 4, "available": 39}},
           "fmax": {"cd_sync.clk": {"achieved": 16.75, "constraint": 12.0}}}
    doc = board_report("icebreaker", "up5k", stat, pnr, 12e6, 1_000_000)
    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "utilization.json").write_text(json.dumps(doc))
    md, _ = build_report(tmp_path)
    text = md.read_text()
    assert "| lut4 | 3000 | 5280 |" in text and "| io | 4 | 39 |" in text
    assert "Fmax 16.75 MHz at a 12 MHz board clock: timing met." in text and "iCE40UP5K: fits." in text
