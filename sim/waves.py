"""A GTKWave save file for a co-simulation's FST: the design's signals grouped by layer.

Amaranth names each submodule's Verilog module after its place in the hierarchy
(``flipspike_top.layer0.synapses``), and Verilator's trace scopes follow it; so the
declarations of every module give the names GTKWave needs. Amaranth's ``$``-numbered temporaries are
left out.
"""

from __future__ import annotations

import re
from pathlib import Path

from flipspike.ir.files import write_text_atomic

_MODULE = re.compile(r"^module\s+\\?(\S+)\s*\(", re.M)
_DECL = re.compile(r"^\s*(?:input|output|wire|reg)\s+(?:signed\s+)?(\[(\d+):(\d+)\]\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[;=]", re.M)


def module_signals(verilog: str) -> dict[str, list[tuple[str, int]]]:
    """Scope path (``flipspike_top.layer0``) -> [(signal, width)] in declaration order."""
    out = {}
    starts = [(m.group(1), m.end()) for m in _MODULE.finditer(verilog)]
    for k, (name, start) in enumerate(starts):
        end = starts[k + 1][1] if k + 1 < len(starts) else len(verilog)
        body = verilog[start:end]
        seen, sigs = set(), []
        for d in _DECL.finditer(body):
            sig = d.group(4)
            if sig in seen or re.fullmatch(r"_\d+_", sig):          # yosys temporaries: not traced
                continue
            seen.add(sig)
            sigs.append((sig, int(d.group(2)) - int(d.group(3)) + 1 if d.group(1) else 1))
        out[name] = sigs
    return out


def gtkw_text(verilog: str, fst: Path, top: str) -> str:
    scopes = module_signals(verilog)
    lines = [f'[dumpfile] "{fst.resolve()}"', "[timestart] 0"]

    def signal_lines(scope):
        for sig, width in scopes[scope]:
            name = f"{scope}.{sig}" + (f"[{width - 1}:0]" if width > 1 else "")
            lines.extend(["@22" if width > 1 else "@28", name])

    def group(title, members):
        lines.extend(["@800200", f"-{title}"])
        for scope in members:
            signal_lines(scope)
        lines.extend(["@1000200", f"-{title}"])

    group("top ports", [top])
    children = sorted({s.split(".")[1] for s in scopes if s.count(".") >= 1 and s.startswith(top + ".")},
                      key=lambda c: (not c.startswith("layer"), c))
    for child in children:
        group(child, [s for s in scopes if s == f"{top}.{child}" or s.startswith(f"{top}.{child}.")])
    return "\n".join(lines) + "\n"


def write_gtkw(verilog: Path, fst: Path, top: str) -> Path:
    """``fst`` with ``.gtkw``: open with ``gtkwave FST.gtkw``."""
    return write_text_atomic(Path(fst).with_suffix(".gtkw"), gtkw_text(Path(verilog).read_text(), Path(fst), top))
