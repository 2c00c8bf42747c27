"""``flipspike compare``: train several methods on one architecture and tabulate what the papers report.

One run directory per method under ``out``; ``summary.json`` and ``summary.md`` beside them. SEI
distils from the ``fp`` run of the same comparison when there is one (so the teacher is trained once).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from flipspike.ir.files import write_text_atomic

from .model import ModelConfig
from .train import TrainConfig, train


def compare(configs: dict[str, tuple[ModelConfig, TrainConfig]], out: str | Path, *, resume: bool = False,
            progress: bool = True) -> dict:
    out = Path(out)
    order = sorted(configs, key=lambda m: m != "fp")                  # fp first: SEI's teacher
    rows = {}
    for method in order:
        model_cfg, cfg = configs[method]
        if method == "sei" and "fp" in configs and not cfg.teacher:
            cfg = replace(cfg, teacher=str(out / "fp"))
        metrics = train(model_cfg, cfg, out / method, progress=progress, resume=resume)
        rows[method] = summarize(metrics)
    any_cfg = next(iter(configs.values()))
    summary = {"dataset": any_cfg[1].dataset, "arch": any_cfg[0].arch, "timesteps": any_cfg[0].timesteps,
               "epochs": any_cfg[1].epochs, "seed": any_cfg[1].seed,
               "methods": {m: rows[m] for m in configs}}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    write_text_atomic(out / "summary.md", summary_markdown(summary) + "\n")
    return summary


def summarize(metrics: dict) -> dict:
    """One row of the comparison from a run's metrics.json."""
    epochs = metrics["epochs"]
    last = epochs[-1]
    counts = metrics["binary_weights"]
    flips = sum(r * n for r, n in zip(last["flip_ratio_epoch"], counts))
    return {
        "test_accuracy": last["test_accuracy"],
        "best_test_accuracy": max(e["test_accuracy"] for e in epochs),
        "model_bytes": metrics["model_bytes"],
        "flips_last_epoch": int(round(flips)),
        "flip_ratio_last_epoch": flips / sum(counts) if counts else 0.0,
        "firing_rate": float(np.mean(last["firing_rate"])) if last["firing_rate"] else 0.0,
        "sops": last["sops_total"],
        "peak_graph_mb": max(e["peak_graph_mb"] for e in epochs),
        "seconds_per_epoch": float(np.mean([e["seconds"] for e in epochs])),
        "curves": {"test_accuracy": [e["test_accuracy"] for e in epochs],
                   "flip_ratio": [_mean_ratio(e["flip_ratio_epoch"], counts) for e in epochs]},
    }


def _mean_ratio(ratios: list[float], counts: list[int]) -> float:
    return float(sum(r * n for r, n in zip(ratios, counts)) / sum(counts)) if counts else 0.0


def summary_markdown(summary: dict) -> str:
    head = (f"# {summary['dataset']}, {summary['arch']}, T={summary['timesteps']}, {summary['epochs']} epochs, "
            f"seed {summary['seed']}\n\n"
            "| method | test accuracy | model bytes | flips in last epoch | firing rate | SOPs / inference "
            "| peak graph memory | s / epoch |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for method, r in summary["methods"].items():
        lines.append(f"| {method} | {100 * r['test_accuracy']:.2f} % | {r['model_bytes']} | {r['flips_last_epoch']} "
                     f"({100 * r['flip_ratio_last_epoch']:.2f} %) | {r['firing_rate']:.3f} | {r['sops']:.0f} "
                     f"| {r['peak_graph_mb']:.2f} MB | {r['seconds_per_epoch']:.2f} |")
    return "\n".join(lines)
