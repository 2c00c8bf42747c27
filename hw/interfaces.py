"""Signatures and layouts that connect the cores. Directions are given from the *engine's* side."""

from __future__ import annotations

from amaranth.hdl import unsigned, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from flipspike.ir.formats import COUNTER_WIDTH, COUNTERS

#: Per-layer hardware counters (:data:`flipspike.ir.formats.COUNTERS`), readable after each inference
#: (free-running, wrap modulo 2**COUNTER_WIDTH).
CounterLayout = data.StructLayout({name: unsigned(COUNTER_WIDTH) for name in COUNTERS})


def result_layout(classes: int, acc_width: int) -> data.StructLayout:
    return data.StructLayout({
        "cls": unsigned(max(1, (classes - 1).bit_length())),
        "acc": data.ArrayLayout(signed(acc_width), classes),
    })


def input_address(words: int, ports: int = 1):
    """The shape of a layer's input address: a word of ``words``, or an array of one per read port."""
    address = range(max(2, words))
    return address if ports == 1 else data.ArrayLayout(unsigned((len(address) - 1).bit_length()), ports)


class StepInputSignature(wiring.Signature):
    """A layer's input for one time step, read SIMD elements at a time with one cycle of latency.

    ``avail``: a full step of input is ready; ``next_avail``: a second one is ready behind it (so the
    engine may go on into the next step as it releases this one). ``addr`` selects a SIMD-wide word;
    ``data`` holds it on the next cycle. ``release``: the engine is done with this step's input (a
    one-cycle pulse, in the cycle it presents the step's last address). With
    ``mask``, ``nonzero`` has one bit per word: the word holds some spike (for event-driven layers).
    With ``own`` (a layer with a shortcut), ``own_data`` holds, a cycle after ``own_addr`` = g, the PE
    input spikes at the places of neuron group g's neurons. With ``ports`` > 1 (a window-wide reader),
    ``addr`` is an array of one word address per port and ``data`` their words side by side, port 0's
    first (``words``: words of one port, ``simd``: elements of all ports together).
    """

    def __init__(self, words: int, simd: int, bits: int, mask: bool = False, own: tuple[int, int] | None = None,
                 ports: int = 1):
        members = {
            "avail": In(1),
            "next_avail": In(1),
            "addr": Out(input_address(words, ports)),
            "data": In(data.ArrayLayout(unsigned(bits), simd)),
            "release": Out(1),
        }
        if mask:
            members["nonzero"] = In(words)
        if own is not None:                             # shortcut: the PE inputs at a neuron group's place
            groups, pe = own
            members["own_addr"] = Out(range(max(2, groups)))
            members["own_data"] = In(pe)
        super().__init__(members)


class SpikeOutSignature(wiring.Signature):
    """A layer's output spikes for one step, written PE bits at a time into a free buffer slot.

    ``free_banks``: banks neither full nor being read (a step may start while those before it have
    yet to commit: each needs its own). ``freed``: a bank is released this cycle (the reader's last
    word of a step issues). ``we``/``addr``/``data``: write PE spikes of neuron group ``addr``.
    ``commit``: the step is complete (a one-cycle pulse, with its last write).
    """

    def __init__(self, groups: int, pe: int, banks: int = 2):
        super().__init__({
            "free_banks": In(range(banks + 1)),
            "freed": In(1),
            "we": Out(1),
            "addr": Out(range(max(2, groups))),
            "data": Out(pe),
            "commit": Out(1),
        })


class LoadSignature(wiring.Signature):
    """The load bus, from the host's side (components take ``In(LoadSignature(...))``): one word written
    per cycle where ``en`` is high (it lands in its memory a cycle later). Addresses and images come
    from :mod:`flipspike.ir.memory_map`. Write only while the accelerator is idle."""

    def __init__(self, addr_width: int, data_width: int):
        super().__init__({"addr": Out(addr_width), "data": Out(data_width), "en": Out(1)})


class MonitorSignature(wiring.Signature):
    """Read any weight, bias, threshold or membrane word while the accelerator is idle (ODIN's monitor
    mode), from the host's side: ``data`` holds the word at ``addr`` ``ir.formats.MONITOR_LATENCY``
    cycles later (a new address may come every cycle). Addresses: see
    :func:`flipspike.ir.memory_map.monitor_map`. It shares the memories' existing read ports, which are
    free when a layer is idle, so it costs multiplexers, not block RAM."""

    def __init__(self, addr_width: int, data_width: int):
        super().__init__({"addr": Out(addr_width), "data": In(data_width)})


class WriteSignature(wiring.Signature):
    """A memory write port, from the writer's side (components take ``In(WriteSignature(...))``): write
    ``data`` at ``addr`` where ``en`` is high."""

    def __init__(self, depth: int, width: int):
        super().__init__({"addr": Out(range(max(2, depth))), "data": Out(width), "en": Out(1)})


class BorrowSignature(wiring.Signature):
    """A memory read port lent to the monitor, from the lender's side: where ``take`` is high (and the
    engine does not read the port itself) the port reads ``addr``; ``data`` is the port's word."""

    def __init__(self, addr_width: int, data_width: int):
        super().__init__({"take": Out(1), "addr": Out(addr_width), "data": In(data_width)})
