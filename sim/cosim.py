"""Co-simulation: the generated Verilog (or the Amaranth model) against the integer reference.

The caller's process computes expectations with the integer reference (torch); the simulator only
streams samples and reports what the hardware produced. One build per distinct design, reused.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from flipspike.hw.verilog import TOP, generate
from flipspike.ir import NetDesc
from flipspike.ir.aer import EventFormat, frames_from_events
from flipspike.ir.cycle_model import layer_cycles, sample_cycles, stream_cycles
from flipspike.ir.errors import ConfigError, FlipspikeError
from flipspike.ir.folding import Fold
from flipspike.ir.plan import input_simd
from flipspike.ir.geometry import shape_text
from flipspike.ir.learning import Learning
from flipspike.ir.memory_map import boot_writes, build_shape, load_writes
from flipspike.sw.integer import run_integer_chunks

from .compare import compare
from .samples import event_words, pixel_words
from .waves import write_gtkw

SIMULATORS = ("verilator", "pysim")
#: Verilator benches: "compiled" (a C++ main clocks the model: fast, inference only), "cocotb" (Python
#: coroutines: learning steps and waveforms too), "auto" (compiled where it can).
BENCHES = ("auto", "compiled", "cocotb")


def simulate(desc: NetDesc, folds: list[Fold], x: np.ndarray, *, simulator: str = "verilator",
             build_root: str | Path = "build", template: NetDesc | None = None, target=None,
             bench: str = "auto", primitives: str | None = None, shards: int | None = None,
             progress: bool = False, aer: EventFormat | None = None) -> tuple[dict, dict]:
    """Run samples through hardware holding ``desc``; returns (observations, timings).

    Without ``template`` the hardware is generated from ``desc`` (its memories initialised with its
    contents). With one, it is built from ``template``'s shape and ``desc``'s contents are written over
    the load bus first, so many descriptions of one shape share one build."""
    observed, timings = simulate_jobs([(desc, x)], folds, simulator=simulator, build_root=build_root,
                                      template=template, target=target, bench=bench, primitives=primitives,
                                      shards=shards, progress=progress, aer=aer)
    return observed[0], timings


def simulate_jobs(jobs: list[tuple[NetDesc, np.ndarray]], folds: list[Fold], *, simulator: str = "verilator",
                  build_root: str | Path = "build", template: NetDesc | None = None,
                  target=None, bench: str = "auto", primitives: str | None = None, shards: int | None = None,
                  progress: bool = False, aer: EventFormat | None = None) -> tuple[list[dict], dict]:
    """Several (description, samples) jobs on one build of ``template`` (default: the first description)."""
    if simulator not in SIMULATORS:
        raise ConfigError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    base = template or jobs[0][0]
    loads = []
    for desc, _ in jobs:
        if desc is base:
            loads.append([])
            continue
        if build_shape(desc, folds) != build_shape(base, folds):
            raise FlipspikeError("this description does not fit the build: its shape (sizes, folding, T, widths, "
                                 "leak, reset, frac_bits) differs from the template's; generate a build for it")
        loads.append(load_writes(desc, folds))
    return run_hardware(base, folds, [{"loads": load, "samples": x} for (_, x), load in zip(jobs, loads)],
                        simulator=simulator, build_root=build_root, target=target, bench=bench,
                        primitives=primitives, shards=shards, progress=progress, aer=aer)


def run_hardware(base: NetDesc, folds: list[Fold], jobs: list[dict], *, simulator: str = "verilator",
                 build_root: str | Path = "build", learn: Learning | None = None,
                 waves: Path | None = None, target=None, bench: str = "auto",
                 primitives: str | None = None, shards: int | None = None,
                 progress: bool = False, aer: EventFormat | None = None) -> tuple[list[dict], dict]:
    """Run jobs on the hardware built from ``base`` (with a flip unit if ``learn``); one observation each.

    A job: {"samples": pixels [N, n_in], "loads": load-bus writes, "stream": bool (default True),
    "updates": learning steps, "samples_after": pixels observed after them} -- the bench's job format.
    ``target``: run on a board instead (a :class:`flipspike.host.driver.Board`, real or the serial
    co-simulation's), which first gets ``base``'s contents over its load bus. ``bench``: which Verilator
    bench (see BENCHES). ``primitives="ice40"``: simulate the netlist a board build makes, its SPRAM weights
    as SB_SPRAM256KA instances with yosys' model of the primitive (:mod:`flipspike.sim.primitives`).
    ``shards``: processes of the compiled bench, each running a contiguous part of the samples (None:
    one per core where there are at least SHARD_MIN samples a core); ``progress``: a progress bar on
    stderr. ``aer``: the build takes events (an AER port, :mod:`flipspike.ir.aer`): each job's samples are
    event arrays [N, 4] (x, y, p, t)."""
    if aer is not None and (learn is not None or primitives is not None):
        raise ConfigError("an AER build is co-simulated without on-chip learning and vendor primitives")
    if target is not None and getattr(target, "aer", None) != aer:
        raise ConfigError("the board's build and the co-simulation disagree about AER input: open the board with "
                          "the same aer format (Board(..., aer=...)) or drop it from both")
    if simulator not in SIMULATORS:
        raise ConfigError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    timings = {}
    if target is not None:
        start = time.perf_counter()
        target.write_memory(load_writes(base, folds, learn))
        observed = target.run_jobs(jobs)
        timings["simulate_s"] = time.perf_counter() - start
        return observed, timings
    boot = boot_writes(base, folds)          # SPRAM starts empty: its weights go in first, as on the board
    if boot and jobs:
        jobs = [{**jobs[0], "loads": boot + list(jobs[0].get("loads", ()))}, *jobs[1:]]
    if simulator == "pysim":
        if primitives is not None:
            raise ConfigError("pysim cannot run vendor primitives; co-simulate them with simulator='verilator'")
        from .pysim import run_pysim
        start = time.perf_counter()
        observed = [run_pysim(base, folds, job["samples"], loads=job.get("loads", ()), stream=job.get("stream", True),
                              learn=learn, updates=job.get("updates", ()), samples_after=job.get("samples_after", ()),
                              peek=job.get("peek", ()), aer=aer)
                    for job in jobs]
        timings["simulate_s"] = time.perf_counter() - start
        return observed, timings
    from .fast import build_fast, run_fast
    from .primitives import with_models
    from .verilator import build, find_verilator, run_bench
    find_verilator()                                    # fail early, with the fix, if it is missing
    bench = pick_bench(bench, learn is not None or waves is not None)
    build_root = Path(build_root)
    start = time.perf_counter()
    design = generate(base, folds, build_root / "designs" / "current", learn, vendor=primitives, aer=aer)
    verilog = design.verilog if primitives is None else with_models(design.verilog, primitives)
    timings["generate_s"] = time.perf_counter() - start
    start = time.perf_counter()
    if bench == "compiled":
        program = build_fast(verilog, design.waivers, TOP, build_root / "verilator", aer=aer is not None)
    else:
        build_dir = build(verilog, design.waivers, TOP, build_root / "verilator", trace=waves is not None)
    timings["build_s"] = time.perf_counter() - start
    start = time.perf_counter()
    if aer is None:
        simd = input_simd(base, folds)
        words = lambda samples: [pixel_words(s, simd) for s in samples]
    else:
        words = lambda samples: [event_words(np.asarray(s).reshape(-1, 4).tolist(), design.config["ports"])
                                 for s in samples]
    bench_jobs = [{**job, "samples": words(job["samples"]), "samples_after": words(job.get("samples_after", []))}
                  for job in jobs]
    if bench == "compiled":
        n = sum(len(job["samples"]) * (2 if job.get("stream", True) else 1) for job in bench_jobs)
        with _progress_bar(progress, n) as bar:
            observed = run_fast(program, design.config["ports"], bench_jobs,
                                shards=auto_shards(bench_jobs) if shards is None else shards, progress=bar)
    else:
        observed = run_bench(build_dir, TOP, design.config["ports"], bench_jobs, waves=waves)
    if waves is not None:
        write_gtkw(design.verilog, Path(waves), TOP)
    timings["simulate_s"] = time.perf_counter() - start
    return observed, timings


#: The fewest samples per process worth a shard of their own (a process starts in milliseconds; a
#: sample takes from a few hundred to a hundred thousand cycles, at millions of cycles a second).
SHARD_MIN = 64


def auto_shards(jobs: list[dict]) -> int:
    """One compiled-bench process per core, while each gets SHARD_MIN samples or more."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    most = max((len(job["samples"]) for job in jobs), default=0)
    return max(1, min(cores, most // SHARD_MIN))


@contextlib.contextmanager
def _progress_bar(show: bool, total: int):
    """A tqdm bar over ``total`` samples (yields its update), or nothing (yields None)."""
    if not show:
        yield None
        return
    from tqdm import tqdm
    with tqdm(total=total, unit="sample", desc="co-simulation", file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar.update


def pick_bench(bench: str, learns_or_traces: bool) -> str:
    """The Verilator bench a run uses: ``auto`` is the compiled one unless it must learn or trace."""
    if bench not in BENCHES:
        raise ConfigError(f"unknown bench {bench!r}; choose one of {', '.join(BENCHES)}")
    if bench == "auto":
        return "cocotb" if learns_or_traces else "compiled"
    if bench == "compiled" and learns_or_traces:
        raise ConfigError("the compiled bench runs inference only: use bench='cocotb' for learning or waveforms")
    return bench


def cosim(desc: NetDesc, folds: list[Fold], x: np.ndarray, y: np.ndarray | None = None, *,
          simulator: str = "verilator", build_root: str | Path = "build", hw_desc: NetDesc | None = None,
          template: NetDesc | None = None, target=None, bench: str = "auto", primitives: str | None = None,
          shards: int | None = None, progress: bool = False, aer: EventFormat | None = None) -> dict:
    """Co-simulate and compare with the integer reference of ``desc``. The hardware holds ``hw_desc``
    (default ``desc``): a test passes a mutated description there to show that the comparison catches a
    one-LSB difference. ``template``: see :func:`simulate`. ``target``: a board instead of a simulator
    (see :func:`run_hardware`): the same comparison, against real hardware. ``aer``: the build takes
    events, ``x`` is a list of event arrays [N, 4] per sample, and the reference runs the frames the port's
    rules make of them (:func:`flipspike.ir.aer.frames_from_events`)."""
    start = time.perf_counter()
    observed, timings = simulate(hw_desc or desc, folds, x, simulator=simulator, build_root=build_root,
                                 template=template, target=target, bench=bench, primitives=primitives,
                                 shards=shards, progress=progress, aer=aer)
    if aer is not None:
        x = frames_from_events(x, aer)
    # the reference a chunk at a time (its memory does not grow with the split): its comparison, the cycle
    # model of each sample run alone (as the bench runs them), the per-layer totals and the classes
    diffs, per_sample, ref_cls = [], [], []
    sops_ref, spikes_ref = [0] * len(desc.layers), [0] * len(desc.layers)
    for first, ref in run_integer_chunks(desc, x):
        diffs += compare(ref, observed, first, total=len(x))
        per_sample += sample_cycles(desc, folds, ref)
        ref_cls.append(ref.cls.numpy())
        for i, trace in enumerate(ref.layers):
            sops_ref[i] += int(trace.sops.sum())
            spikes_ref[i] += int(trace.in_spikes.sum())
    model = layer_cycles(desc, folds)
    samples = observed["samples"]
    n = len(samples)
    total_cycles = sum(o["latency"] for o in samples)
    layers = []
    for i, (layer, row) in enumerate(zip(desc.layers, model)):
        layers.append({
            "name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out, "simd": row["simd"], "pe": row["pe"],
            "shape": shape_text(layer.in_shape, layer.output_shape),
            "event": folds[i].event,
            "cycles_measured": sum(o["counters"][i]["cycles"] for o in samples) / n,
            "cycles_model": sum(p[i]["cycles"] for p in per_sample) / n,
            "cycles_dense_model": row["cycles"],
            "issue_cycles_dense": row["issue_cycles"],
            "skipped_measured": sum(o["counters"][i]["skipped"] for o in samples) / n,
            "skipped_model": sum(p[i]["skipped"] for p in per_sample) / n,
            "cycle_model_mismatches": sum(o["counters"][i]["cycles"] != p[i]["cycles"] or
                                          o["counters"][i]["skipped"] != p[i]["skipped"]
                                          for o, p in zip(samples, per_sample)),
            "sops_measured": sum(o["counters"][i]["sops"] for o in samples),
            "sops_ref": sops_ref[i],
            "spikes_measured": sum(o["counters"][i]["in_spikes"] for o in samples),
            "spikes_ref": spikes_ref[i],
        })
    report = {
        "simulator": ("board" if target is not None else
                      f"verilator, {pick_bench(bench, False)} bench" if simulator == "verilator" else simulator),
        "samples": n,
        "mismatches": len({d["sample"] for d in diffs}),
        "mismatch_details": diffs[:20],
        # samples where a layer's busy cycles or skipped words differ from the cycle model's
        "cycle_model_mismatches": sum(any(o["counters"][i]["cycles"] != p[i]["cycles"] or
                                          o["counters"][i]["skipped"] != p[i]["skipped"] for i in range(len(layers)))
                                      for o, p in zip(samples, per_sample)),
        "cycles_per_inference": total_cycles / n,
        "streaming_cycles_per_inference": (observed.get("stream") or {}).get("cycles_per_inference"),
        # (dense layers only: an event-driven one's steps follow each sample's spikes)
        "streaming_cycles_model": (None if any(f.event for f in folds) or
                                   len((observed.get("stream") or {}).get("results", [])) < 2 else
                                   stream_cycles(desc, folds, samples=len(observed["stream"]["results"]),
                                                 warmup=0)),
        "simulated_cycles": observed["simulated_cycles"],
        "layers": layers,
        "folding": [str(f) for f in folds],
        "timesteps": desc.timesteps,
        "timings": {**timings, "total_s": time.perf_counter() - start},
    }
    if aer is not None:         # refused events, counted by the port (each sample runs alone and streamed)
        report["aer_dropped"] = observed.get("aer_dropped")
    if y is not None:
        report["accuracy_hw"] = float(np.mean(np.asarray([o["cls"] for o in samples]) == np.asarray(y)))
        report["accuracy_ref"] = float((np.concatenate(ref_cls) == np.asarray(y)).mean())
    sim_s = timings.get("simulate_s", 0)
    report["cycles_per_second"] = observed["simulated_cycles"] / sim_s if sim_s else None
    return report
