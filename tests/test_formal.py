"""Bounded model checks (yowasp-sby + Yices, from PyPI) of the invariants the hardware rests on.

* The layer engine uses a membrane or stored current only after the write-back it needs, for every
  behaviour of its neighbours: what lets a board build declare a read that meets a write to its address
  undefined, and what the step-sequencing rules (``LayerPlan.continues_directly``,
  ``starts_only_when_empty``) promise. With those rules switched off, the checker must find a hazard
  exactly where they forbid going on: the rules are neither loose nor needlessly strict.
* The spike buffer behaves as a list of banks (its reads, flags and counts against a model).

The same assertions run in every Amaranth simulation of the accelerator (``run_pysim(checks=True)``),
so the property tests hold them over random networks too.
"""

import numpy as np
import pytest

from flipspike.ir import Fold
from flipspike.ir.errors import MissingFileError
from flipspike.ir.plan import LayerPlan
from flipspike.sim.formal import SpikeBufferCheck, engine_under_check, find_formal_tools, prove

from helpers import random_desc

try:
    find_formal_tools()
except MissingFileError as exc:                       # (pip install -e '.[test]' brings both)
    pytest.skip(str(exc), allow_module_level=True)

ENGINE_DEPTH = 24          # cycles: a sample's three steps of the largest case, with their drains
BUFFER_DEPTH = 12          # cycles: two turns of the ring of the smallest buffers


def engine_case(kind: str, groups: int, simd: int, event: bool = False):
    """(description, folds, index): a first or hidden layer with ``groups`` neuron groups of 2/simd words."""
    rng = np.random.default_rng(0)
    if kind == "first":
        desc = random_desc(rng, [2, groups, 2], timesteps=3, input_bits=2)
        return desc, [Fold(simd, 1), Fold(1, 2)], 0
    desc = random_desc(rng, [2, 2, groups, 2], timesteps=3, input_bits=2)
    return desc, [Fold(2, 1), Fold(simd, 1, event), Fold(1, 2)], 1


ENGINE_CASES = [("first", g, s, False) for g in (1, 2, 3) for s in (1, 2)] + \
               [("hidden", g, s, e) for g in (1, 2, 3) for s in (1, 2) for e in (False, True)]


def case_id(case):
    kind, groups, simd, event = case
    return f"{kind}-{groups}groups-{2 // simd}words{'-event' if event else ''}"


@pytest.mark.parametrize("case", ENGINE_CASES, ids=case_id)
def test_engine_uses_state_only_after_its_write_back(case, tmp_path):
    desc, folds, index = engine_case(*case)
    result = prove(engine_under_check(desc, folds, index), depth=ENGINE_DEPTH, trace_to=tmp_path / "cex.vcd")
    assert result.passed, result.log


@pytest.mark.parametrize("case", ENGINE_CASES, ids=case_id)
def test_the_sequencing_rules_are_tight(case, monkeypatch, tmp_path):
    """Always going straight on, never waiting for an empty pipeline: the checker finds a hazard if and
    only if the real rules forbid that for this layer."""
    desc, folds, index = engine_case(*case)
    plan = LayerPlan(desc.layers[index], folds[index], first=index == 0, timesteps=desc.timesteps)
    safe = (plan.continues_directly() and (index > 0 or plan.continues_directly(into_neurons=True))
            and not plan.starts_only_when_empty)
    monkeypatch.setattr(LayerPlan, "continues_directly", lambda self, into_neurons=False: True)
    monkeypatch.setattr(LayerPlan, "starts_only_when_empty", property(lambda self: False))
    result = prove(engine_under_check(desc, folds, index), depth=ENGINE_DEPTH, trace_to=tmp_path / "cex.vcd")
    assert result.passed == safe, result.log
    if not safe:
        assert result.trace is not None and result.failed_at
        assert all(at == source_line("hw/layer_engine.py", "the write-back it needs") for at in result.failed_at)


BUFFER_CASES = [dict(size=4, pe=2, simd=1, banks=2), dict(size=4, pe=1, simd=2, banks=3, mask=True),
                dict(size=4, pe=2, simd=2, banks=2, mask=True), dict(size=6, pe=3, simd=2, banks=2, mask=True),
                dict(size=4, pe=2, simd=2, banks=2, own_pe=2), dict(size=4, pe=2, simd=1, banks=3, ram=False, mask=True)]


@pytest.mark.parametrize("case", BUFFER_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_spike_buffer_is_a_list_of_banks(case):
    check = SpikeBufferCheck(**case)
    assert (check.buffer.ram_shape is not None) == (case.get("ram", True) and not case.get("own_pe")
                                                     and case["size"] % 3 != 0)   # (both storages covered)
    result = prove(check, depth=BUFFER_DEPTH)
    assert result.passed, result.log


def test_the_buffer_check_finds_stale_nonzero_flags(monkeypatch):
    from flipspike.hw.buffers import SpikeBuffer
    monkeypatch.setattr(SpikeBuffer, "_nonzero_flags", lambda self, m, wsel, rsel: None)
    result = prove(SpikeBufferCheck(size=4, pe=1, simd=2, banks=2, mask=True), depth=BUFFER_DEPTH)
    assert not result.passed
    assert result.failed_at == [source_line("sim/formal.py", "nonzero: the model's words")]


def source_line(path: str, text: str) -> tuple[str, int]:
    """(absolute path, line) of the statement that holds ``text`` (an assertion's message) in ``path``,
    counted from the line where that statement starts."""
    from pathlib import Path
    file = Path(__file__).resolve().parent.parent / path
    lines = file.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if text in line)
    while "Assert(" not in lines[k]:
        k -= 1
    return str(file), k + 1
