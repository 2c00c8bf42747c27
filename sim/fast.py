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


def build_fast(verilog: Path, waivers: Path, top: str, build_root: Path, *, jobs: int = 2,
               aer: bool = False) -> Path:
    """Build (or reuse) the compiled bench for ``verilog`` (``aer``: a build whose input is the AER port);
    returns the program's path."""
    bench = BENCH_SOURCE.read_text()
    port = "events" if aer else "pixels"
    header = (f'#include "V{top}.h"\n#define TOP_CLASS V{top}\n#define MONITOR_LATENCY {MONITOR_LATENCY}\n'
              + "".join(f"#define IN_{name.upper()} {port}___05F{name}\n" for name in ("payload", "valid", "ready"))
              + ("#define AER 1\n" if aer else ""))
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
    """The stdin of the compiled bench (see fast_bench.cpp). AER words come packed (``samples.event_words``)."""
    bits = None if "events" in ports else ports["pixels"]["bits"]
    out = [f"{len(jobs):x}"]
    for job in jobs:
        loads = list(job.get("loads", ()))
        out.append(f"{len(loads):x}")
        out.extend(f"{int(a):x} {int(d):x}" for a, d in loads)
        out.append(f"{len(job['samples']):x}")
        for words in job["samples"]:
            out.append(f"{len(words):x} " + " ".join(f"{w if bits is None else pack_word(w, bits):x}" for w in words))
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
        elif kind == "dropped":
            jobs[-1]["aer_dropped"] = int(fields[0], 16)
        elif kind == "cycles":
            jobs[-1]["simulated_cycles"] = int(fields[0])
    return jobs


def run_fast(program: Path, ports: dict, jobs: list[dict], *, shards: int = 1, progress=None) -> list[dict]:
    """Run jobs (the cocotb bench's format, without learning steps) on a compiled bench.

    ``shards`` > 1 splits every job's samples into that many contiguous parts, each run by its own
    process of the same program (every process loads what each job loads, so each part meets the same
    contents), and merges the observations in order: one co-simulation on several cores. Jobs that read
    the monitor after their samples (``peek``) run whole, in one process. ``progress``: called with the
    number of samples just finished (one at a time, then back to back), e.g. a progress bar's update."""
    if any(job.get("updates") for job in jobs):
        raise ValueError("the compiled bench does not run learning steps; use the cocotb bench for them")
    if any(job.get("peek") for job in jobs):
        shards = 1
    most = max((len(job["samples"]) for job in jobs), default=0)
    shards = max(1, min(shards, most))
    parts = [[{**job, "samples": job["samples"][k * len(job["samples"]) // shards:
                                                (k + 1) * len(job["samples"]) // shards]} for job in jobs]
             for k in range(shards)]
    outputs = _run_processes(program, [encode_jobs(part, ports) for part in parts], progress)
    observed_parts = []
    for part, text in zip(parts, outputs):
        observed = decode_observations(text, ports)
        if len(observed) != len(part) or any("simulated_cycles" not in o for o in observed):
            raise SimulationFailed(f"the compiled bench stopped early; its output ended with: {text[-500:]}")
        observed_parts.append(observed)
    return [merge_observations([obs[j] for obs in observed_parts]) for j in range(len(jobs))]


def _run_processes(program: Path, inputs: list[str], progress) -> list[str]:
    """One process per input, all at once; their stdout, in order. Counts finished samples as they come
    (the bench flushes a line per sample) where ``progress`` is given."""
    import threading

    procs = [subprocess.Popen([str(program)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in inputs]
    outputs, errors = [[] for _ in procs], [""] * len(procs)
    lock = threading.Lock()

    def pump(k: int) -> None:
        proc = procs[k]
        feeder = threading.Thread(target=_feed, args=(proc, inputs[k]), daemon=True)
        feeder.start()
        for line in proc.stdout:
            outputs[k].append(line)
            if progress is not None and line.startswith(("sample ", "streamed ")):
                with lock:
                    progress(int(line.split()[1]) if line.startswith("streamed ") else 1)
        errors[k] = proc.stderr.read()
        proc.wait()
        feeder.join()

    threads = [threading.Thread(target=pump, args=(k,), daemon=True) for k in range(len(procs))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, err in zip(procs, errors):
        if proc.returncode != 0:
            raise SimulationFailed(f"the compiled bench failed (exit {proc.returncode}): {err[-2000:]}")
    return ["".join(lines) for lines in outputs]


def _feed(proc, text: str) -> None:
    try:
        proc.stdin.write(text)
        proc.stdin.close()
    except (BrokenPipeError, ValueError):
        pass                          # (the program died: its exit status says why)


def merge_observations(parts: list[dict]) -> dict:
    """One job's observations from its shards (in sample order; a job with monitor reads is never split):
    the samples and the streamed results concatenated, the steady-state interval over every shard's stream (their spans
    over their intervals), the simulated cycles summed."""
    if len(parts) == 1:
        return parts[0]
    merged = {"samples": [s for p in parts for s in p["samples"]],
              "simulated_cycles": sum(p["simulated_cycles"] for p in parts)}
    if "aer_dropped" in parts[0]:                           # each process's port counted its own samples' events
        merged["aer_dropped"] = sum(p["aer_dropped"] for p in parts)
    streams = [p["stream"] for p in parts if p.get("stream") is not None]
    if streams:
        spans = [(st["cycles_per_inference"] * (len(st["results"]) - 1), len(st["results"]) - 1)
                 for st in streams if st["cycles_per_inference"] is not None]
        gaps = sum(n for _, n in spans)
        merged["stream"] = {"results": [r for st in streams for r in st["results"]],
                            "cycles_per_inference": sum(c for c, _ in spans) / gaps if gaps else None}
    else:
        merged["stream"] = None
    return merged
