"""Package boundaries: which package may import which, and what each may not know.

    ir    numpy only: the description, its plan, the number formats, the protocols
    sw    torch + ir (no Amaranth)          hw    Amaranth + ir (no torch)
    host  pyserial + ir (neither torch nor Amaranth)
    gen   planners, synthesis, bitstreams, reports: ir, hw, sw
    sim   co-simulation: ir, hw, sw, host (not gen: it runs what it is handed)
    api, cli (the package top): everything

The import graph is read from the source (every import, also those inside functions), so a lazy import
cannot hide an edge; the runtime checks then show what importing a module really loads.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ir", "sw", "hw", "gen", "sim", "host")
ALLOWED = {
    "ir": set(),
    "sw": {"ir"},
    "hw": {"ir"},
    "host": {"ir"},
    "gen": {"ir", "hw", "sw"},
    "sim": {"ir", "hw", "sw", "host"},
    "top": set(PACKAGES),
}
#: third-party packages a package must not import, anywhere in its source
FORBIDDEN = {"ir": {"torch", "amaranth", "cocotb", "serial"}, "sw": {"amaranth", "cocotb"},
             "hw": {"torch", "cocotb"}, "host": {"torch", "amaranth", "cocotb"}}


def package_of(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else "top"


def imports(path: Path, root: Path = ROOT) -> list[str]:
    """Dotted names of every module ``path`` imports (relative imports resolved inside flipspike)."""
    pkg = package_of(path, root)
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.append(node.module or "")
            elif node.level == 1:
                base = "flipspike" if pkg == "top" else f"flipspike.{pkg}"
                names.append(f"{base}.{node.module}" if node.module else base)
            else:
                names.append(f"flipspike.{node.module}" if node.module else "flipspike")
    return names


def sources(root: Path = ROOT):
    files = list(root.glob("*.py"))
    for pkg in PACKAGES:
        files += sorted((root / pkg).glob("*.py"))
    return files


def package_edges(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(from package, to package) -> the files that make the edge."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sources(root):
        src = package_of(path, root)
        for name in imports(path, root):
            parts = name.split(".")
            if parts[0] != "flipspike" or len(parts) < 2:
                continue
            dst = parts[1] if parts[1] in PACKAGES else "top"
            if dst != src:
                edges.setdefault((src, dst), []).append(path.relative_to(root).as_posix())
    return edges


def test_packages_import_only_what_they_may():
    bad = {f"{a} -> {b}": files for (a, b), files in package_edges().items() if b not in ALLOWED[a]}
    assert not bad, f"imports across a package boundary: {bad}"


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for a, b in package_edges():
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in list(graph):
        if node not in state:
            visit(node, [node])


def test_the_scan_sees_lazy_and_relative_imports(tmp_path):
    """The scan is not vacuous: a function-local import of gen inside sim, and a relative import from the
    package top, are edges it reports."""
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "probe.py").write_text("def f():\n    from flipspike.gen import estimate\n    return estimate\n")
    (tmp_path / "top.py").write_text("from .hw import verilog\n")
    edges = package_edges(tmp_path)
    assert ("sim", "gen") in edges and ("top", "hw") in edges


@pytest.mark.parametrize("pkg", sorted(FORBIDDEN))
def test_third_party_imports(pkg):
    bad = [(p.name, n) for p in sorted((ROOT / pkg).glob("*.py")) for n in imports(p)
           if n.split(".")[0] in FORBIDDEN[pkg]]
    assert not bad


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


@pytest.mark.parametrize("module,forbidden", [
    ("flipspike", {"torch", "amaranth", "numpy"}),          # the API loads on first use
    ("flipspike.hw.accelerator", {"torch"}),
    ("flipspike.hw.verilog", {"torch"}),
    ("flipspike.ir", {"torch", "amaranth"}),
    ("flipspike.ir.plan", {"torch", "amaranth"}),
    ("flipspike.ir.cycle_model", {"torch", "amaranth"}),
    ("flipspike.ir.host_protocol", {"torch", "amaranth"}),
    ("flipspike.gen.estimate", {"torch", "amaranth"}),
    ("flipspike.gen.autofold", {"torch", "amaranth"}),
    ("flipspike.host.driver", {"torch", "amaranth"}),
    ("flipspike.sw.integer", {"amaranth"}),
    ("flipspike.sw.train", {"amaranth"}),
    ("flipspike.sw.export", {"amaranth"}),
])
def test_does_not_import(module, forbidden):
    assert not imported_after(module) & forbidden


def test_bench_imports_neither_torch_nor_amaranth():
    # the cocotb bench runs inside the simulator: keep it light (cocotb itself is stubbed out here)
    code = ("import sys, types; sys.modules['cocotb'] = types.SimpleNamespace(test=lambda *a, **k: (lambda f: f));"
            "[sys.modules.setdefault(m, types.ModuleType(m)) for m in ('cocotb.clock', 'cocotb.simtime', 'cocotb.triggers')];"
            "sys.modules['cocotb.clock'].Clock = sys.modules['cocotb.simtime'].get_sim_time = None;"
            "t = sys.modules['cocotb.triggers']; t.ClockCycles = t.FallingEdge = t.RisingEdge = None;"
            "import flipspike.sim.bench_accel; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))")
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert not mods & {"torch", "amaranth", "numpy"}


def test_the_api_is_whole():
    """Every name the package promises resolves, and each call returns a dataclass, not a dict."""
    import dataclasses
    import typing

    import flipspike as fs
    from flipspike import api

    for name in fs._API:
        assert getattr(fs, name) is getattr(api, name)
    hints = {name: typing.get_type_hints(getattr(api, name)).get("return")
             for name in ("train", "export", "plan", "synth", "build", "cosim", "import_nir")}
    assert all(dataclasses.is_dataclass(h) for h in hints.values()), hints
