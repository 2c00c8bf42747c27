"""FINN-style folding: SIMD inputs and PE neurons per cycle for each layer.

Folding is a hardware choice, not part of the network: it lives beside the description, in the
generated ``config.json``, and one description can be built with many foldings.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FoldingError

#: Defaults: the largest divisor of the fan-in up to this many inputs per cycle, of the fan-out up to this many neurons.
DEFAULT_MAX_SIMD = 16
DEFAULT_MAX_PE = 8


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class Fold:
    simd: int            # inputs per cycle
    pe: int              # neurons per cycle
    event: bool = False  # event-driven: skip all-zero input words (layers fed by spikes)
    spram: bool = False  # weights in the iCE40UP5K's single-port SPRAM (loaded at run time; see SPRAM)

    def __str__(self) -> str:
        return f"{self.simd}x{self.pe}" + ("e" if self.event else "") + ("s" if self.spram else "")


#: The iCE40UP5K's single-port RAM (SB_SPRAM256KA): (depth, width) of one, and how many the device has.
#: It has no initial contents: weights kept there are written over the load bus after configuration.
SPRAM_SHAPE, SPRAM_COUNT = (16384, 16), 4


def spram_tiles(depth: int, width: int) -> tuple[int, int]:
    """(banks, slices): SPRAMs one after another in depth, side by side in width, for a memory."""
    return -(-depth // SPRAM_SHAPE[0]), -(-width // SPRAM_SHAPE[1])


def event_capable(index: int, layer, frames: bool = False) -> bool:
    """Event-driven execution needs inputs that change with the step: any layer but a first layer fed
    by direct encoding (``frames``: the network's input is a frame per step, which it may skip through)."""
    return index > 0 or frames


def with_event(layers, folds: list[Fold], frames: bool = False) -> list[Fold]:
    """``folds`` with event-driven execution switched on wherever it applies (``--event``; not where a
    word spans several kernel positions)."""
    return [Fold(f.simd, f.pe, event_capable(i, l, frames) and not window_wide(l, f), f.spram)
            for i, (l, f) in enumerate(zip(layers, folds))]


def event_fold_advice(layers, folds: list[Fold]) -> list[str]:
    """A note for each event-driven layer with SIMD > 1 whose lanes could all go on neurons. A visited
    word holds SIMD inputs, of which few spiked at typical rates, so the layer pays a cycle per nonzero
    word (2.4-5x SOPs/lanes measured); at SIMD 1 with the same lanes it walks one active input per cycle
    across them (within 1.04x), which is never slower."""
    notes = []
    for layer, fold in zip(layers, folds):
        lanes = fold.simd * fold.pe
        if fold.event and fold.simd > 1 and layer.n_out % lanes == 0:
            notes.append(f"layer {layer.name} is event-driven at {fold}: each visited word holds {fold.simd} inputs, "
                         f"so it pays a cycle per word with any spike, not per spike; {Fold(1, lanes, True)} puts "
                         f"the same {lanes} lanes on neurons and walks one active input per cycle")
    return notes


def check_fold(name: str, n_in: int, n_out: int, fold: Fold) -> None:
    for what, n, lanes in (("SIMD", n_in, fold.simd), ("PE", n_out, fold.pe)):
        if lanes < 1 or n % lanes:
            side = "fan-in n_in" if what == "SIMD" else "fan-out n_out"
            raise FoldingError(
                f"layer {name}: {what}={lanes} does not divide its {side}={n}; "
                f"choose one of {divisors(n)} (e.g. --fold with SIMDxPE per layer)")


def simd_base(layer) -> int:
    """What a SIMD word within one input pixel must divide: the fan-in, or for a convolution its input
    channels (a SIMD word then never straddles two kernel positions)."""
    conv = getattr(layer, "conv", None)
    return conv.in_shape[2] if conv is not None else layer.n_in


def window_span(layer, simd: int) -> tuple[int, int] | None:
    """(rows, columns) of kernel positions one SIMD word covers: (1, 1) where SIMD divides the input
    channels; for a convolution whose SIMD is a multiple of its input channels, a word spanning ``m``
    positions of a kernel row (``m`` divides k) or ``r`` whole kernel rows (``r`` divides k): a rectangle
    of the window, so its weights stay one contiguous run of the (ky, kx, c) row. None: no such span."""
    conv = getattr(layer, "conv", None)
    if conv is None or simd <= conv.in_shape[2]:
        return (1, 1) if simd_base(layer) % simd == 0 else None
    c, k = conv.in_shape[2], conv.kernel
    if simd % c:
        return None
    m = simd // c
    if k % m == 0:
        return (1, m)
    if m % k == 0 and k % (m // k) == 0:
        return (m // k, k)
    return None


def simd_options(layer) -> list[int]:
    """Every SIMD a layer may take (:func:`window_span`): divisors of the input channels, and for a
    convolution also window-wide words (part of a kernel row, whole rows, the whole window)."""
    return [d for d in divisors(layer.n_in) if window_span(layer, d) is not None]


def check_layer_fold(layer, fold: Fold) -> None:
    conv = getattr(layer, "conv", None)
    if conv is not None and fold.simd >= 1 and window_span(layer, fold.simd) is None:
        raise FoldingError(f"layer {layer.name}: SIMD={fold.simd} neither divides its {conv.in_shape[2]} input "
                           f"channels (a word within one pixel) nor spans a rectangle of its {conv.kernel}x"
                           f"{conv.kernel} window (channels x positions of a kernel row, or whole rows); choose "
                           f"one of {simd_options(layer)}")
    check_fold(layer.name, layer.n_in, layer.n_out, fold)


def window_wide(layer, fold: Fold) -> bool:
    """Whether the fold's SIMD word spans more than one kernel position (:func:`window_span`)."""
    span = window_span(layer, fold.simd)
    return span is not None and span != (1, 1)


def default_folding(layers) -> list[Fold]:
    """Largest divisors up to DEFAULT_MAX_SIMD / DEFAULT_MAX_PE: a small, balanced starting point."""
    return [Fold(max(d for d in divisors(simd_base(l)) if d <= DEFAULT_MAX_SIMD),
                 max(d for d in divisors(l.n_out) if d <= DEFAULT_MAX_PE)) for l in layers]


def parse_folding(text: str | None, layers, frames: bool = False) -> list[Fold]:
    """Parse ``"16x8,16x5"`` (SIMDxPE per layer; suffixes: ``e`` event-driven, ``16x5e``; ``s`` weights in
    SPRAM, ``16x4s``); None or ``"auto"`` gives :func:`default_folding`."""
    if text is None or text == "auto":
        return default_folding(layers)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != len(layers):
        raise FoldingError(f"--fold gives {len(parts)} entries for {len(layers)} layers; "
                           f"write one SIMDxPE per layer, e.g. {','.join(str(f) for f in default_folding(layers))}")
    folds = []
    for part in parts:
        text = part.lower()
        core = text.rstrip("es")
        flags = text[len(core):]
        try:
            if len(set(flags)) != len(flags):
                raise ValueError
            simd, pe = (int(v) for v in core.split("x"))
        except ValueError:
            raise FoldingError(f"--fold entry {part!r} is not SIMDxPE[e][s] (two integers, e.g. 16x8, 16x8e for "
                               "event-driven, 16x8s for weights in SPRAM)") from None
        folds.append(Fold(simd, pe, "e" in flags, "s" in flags))
    validate_folding(layers, folds, frames)
    return folds


def validate_folding(layers, folds, frames: bool = False) -> None:
    if len(folds) != len(layers):
        raise FoldingError(f"{len(folds)} folds given for {len(layers)} layers")
    for i, (layer, fold) in enumerate(zip(layers, folds)):
        check_layer_fold(layer, fold)
        if window_wide(layer, fold) and fold.event:
            raise FoldingError(f"layer {layer.name}: SIMD={fold.simd} spans several kernel positions, but an "
                               "event-driven convolution skips words pixel by pixel; choose a SIMD that divides "
                               f"its {simd_base(layer)} input channels ({divisors(simd_base(layer))}) or drop the 'e'")
        if fold.event and not event_capable(i, layer, frames):
            raise FoldingError(f"layer {layer.name}: event-driven execution needs a layer fed by spikes or frames "
                               "(not a first layer fed by direct encoding, which reads its pixels once); drop the "
                               "'e' from its fold")
