"""Hold hardware observations against the integer reference, sample by sample and bit by bit."""

from __future__ import annotations

from flipspike.sw.integer import IntegerResult


def compare(ref: IntegerResult, observed: dict) -> list[dict]:
    """Every difference between hardware and reference: for each sample run alone, its class, each
    accumulation, and per-layer input spikes and SOPs; for the back-to-back run, class and accumulations.
    An empty list means bit-exact."""
    diffs = []

    def check(sample, what, hw, expected):
        if hw != expected:
            diffs.append({"sample": sample, "what": what, "hw": hw, "ref": expected})

    runs = [("", observed["samples"])]
    if observed.get("stream") is not None:
        runs.append(("stream.", observed["stream"]["results"]))
    for prefix, results in runs:
        check(None, prefix + "count", len(results), len(ref.cls))
        for k, obs in enumerate(results[:len(ref.cls)]):
            check(k, prefix + "class", obs["cls"], int(ref.cls[k]))
            check(k, prefix + "acc", obs["acc"], ref.acc[k].tolist())
            for index, (trace, counters) in enumerate(zip(ref.layers, obs.get("counters", []))):
                check(k, f"layer{index}.in_spikes", counters["in_spikes"], int(trace.in_spikes[k]))
                check(k, f"layer{index}.sops", counters["sops"], int(trace.sops[k]))
    return diffs
