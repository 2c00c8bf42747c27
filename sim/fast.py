"""The compiled bench: the Verilated accelerator clocked by a C++ main (``fast_bench.cpp``).

It runs the cocotb bench's job protocol (loads, samples one at a time, monitor reads, the samples back
to back) edge for edge, so its observations are the cocotb bench's, but no Python runs while the
model is clocked: simulation runs at Verilator's own speed. Learning steps and waveforms stay with the
cocotb bench (:mod:`flipspike.sim.bench_accel`), which ``cosim.run_hardware`` picks for them.

The stimulus goes to the program's stdin as hexadecimal tokens, its observations come back on stdout
and are decoded here with the same port map (:mod:`flipspike.sim.samples`) the cocotb bench uses.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from flipspike.ir.formats import MONITOR_LATENCY

from .samples import counter_delta, decode_counters, decode_result, pack_word, stream_summary
from .verilator import (BUILD_FLAGS, SimulationFailed, _env_with_verilator, _tail, cached_build, content_key,
                        find_verilator)

BENCH_SOURCE = Path(__file__).with_name("fast_bench.cpp")
PROGRAM = "fast_bench"
# C++ optimisation of the model and the bench (verilated.mk's default is -Os)
MAKE_FLAGS = ["OPT_FAST=-O2", "OPT_SLOW=-O1", "OPT_GLOBAL=-O2"]


def build_fast(verilog: Path, waivers: Path, top: str, build_root: Path, *, jobs: int = 2) -> Path:
    """Build (or reuse) the compiled bench for ``verilog``; returns the program's path."""
    bench = BENCH_SOURCE.read_text()
    header = f'#include "V{top}.h"\n#define TOP_CLASS V{top}\n#define MONITOR_LATENCY {MONITOR_LATENCY}\n'
    key = content_key(verilog.read_text(), waivers.read_text(), bench, header, " ".join(BUILD_FLAGS + MAKE_FLAGS))
    env = _env_with_verilator()

    def fill(staging: Path) -> None:
        for src in (verilog, waivers, BENCH_SOURCE):
            shutil.copyfile(src, staging / src.name)
        (staging / "fast_top.h").write_text(header)
        cmd = [find_verilator(), "--cc", "--exe", "--build", "-j", str(jobs), "--top-module", top,
               "-Mdir", "obj", "-o", f"../{PROGRAM}", *BUILD_FLAGS, *(a for f in MAKE_FLAGS for a in ("-MAKEFLAGS", f)),
               waivers.name, verilog.name, BENCH_SOURCE.name]
        log = staging / "build.log"
        with open(log, "w") as out:
            done = subprocess.run(cmd, cwd=staging, env=env, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0 or not (staging / PROGRAM).is_file():
            raise SimulationFailed(f"the compiled bench did not build (exit {done.returncode}); last lines of its "
                                   f"log:\n{_tail(log)}")
        shutil.rmtree(staging / "obj", ignore_errors=True)     # objects: 10s of MB, not needed to run

    return cached_build(Path(build_root) / f"{top}-fast-{key}", PROGRAM, fill) / PROGRAM


def encode_jobs(jobs: list[dict], ports: dict) -> str:
    """The stdin of the compiled bench (see fast_bench.cpp)."""
    bits = ports["pixels"]["bits"]
    out = [f"{len(jobs):x}"]
    for job in jobs:
        loads = list(job.get("loads", ()))
        out.append(f"{len(loads):x}")
        out.extend(f"{int(a):x} {int(d):x}" for a, d in loads)
        out.append(f"{len(job['samples']):x}")
        for words in job["samples"]:
            out.append(f"{len(words):x} " + " ".join(f"{pack_word(w, bits):x}" for w in words))
        peek = list(job.get("peek", ()))
        out.append(f"{len(peek):x}")
        out.extend(f"{int(a):x}" for a in peek)
        out.append("1" if job.get("stream", True) else "0")
    return "\n".join(out) + "\n"


def decode_observations(text: str, ports: dict) -> list[dict]:
    """The cocotb bench's observations from the compiled bench's stdout."""
    jobs: list[dict] = []
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind == "job":
            jobs.append({"samples": [], "stream": None})
        elif kind == "sample":
            before, after, payload, latency = fields
            jobs[-1]["samples"].append({
                **decode_result(int(payload, 16), ports),
                "counters": counter_delta(decode_counters(int(before, 16), ports),
                                          decode_counters(int(after, 16), ports), ports),
                "latency": int(latency)})
        elif kind == "peek":
            jobs[-1]["peek"] = [int(v, 16) for v in fields]
        elif kind == "stream":
            pairs = list(zip(fields[1::2], fields[2::2]))
            jobs[-1]["stream"] = stream_summary([decode_result(int(p, 16), ports) for p, _ in pairs],
                                                [float(a) for _, a in pairs])
        elif kind == "cycles":
            jobs[-1]["simulated_cycles"] = int(fields[0])
    return jobs


def run_fast(program: Path, ports: dict, jobs: list[dict]) -> list[dict]:
    """Run jobs (the cocotb bench's format, without learning steps) on a compiled bench."""
    if any(job.get("updates") for job in jobs):
        raise ValueError("the compiled bench does not run learning steps; use the cocotb bench for them")
    done = subprocess.run([str(program)], input=encode_jobs(jobs, ports), capture_output=True, text=True)
    if done.returncode != 0:
        raise SimulationFailed(f"the compiled bench failed (exit {done.returncode}): {done.stderr[-2000:]}")
    observed = decode_observations(done.stdout, ports)
    if len(observed) != len(jobs) or any("simulated_cycles" not in o for o in observed):
        raise SimulationFailed(f"the compiled bench stopped early; its output ended with: {done.stdout[-500:]}")
    return observed
