"""``flipspike compare``: train several methods on one architecture and tabulate what the papers report.

One run directory per method under ``out`` (under ``out/seed<S>`` when several seeds are asked for);
``summary.json`` and ``summary.md`` beside them, with each figure's mean and standard deviation over the
seeds. SEI distils from the ``fp`` run of the same seed when there is one (the teacher is trained once).
A method may carry its own time steps, ``sei@2``: the papers' claim that SEI at T=1-2 comes close to
T=4 is then tested in the same table. ``paper_claims`` says which of the papers' claims the figures hold.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from flipspike.ir.errors import ConfigError
from flipspike.ir.files import write_text_atomic

from .model import ModelConfig
from .train import TrainConfig, train


def method_label(label: str) -> tuple[str, int | None]:
    """``"sei@2"`` -> ("sei", 2); ``"bso"`` -> ("bso", None)."""
    name, at, steps = label.partition("@")
    if not at:
        return name, None
    if not steps.isdigit() or int(steps) < 1:
        raise ConfigError(f"method {label!r}: the time steps after '@' must be a positive integer, e.g. sei@2")
    return name, int(steps)


def compare(configs: dict[str, tuple[ModelConfig, TrainConfig]], out: str | Path, *, resume: bool = False,
            progress: bool = True, seeds: list[int] | None = None) -> dict:
    """Train every (label -> configs) for each seed (default: the configs' own) and summarise."""
    out = Path(out)
    any_cfg = next(iter(configs.values()))
    seeds = list(seeds) if seeds else [any_cfg[1].seed]
    order = sorted(configs, key=lambda m: m != "fp")                  # fp first: SEI's teacher
    per_seed: dict[str, list[dict]] = {m: [] for m in configs}
    for seed in seeds:
        where = out if len(seeds) == 1 else out / f"seed{seed}"
        for label in order:
            model_cfg, cfg = configs[label]
            cfg = replace(cfg, seed=seed)
            if method_label(label)[0] == "sei" and "fp" in configs and not cfg.teacher:
                cfg = replace(cfg, teacher=str(where / "fp"))
            metrics = train(model_cfg, cfg, where / label, progress=progress, resume=resume)
            per_seed[label].append(summarize(metrics))
    summary = {"dataset": any_cfg[1].dataset, "arch": any_cfg[0].arch, "timesteps": any_cfg[0].timesteps,
               "epochs": any_cfg[1].epochs, "seeds": seeds,
               "methods": {m: aggregate(per_seed[m], configs[m][0].timesteps) for m in configs}}
    summary["claims"] = paper_claims(summary)
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
        "flips_total": int(round(sum(sum(r * n for r, n in zip(e["flip_ratio_epoch"], counts)) for e in epochs))),
        "firing_rate": float(np.mean(last["firing_rate"])) if last["firing_rate"] else 0.0,
        "sops": last["sops_total"],
        "peak_graph_mb": max(e["peak_graph_mb"] for e in epochs),
        "peak_rss_mb": max(e.get("peak_rss_mb") or 0.0 for e in epochs),
        "seconds_per_epoch": float(np.mean([e["seconds"] for e in epochs])),
        "curves": {"test_accuracy": [e["test_accuracy"] for e in epochs],
                   "flip_ratio": [_mean_ratio(e["flip_ratio_epoch"], counts) for e in epochs]},
    }


# figures averaged over seeds; each gets a ``<name>_std`` beside its mean
AVERAGED = ("test_accuracy", "best_test_accuracy", "flips_last_epoch", "flip_ratio_last_epoch", "flips_total",
            "firing_rate", "sops", "peak_graph_mb", "peak_rss_mb", "seconds_per_epoch")


def aggregate(rows: list[dict], timesteps: int) -> dict:
    """One method's row over seeds: mean (under the figure's name) and population std (``_std``) of every
    figure, the per-seed accuracies, and the curves averaged epoch by epoch."""
    out = {"timesteps": timesteps, "model_bytes": rows[0]["model_bytes"],
           "seed_accuracies": [r["test_accuracy"] for r in rows]}
    for key in AVERAGED:
        values = np.array([r[key] for r in rows], dtype=float)
        out[key], out[f"{key}_std"] = float(values.mean()), float(values.std())
    out["curves"] = {k: np.mean([r["curves"][k] for r in rows], axis=0).tolist() for k in rows[0]["curves"]}
    return out


