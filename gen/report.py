"""Plain-text tables printed by the CLI (the same JSON feeds every report)."""

from __future__ import annotations

from .energy import energy_line


def _table(headers: list[str], rows: list[list]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def cosim_table(report: dict) -> str:
    n = report["samples"]
    rows = [[l["name"], l.get("shape", f"{l['n_in']}->{l['n_out']}"),
             f"{l['simd']}x{l['pe']}{'e' if l.get('event') else ''}", f"{l['cycles_measured']:.1f}",
             f"{l['cycles_model']:.1f}",
             f"{l['sops_measured'] / n:.1f}", f"{l['sops_ref'] / n:.1f}",
             f"{l['spikes_measured'] / n:.1f}", f"{l['spikes_ref'] / n:.1f}"] for l in report["layers"]]
    table = _table(["layer", "shape", "SIMDxPE", "cycles hw", "cycles model", "SOPs hw", "SOPs ref",
                    "in-spikes hw", "in-spikes ref"], rows)
    lines = [f"co-simulation ({report['simulator']}), {n} samples, T={report['timesteps']}; "
             "per-inference means", table, ""]
    if "accuracy_hw" in report:
        lines.append(f"accuracy: hardware {report['accuracy_hw']:.4f}, integer reference {report['accuracy_ref']:.4f}")
    t = report["timings"]
    speed = report.get("cycles_per_second")
    lines.append(f"latency: {report['cycles_per_inference']:.1f} cycles per inference (one sample at a time)")
    if report.get("streaming_cycles_per_inference"):
        model = report.get("streaming_cycles_model")
        lines.append(f"throughput: one result every {report['streaming_cycles_per_inference']:.1f} cycles "
                     "(samples back to back" + (f"; model {model:g})" if model is not None else ")"))
    lines.append(f"simulated {report['simulated_cycles']} cycles in both runs"
                 + (f" at {speed:,.0f} cycles/s" if speed else ""))
    lines.append("time: " + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in t.items()))
    if report.get("energy"):
        lines.append(energy_line(report["energy"]))
    lines.append(f"mismatches: {report['mismatches']}")
    return "\n".join(lines)


def cycle_plan_table(rows: list[dict], timesteps: int, stream: float | None = None) -> str:
    """The plan: per layer its fold, walk and modelled cycles; an event-driven layer's marked ``~``
    where they are expected from sample spikes (``"expected"``), ``<=`` where only the dense bound is known.
    ``stream``: the modelled interval between results of samples back to back."""
    def mark(r):
        return "~" if r.get("expected") else "<=" if r.get("event") else ""
    body = [[r["name"], f"{r['simd']}x{r['pe']}{'e' if r.get('event') else ''}", r["f_in"], r.get("groups", r["f_out"]),
             f"{mark(r)}{r['issue_cycles']}", f"{mark(r)}{r['cycles']}"] for r in rows]
    slowest = max(r["cycles"] for r in rows)
    lines = [_table(["layer", "SIMDxPE", "words/group", "groups/step", "issue cycles", "model cycles"], body),
             f"T={timesteps}; slowest layer: {slowest} cycles per inference (sets the throughput of a sample stream)"]
    if stream is not None:
        lines[-1] += (f"; back to back: one result per {stream:g} cycles" +
                      ("" if stream <= slowest else " (a handshake stalls the slowest layer)"))
    legend = {"~": "~ expected from sample spikes", "<=": "<= the dense bound (no spikes to go by)"}
    marks = [legend[k] for k in legend if any(mark(r) == k for r in rows)]
    if marks:
        lines.append("event-driven layers: " + "; ".join(marks))
    return "\n".join(lines)


def learn_table(report: dict) -> str:
    mem = report["memory"]
    lines = [f"on-chip learning ({report['simulator']}), layer {report['layer']}: {report['updates']} updates "
             f"({report.get('source', 'host errors')}), {report['flips']} flips",
             f"rule: {report['rule']}",
             f"cycles per update: {report['cycles_per_update']:.1f} (model {report['cycles_per_update_model']})",
             f"learning memory: {mem['momentum_bits_per_weight']} momentum bits per weight; "
             f"{mem['learning_bits']} bits on top of {mem['inference_bits']} for inference "
             f"({100 * mem['overhead']:.1f}% overhead)"]
    if "acc_before" in report:
        lines.append(f"test accuracy in co-simulation: before {report['acc_before']:.4f}, after {report['acc_after']:.4f}")
    lines.append("time: " + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in report["timings"].items()))
    lines.append(f"mismatches: {report['mismatches']} (weights, momenta and flip count after every update; "
                 "inference before and after)")
    return "\n".join(lines)
