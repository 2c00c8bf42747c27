"""``verilator --lint-only -Wall`` on a generated design, with its one waiver file."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .verilator import find_verilator

from flipspike.hw.verilog import load_design


@dataclass
class LintReport:
    ok: bool
    output: str


def lint(design_dir: Path) -> LintReport:
    design = load_design(design_dir)
    cmd = [find_verilator(), "--lint-only", "-Wall", str(design.waivers), str(design.verilog),
           "--top-module", design.config["top"]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return LintReport(proc.returncode == 0 and "%Warning" not in proc.stderr, (proc.stdout + proc.stderr).strip())
