"""``flipspike report DIR``: one Markdown and one HTML page from the JSON the other commands write.

It reads, anywhere under DIR: training runs (``metrics.json``), comparisons (``summary.json``),
co-simulations (``flipspike cosim --json``: per-layer cycles, SOPs, energy estimate) and on-chip
learning runs (``cosim --learn --json``), and board builds (``utilization.json``) when there are any.
Plots are PNGs beside the page. The co-simulation table is the same data the CLI prints.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from flipspike.ir.errors import MissingFileError
from flipspike.ir.files import write_text_atomic

from .energy import energy_line
from .plots import _figure, save_png


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    table: list[list[str]] | None = None
    images: list[Path] = field(default_factory=list)


def _slug(path: Path, root: Path) -> str:
    rel = path.parent.relative_to(root).as_posix() if path.parent != root else "top"
    return "".join(c if c.isalnum() else "_" for c in rel) or "top"


def _kind(doc) -> str | None:
    if not isinstance(doc, dict):
        return None
    if "epochs" in doc and "method" in doc:
        return "train"
    if "methods" in doc and "arch" in doc:
        return "compare"
    if "updates" in doc and "flips" in doc:
        return "learn"
    if "layers" in doc and "simulator" in doc and "mismatches" in doc:
        return "cosim"
    if "lut" in doc or "utilization" in doc:
        return "build"
    return None


def collect(root: Path) -> list[tuple[str, Path, dict]]:
    found = []
    for path in sorted(root.rglob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        kind = _kind(doc)
        if kind:
            found.append((kind, path, doc))
    return found


def _train_section(path: Path, doc: dict, root: Path, plt) -> Section:
    epochs = doc["epochs"]
    last = epochs[-1]
    sec = Section(f"Training: {doc['method']} {doc['arch']} T={doc['timesteps']} ({path.parent.relative_to(root)})")
    sec.lines.append(f"final test accuracy {100 * last['test_accuracy']:.2f} %, {len(epochs)} epochs, "
                     f"{last.get('sops_total', 0):.0f} SOPs per inference, model {doc.get('model_bytes', '?')} bytes")
    slug = _slug(path, root)
    x = [e["epoch"] for e in epochs]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    axes[0].plot(x, [e["test_accuracy"] for e in epochs])
    axes[0].set_title("test accuracy")
    for i in range(len(last.get("flip_ratio_epoch", []))):
        axes[1].plot(x, [e["flip_ratio_epoch"][i] for e in epochs], label=f"binary layer {i + 1}")
    axes[1].set_yscale("symlog", linthresh=1e-4)
    axes[1].set_title("weight sign-flip ratio per epoch")
    for i in range(len(last["firing_rate"])):
        axes[2].plot(x, [e["firing_rate"][i] for e in epochs], label=f"hidden layer {i + 1}")
    axes[2].set_title("firing rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    sec.images.append(save_png(fig, root / f"report_{slug}_training.png"))
    plt.close(fig)
    return sec


def _cosim_section(path: Path, doc: dict, root: Path, plt) -> Section:
    n = doc["samples"]
    sec = Section(f"Co-simulation ({doc['simulator']}, {n} samples, {path.relative_to(root)})")
    sec.lines.append(f"mismatches: {doc['mismatches']}; accuracy hardware {doc.get('accuracy_hw', float('nan')):.4f}, "
                     f"reference {doc.get('accuracy_ref', float('nan')):.4f}; latency {doc['cycles_per_inference']:.1f} "
                     "cycles" + (f", one result per {doc['streaming_cycles_per_inference']:.1f} cycles back to back"
                                 if doc.get("streaming_cycles_per_inference") else ""))
    if doc.get("energy"):
        sec.lines.append(energy_line(doc["energy"]))
    sec.table = [["layer", "fold", "cycles measured", "cycles model", "SOPs hw", "SOPs ref"]] + [
        [l["name"], f"{l['simd']}x{l['pe']}", f"{l['cycles_measured']:.1f}", f"{l['cycles_model']:.1f}",
         f"{l['sops_measured'] / n:.1f}", f"{l['sops_ref'] / n:.1f}"] for l in doc["layers"]]
    names = [l["name"] for l in doc["layers"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    xs = range(len(names))
    axes[0].bar([i - 0.2 for i in xs], [l["cycles_model"] for l in doc["layers"]], 0.4, label="model")
    axes[0].bar([i + 0.2 for i in xs], [l["cycles_measured"] for l in doc["layers"]], 0.4, label="measured")
    axes[0].set_title("busy cycles per inference")
    axes[1].bar(xs, [l["sops_measured"] / n for l in doc["layers"]])
    axes[1].set_title("SOPs per inference (hardware counters)")
    for ax in axes:
        ax.set_xticks(list(xs), names)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=7)
    sec.images.append(save_png(fig, root / f"report_{_slug(path, root)}_{path.stem}_cosim.png"))
    plt.close(fig)
    return sec


def _learn_section(path: Path, doc: dict, root: Path) -> Section:
    sec = Section(f"On-chip learning ({doc['simulator']}, layer {doc['layer']}, {path.relative_to(root)})")
    sec.lines.append(f"{doc['updates']} updates ({doc.get('source', 'host errors')}), {doc['flips']} flips, "
                     f"{doc['mismatches']} mismatches, {doc['cycles_per_update']:.1f} cycles per update")
    if "acc_before" in doc:
        sec.lines.append(f"test accuracy before {100 * doc['acc_before']:.1f} %, after {100 * doc['acc_after']:.1f} %")
    mem = doc.get("memory")
    if mem:
        sec.lines.append(f"learning memory: {mem['learning_bits']} bits on top of {mem['inference_bits']} "
                         f"({100 * mem['overhead']:.1f} % overhead)")
    return sec


def _compare_section(path: Path, doc: dict, root: Path) -> Section:
    sec = Section(f"Comparison: {doc['dataset']} {doc['arch']} T={doc['timesteps']} ({path.parent.relative_to(root)})")
    sec.table = [["method", "test accuracy", "model bytes", "flips in last epoch", "firing rate", "SOPs",
                  "peak graph MB", "s / epoch"]] + [
        [m, f"{100 * r['test_accuracy']:.2f} %", str(r["model_bytes"]), str(r["flips_last_epoch"]),
         f"{r['firing_rate']:.3f}", f"{r['sops']:.0f}", f"{r['peak_graph_mb']:.2f}", f"{r['seconds_per_epoch']:.2f}"]
        for m, r in doc["methods"].items()]
    sec.images += [p for p in (path.parent / "accuracy.png", path.parent / "flip_ratio.png") if p.is_file()]
    return sec


def _build_section(path: Path, doc: dict, root: Path) -> Section:
    sec = Section(f"Board build ({path.relative_to(root)})")
    util = doc.get("utilization", doc)
    sec.table = [["resource", "used", "available"]] + [
        [k, str(v.get("used", v)) if isinstance(v, dict) else str(v),
         str(v.get("total", "")) if isinstance(v, dict) else ""] for k, v in util.items()]
    if "part" in doc:
        sec.lines.append(f"{doc['part']}: {'fits' if doc.get('fits') else 'does NOT fit'}.")
    if doc.get("fmax_mhz") is not None:                  # a board build (place and route), not synthesis only
        sec.lines.append(f"Fmax {doc['fmax_mhz']} MHz at a {doc['clock_mhz']:g} MHz board clock: "
                         f"{'timing met' if doc.get('timing_met') else 'timing NOT met'}.")
    return sec


def build_report(root: str | os.PathLike) -> tuple[Path, Path]:
    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(f"{root}: no such directory; point `flipspike report` at a run or output directory")
    found = collect(root)
    if not found:
        raise MissingFileError(f"{root}: no metrics.json, summary.json or co-simulation JSON found below it")
    plt = _figure()
    sections = []
    for kind, path, doc in found:
        if kind == "train":
            sections.append(_train_section(path, doc, root, plt))
        elif kind == "cosim":
            sections.append(_cosim_section(path, doc, root, plt))
        elif kind == "learn":
            sections.append(_learn_section(path, doc, root))
        elif kind == "compare":
            sections.append(_compare_section(path, doc, root))
        else:
            sections.append(_build_section(path, doc, root))
    md = write_text_atomic(root / "report.md", _markdown(sections, root))
    page = write_text_atomic(root / "report.html", _html(sections, root))
    return md, page


def _markdown(sections: list[Section], root: Path) -> str:
    out = [f"# flipspike report: {root.name}", "",
           "Energy figures are estimates (0.9 pJ per synaptic operation, 4.6 pJ per MAC, 45 nm).", ""]
    for sec in sections:
        out += [f"## {sec.title}", ""] + [f"- {line}" for line in sec.lines] + [""]
        if sec.table:
            out.append("| " + " | ".join(sec.table[0]) + " |")
            out.append("|" + "---|" * len(sec.table[0]))
            out += ["| " + " | ".join(row) + " |" for row in sec.table[1:]]
            out.append("")
        out += [f"![{img.stem}]({os.path.relpath(img, root)})" for img in sec.images] + [""]
    return "\n".join(out)


def _html(sections: list[Section], root: Path) -> str:
    e = html.escape
    out = ["<!doctype html><meta charset='utf-8'>", f"<title>flipspike report: {e(root.name)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:100%}</style>",
           f"<h1>flipspike report: {e(root.name)}</h1>",
           "<p>Energy figures are estimates (0.9 pJ per synaptic operation, 4.6 pJ per MAC, 45 nm).</p>"]
    for sec in sections:
        out.append(f"<h2>{e(sec.title)}</h2><ul>" + "".join(f"<li>{e(x)}</li>" for x in sec.lines) + "</ul>")
        if sec.table:
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in sec.table[0]) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in sec.table[1:]) +
                       "</table>")
        out += [f"<p><img src='{e(os.path.relpath(img, root))}' alt='{e(img.stem)}'></p>" for img in sec.images]
    return "\n".join(out) + "\n"
