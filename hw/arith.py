"""Small arithmetic helpers shared by the cores."""

from __future__ import annotations

from amaranth.hdl import Const, Signal, Value


def tree_sum(values):
    """Balanced pairwise adder tree: log-depth, and each level widens by one bit only.

    (A naive ``sum()`` widens at every add and makes Verilog export several times slower.)
    """
    values = tree_levels(values, None)
    return values[0] if values else Const(0, 1)


def tree_levels(values, levels: int | None) -> list:
    """The first ``levels`` levels of the pairwise adder tree of :func:`tree_sum` (all of them: None):
    the partial sums left, which a pipelined tree registers before adding the rest."""
    values = list(values)
    while len(values) > 1 and (levels is None or levels > 0):
        paired = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            paired.append(values[-1])
        values = paired
        levels = None if levels is None else levels - 1
    return values


def registered_tree_sum(m, values, levels: int, name: str):
    """:func:`tree_sum` of ``values`` with a register after its first ``levels`` levels (datapath
    registers, no reset): the sum follows the values a cycle later."""
    partial = []
    for j, value in enumerate(tree_levels(values, levels)):
        reg = Signal(Value.cast(value).shape(), name=f"{name}_{j}", reset_less=True)
        m.d.sync += reg.eq(value)
        partial.append(reg)
    return tree_sum(partial)
