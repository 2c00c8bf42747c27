"""Hold hardware observations against the integer reference, sample by sample and bit by bit."""

from __future__ import annotations

from flipspike.sw.integer import IntegerResult


def compare(ref: IntegerResult, observed: list[dict]) -> list[dict]:
    """Every difference between hardware and reference: class, each accumulation, per-layer input spikes
    and SOPs. An empty list means bit-exact."""
    if len(observed) != len(ref.cls):
        return [{"sample": None, "what": "samples", "hw": len(observed), "ref": len(ref.cls)}]
    diffs = []
    for k, obs in enumerate(observed):
        def check(what, hw, expected):
            if hw != expected:
                diffs.append({"sample": k, "what": what, "hw": hw, "ref": expected})
        check("class", obs["cls"], int(ref.cls[k]))
        check("acc", obs["acc"], ref.acc[k].tolist())
        for trace, counters, index in zip(ref.layers, obs["counters"], range(len(ref.layers))):
            check(f"layer{index}.in_spikes", counters["in_spikes"], int(trace.in_spikes[k]))
            check(f"layer{index}.sops", counters["sops"], int(trace.sops[k]))
    return diffs
