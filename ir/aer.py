"""The AER input port's format and meaning, defined once (numpy only): events in, the frames they make.

A build for frame input (``input.encoding: frames`` with 1-bit values and an [H, W, 2] frame) may take
address-events instead of frames: a stream of words {x, y, p, t, end} per sample, sensor coordinates
(an (H * pool) x (W * pool) sensor, ``pool`` a power of two), t the time step (0..T-1), ``end`` a word
that closes the sample and carries no event. The port writes them into the frame buffer on chip:

    frame t, element ((y // pool) * W + x // pool) * 2 + p  is 1  where some event of step t hit it

An event is dropped, and counted, where it lies outside the sensor or the steps (x, y or t too large),
or comes out of time order (t below an earlier event's step of the same sample): it never writes
anywhere. :func:`frames_from_events` is that meaning for the reference, :class:`EventFormat` the port's
field widths, both read by the hardware (``hw.event_frames``) and the co-simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, DataError


@dataclass(frozen=True)
class EventFormat:
    """The port of a build: frames of ``height`` x ``width`` x 2, ``timesteps`` steps, ``pool`` sensor pixels
    per frame pixel along each axis."""
    height: int
    width: int
    timesteps: int
    pool: int = 1

    @classmethod
    def of(cls, desc, pool: int = 1) -> "EventFormat":
        """The port for description ``desc``, refused with the reason where it cannot take events."""
        inp = desc.input
        if not inp.frames or inp.bits != 1 or inp.shape is None or inp.shape[2] != 2:
            raise ConfigError("an AER port fills spike frames: the description needs frame input "
                              "(input.encoding frames) of 1-bit values and an [H, W, 2] frame (channel = polarity); "
                              f"it has encoding {inp.encoding}, {inp.bits}-bit values, shape {inp.shape}")
        if pool < 1 or pool & (pool - 1):
            raise ConfigError(f"the AER port pools the sensor by a power of two (a shift), got {pool}")
        return cls(int(inp.shape[0]), int(inp.shape[1]), desc.timesteps, pool)

    @property
    def sensor(self) -> tuple[int, int]:
        return self.height * self.pool, self.width * self.pool

    @property
    def widths(self) -> dict[str, int]:
        """Bits of each field of an event word (x, y and t wide enough to say an out-of-range value), in
        the word's order from bit 0 up."""
        h, w = self.sensor
        return {"x": max(1, w.bit_length()), "y": max(1, h.bit_length()), "p": 1,
                "t": max(1, self.timesteps.bit_length()), "end": 1}

    @property
    def word_bits(self) -> int:
        return sum(self.widths.values())

    def pack(self, events) -> list[int]:
        """One sample's events [(x, y, p, t), ...] as event words (fields from bit 0 up in ``widths``'
        order), closed by the ``end`` word: what the port takes, from a bench or over the host link."""
        offsets, at = {}, 0
        for name, bits in self.widths.items():
            offsets[name], at = at, at + bits
        ev = np.asarray(events, dtype=np.int64).reshape(-1, 4)
        for k, name in enumerate(("x", "y", "p", "t")):
            top = (1 << self.widths[name]) - 1
            if len(ev) and not (0 <= ev[:, k].min() and ev[:, k].max() <= top):
                raise DataError(f"an event's {name} is outside 0..{top}, what the port's {self.widths[name]}-bit "
                                f"field holds (sensor {self.sensor[1]}x{self.sensor[0]}, {self.timesteps} steps): "
                                "such an event cannot be sent; drop it before sending")
        words = [x << offsets["x"] | y << offsets["y"] | p << offsets["p"] | t << offsets["t"]
                 for x, y, p, t in ev.tolist()]
        return words + [1 << offsets["end"]]

    def as_dict(self) -> dict:
        return {"height": self.height, "width": self.width, "timesteps": self.timesteps, "pool": self.pool}


def port_simd_ok(simd: int, inputs: int) -> bool:
    """Whether the first layer's SIMD suits an AER port, which writes single bits into SIMD-wide words:
    a power of two (an event's word and lane are a shift and a mask) dividing the frame's inputs."""
    return simd >= 1 and not simd & (simd - 1) and inputs % simd == 0


def accepted(events: np.ndarray, fmt: EventFormat) -> np.ndarray:
    """Which events of one sample ([N, 4] x, y, p, t, in arrival order) the port keeps: inside the sensor and
    the steps, and at or after the latest step kept so far (an event out of time order is dropped)."""
    ev = np.asarray(events, dtype=np.int64).reshape(-1, 4)
    h, w = fmt.sensor
    keep = np.zeros(len(ev), dtype=bool)
    step = 0
    for k, (x, y, p, t) in enumerate(ev.tolist()):
        if 0 <= x < w and 0 <= y < h and p in (0, 1) and step <= t < fmt.timesteps:
            keep[k], step = True, t
    return keep


def frames_from_events(samples: list[np.ndarray], fmt: EventFormat) -> np.ndarray:
    """The frames the port makes of each sample's events: [N, T * H * W * 2] of 0/1, frame-major (what the
    reference runs)."""
    out = np.zeros((len(samples), fmt.timesteps, fmt.height, fmt.width, 2), dtype=np.int64)
    for n, events in enumerate(samples):
        ev = np.asarray(events, dtype=np.int64).reshape(-1, 4)[accepted(events, fmt)]
        out[n, ev[:, 3], ev[:, 1] // fmt.pool, ev[:, 0] // fmt.pool, ev[:, 2]] = 1
    return out.reshape(len(samples), -1)


def events_from_frames(frames: np.ndarray, fmt: EventFormat, seed: int = 0) -> list[np.ndarray]:
    """Events that make ``frames`` ([N, T * H * W * 2] of 0/1, frame-major, HWC): for each 1, one event at a
    sensor pixel drawn in its pool window, steps in order and, within a step, in a random order (as a
    sensor emits them), seeded. ``frames_from_events`` of them gives ``frames`` back. The events of a
    recording binned into steps on the host (``sw.events``) are what a sensor sends; these are what an
    AER co-simulation sends where the data are frames."""
    x = np.asarray(frames).reshape(len(frames), fmt.timesteps, fmt.height, fmt.width, 2)
    if ((x != 0) & (x != 1)).any():
        raise ConfigError("an AER port fills 0/1 frames; these frames hold counts (bin the events with "
                          "--pixel-bits 1, or feed the frames over the pixel port)")
    rng = np.random.default_rng(seed)
    out = []
    for sample in x:
        t, y, xx, p = np.nonzero(sample)
        order = np.lexsort((rng.random(len(t)), t))            # by step, shuffled within one
        dy, dx = rng.integers(0, fmt.pool, (2, len(t)))
        out.append(np.stack([xx * fmt.pool + dx, y * fmt.pool + dy, p, t], axis=1)[order].astype(np.int64))
    return out
