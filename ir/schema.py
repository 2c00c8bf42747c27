"""Reading a description file strictly: every value's type and range, named by its JSON path.

What the loader accepts the generator builds: integers are JSON integers (never a float, a string or
a boolean: ``2.75`` is not silently ``2``), sizes are at least 1 and bounded before anything is
allocated, names and choices are what the semantics define, and a version 1 file holds dense layers
only. Every refusal names the JSON path, what it holds and what it must hold.
"""

from __future__ import annotations

from .errors import DescriptionError
from .formats import MAX_WIDTH

#: The most inputs, neurons or weights one layer may declare: beyond any FPGA flipspike builds for, and
#: refused before anything that size is allocated (a 1x1 convolution over a 10^9-neuron map, say).
MAX_ELEMENTS = 1 << 26
#: Largest magnitude of a bias, threshold or shortcut gain: a value wider than MAX_WIDTH bits could
#: never fit a register.
MAX_VALUE = 1 << MAX_WIDTH


def require(ok: bool, path: str, value, must: str) -> None:
    if not ok:
        shown = "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else repr(value)
        raise DescriptionError(f"{path} is {shown}; it must be {must}")


def integer(value, path: str, lo: int | None = None, hi: int | None = None) -> int:
    """A JSON integer (not a boolean, not 2.0) in lo..hi."""
    require(isinstance(value, int) and not isinstance(value, bool), path, value, "an integer")
    if lo is not None or hi is not None:
        require((lo is None or value >= lo) and (hi is None or value <= hi), path, value,
                f"an integer in {'-inf' if lo is None else lo}..{'inf' if hi is None else hi}")
    return value


def optional_integer(value, path: str, lo: int, hi: int) -> int | None:
    return None if value is None else integer(value, path, lo, hi)


def choice(value, path: str, choices: tuple[str, ...]) -> str:
    require(isinstance(value, str) and value in choices, path, value, f"one of {', '.join(map(repr, choices))}")
    return value


def string(value, path: str) -> str:
    require(isinstance(value, str) and value != "", path, value, "a non-empty string")
    return value


def obj(value, path: str) -> dict:
    require(isinstance(value, dict), path, value, "an object")
    return value


def key(doc: dict, name: str, path: str):
    if name not in doc:
        raise DescriptionError(f"{path}.{name} is missing")
    return doc[name]


def integers(value, path: str, length: int | None, lo: int = -MAX_VALUE, hi: int = MAX_VALUE) -> list[int]:
    """A list of JSON integers in lo..hi (of ``length`` when given)."""
    require(isinstance(value, list), path, value, "a list of integers")
    if length is not None and len(value) != length:
        raise DescriptionError(f"{path} has {len(value)} values; it must have {length}")
    for k, v in enumerate(value):
        integer(v, f"{path}[{k}]", lo, hi)
    return value


def shape3(value, path: str) -> tuple[int, int, int]:
    """[H, W, C] of positive integers."""
    require(isinstance(value, list) and len(value) == 3, path, value, "[H, W, C]")
    return tuple(integer(v, f"{path}[{k}]", 1, MAX_ELEMENTS) for k, v in enumerate(value))
