"""Each issued word's flags, registered stage by stage behind it down a layer engine's pipeline."""

from __future__ import annotations

from amaranth.hdl import Signal, Value

from flipspike.ir.plan import SYNAPSE_LATENCY

#: Flags that act by themselves (the others only qualify them): these keep their reset; the rest, like the
#: datapath registers, have none (free of set/reset nets, an iCE40 packs them more easily).
CONTROL_FLAGS = ("valid", "first", "last", "end", "commit", "syn")


class FlagPipeline:
    """``flags`` (name -> value at issue) registered stage by stage behind their word (the next step may
    already be issuing behind them), with named taps: ``synapses`` (B, the cycle after issue),
    ``threshold`` (two cycles before C: the threshold term is computed from the word read then),
    ``state`` (a cycle before C: the group's bias, membrane, stored current and gains are read, to arrive
    with the current), ``accumulate`` (C) and ``neurons`` (D, the write-back). ``words``: the flags at
    issue and at every stage (the words in flight). An elaboration helper: it adds to module ``m``."""

    def __init__(self, m, flags: dict):
        self.issue, self.stages = flags, flag_pipeline(m, flags, SYNAPSE_LATENCY + 2)
        self.synapses, self.accumulate, self.neurons = self.stages[0], self.stages[SYNAPSE_LATENCY], self.stages[-1]
        self.state, self.threshold = self.stages[SYNAPSE_LATENCY - 1], self.stages[SYNAPSE_LATENCY - 2]

    @property
    def words(self) -> list[dict]:
        return [self.issue] + self.stages


def flag_pipeline(m, flags: dict, n: int) -> list[dict]:
    """``flags`` (values of the cycle a word issues) registered through ``n`` stages: one dict of
    signals per stage, the first one cycle after issue."""
    stages, prev = [], flags
    for k in range(n):
        stage = {name: Signal(Value.cast(v).shape(), name=f"s{k}_{name}", reset_less=name not in CONTROL_FLAGS)
                 for name, v in prev.items()}
        m.d.sync += [stage[name].eq(v) for name, v in prev.items()]
        stages.append(stage)
        prev = stage
    return stages