def _mean_ratio(ratios: list[float], counts: list[int]) -> float:
    return float(sum(r * n for r, n in zip(ratios, counts)) / sum(counts)) if counts else 0.0


def paper_claims(summary: dict) -> list[dict]:
    """The seeds' papers' claims that this comparison can test, each with ``holds`` and the figures it rests
    on: T-BSO reaches at least BSO's accuracy; AGMM flips fewer signs than STBP and is more accurate; SEI
    at T=1-2 comes within a point of SEI at the full T."""
    rows = summary["methods"]
    claims = []

    def acc(label):
        r = rows[label]
        return f"{label} {100 * r['test_accuracy']:.2f} ± {100 * r['test_accuracy_std']:.2f} %"

    if {"bso", "tbso"} <= set(rows):
        claims.append({"claim": "T-BSO >= BSO (accuracy)",
                       "holds": rows["tbso"]["test_accuracy"] >= rows["bso"]["test_accuracy"],
                       "figures": f"{acc('tbso')} vs {acc('bso')}"})
    if {"agmm", "stbp"} <= set(rows):
        a, s = rows["agmm"], rows["stbp"]
        claims.append({"claim": "AGMM flips fewer weight signs than STBP",
                       "holds": a["flips_total"] < s["flips_total"],
                       "figures": f"agmm {a['flips_total']:.0f} vs stbp {s['flips_total']:.0f} sign flips over "
                                  "the run"})
        claims.append({"claim": "AGMM is more accurate than STBP",
                       "holds": a["test_accuracy"] > s["test_accuracy"],
                       "figures": f"{acc('agmm')} vs {acc('stbp')}"})
    full = [m for m in rows if m == "sei"]
    for label in rows:
        name, steps = method_label(label)
        if name == "sei" and steps is not None and steps <= 2 and full:
            gap = rows["sei"]["test_accuracy"] - rows[label]["test_accuracy"]
            claims.append({"claim": f"SEI at T={steps} within 1 point of SEI at T={rows['sei']['timesteps']}",
                           "holds": gap <= 0.01, "figures": f"{acc(label)} vs {acc('sei')}"})
    return claims


def summary_markdown(summary: dict) -> str:
    seeds = summary["seeds"]
    several = len(seeds) > 1

    def pm(r, key, scale=1.0, fmt=".2f"):
        text = f"{scale * r[key]:{fmt}}"
        return text + (f" ± {scale * r[key + '_std']:{fmt}}" if several else "")

    head = (f"# {summary['dataset']}, {summary['arch']}, T={summary['timesteps']}, {summary['epochs']} epochs, "
            f"seed{'s' if several else ''} {', '.join(map(str, seeds))}"
            f"{' (mean ± std over the seeds)' if several else ''}\n\n"
            "| method | T | test accuracy | model bytes | flips in last epoch | sign flips in all epochs "
            "| firing rate | SOPs / inference | peak graph memory | peak RSS | s / epoch |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for method, r in summary["methods"].items():
        lines.append(f"| {method} | {r['timesteps']} | {pm(r, 'test_accuracy', 100)} % | {r['model_bytes']} "
                     f"| {pm(r, 'flips_last_epoch', fmt='.0f')} ({100 * r['flip_ratio_last_epoch']:.2f} %) "
                     f"| {pm(r, 'flips_total', fmt='.0f')} | {r['firing_rate']:.3f} | {r['sops']:.0f} "
                     f"| {r['peak_graph_mb']:.2f} MB | {r['peak_rss_mb']:.0f} MB | {pm(r, 'seconds_per_epoch')} |")
    if summary.get("claims"):
        lines.append("\n| the papers' claim | holds here | figures |\n|---|---|---|")
        lines += [f"| {c['claim']} | {'yes' if c['holds'] else 'no'} | {c['figures']} |" for c in summary["claims"]]
    return "\n".join(lines)
