"""Hold hardware observations against the integer reference, sample by sample and bit by bit."""

from __future__ import annotations

from flipspike.sw.integer import IntegerResult


def compare(ref: IntegerResult, observed: dict, first: int = 0, total: int | None = None) -> list[dict]:
    """Every difference between hardware and reference: for each sample run alone, its class, each
    accumulation, and per-layer input spikes and SOPs; for the back-to-back run, class and accumulations.
    An empty list means bit-exact. ``ref`` may hold a chunk of the samples: those from ``first`` on, of
    ``total`` (default: ``ref``'s); the counts are compared with the chunk that starts at 0."""
    diffs = []
    total = len(ref.cls) if total is None else total

    def check(sample, what, hw, expected):
        if hw != expected:
            diffs.append({"sample": sample, "what": what, "hw": hw, "ref": expected})

    runs = [("", observed["samples"])]
    if observed.get("stream") is not None:
        runs.append(("stream.", observed["stream"]["results"]))
    for prefix, results in runs:
        if first == 0:
            check(None, prefix + "count", len(results), total)
        for k, obs in enumerate(results[first:first + len(ref.cls)]):
            check(first + k, prefix + "class", obs["cls"], int(ref.cls[k]))
            check(first + k, prefix + "acc", obs["acc"], ref.acc[k].tolist())
            for index, (trace, counters) in enumerate(zip(ref.layers, obs.get("counters", []))):
                check(first + k, f"layer{index}.in_spikes", counters["in_spikes"], int(trace.in_spikes[k]))
                check(first + k, f"layer{index}.sops", counters["sops"], int(trace.sops[k]))
    return diffs
