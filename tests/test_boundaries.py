"""Package boundaries: hw knows nothing of torch, sw nothing of Amaranth, the description needs neither."""

import subprocess
import sys

import pytest


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


@pytest.mark.parametrize("module,forbidden", [
    ("flipspike.hw.accelerator", {"torch"}),
    ("flipspike.gen.design", {"torch"}),
    ("flipspike.ir", {"torch", "amaranth"}),
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
