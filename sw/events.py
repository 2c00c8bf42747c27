"""Event streams into frames, and an event sensor simulated in front of still images. numpy only.

Events are int64 arrays [N, 4] with columns x, y, p (polarity: 0 OFF, 1 ON) and t (any integer time
unit), as tonic's npy files and flipspike's readers (:func:`read_nmnist`, :mod:`flipspike.sw.aedat4`)
give them. A frame is [H, W, 2] in HWC order, channel = polarity; a sample of T frames is flattened
frame-major, as the integer description's ``frames`` input takes it (docs/integer-semantics.md).

* :func:`to_frames`: count events per time bin, pixel (pooled) and polarity, then clip, as tonic's
  ``ToFrame`` does: ``by="time"`` (``n_time_bins``: T equal windows over the recording) or
  ``by="count"`` (``n_event_bins``: T slices of equally many events).
* :func:`denoise`: drop events no neighbouring pixel saw shortly before (tonic's ``Denoise`` idea).
* :func:`read_nmnist`: N-MNIST's binary files (40 bits per event).
* :func:`saccade_frames`: what an event sensor sees of a still image moved along three saccades, the
  way N-MNIST was recorded from MNIST: a simulation, deterministic, documented in docs/events.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flipspike.ir.errors import ConfigError, DataError

BINNINGS = ("time", "count")


def check_events(events: np.ndarray, sensor: tuple[int, int], what: str = "events") -> np.ndarray:
    """``events`` as int64 [N, 4] (x, y, p, t), every event inside the ``sensor`` (H, W) with polarity 0/1."""
    ev = np.asarray(events)
    if ev.ndim != 2 or ev.shape[1] != 4:
        raise DataError(f"{what}: expected events as rows x, y, p, t ([N, 4]), got shape {ev.shape}")
    ev = ev.astype(np.int64)
    h, w = sensor
    x, y, p = ev[:, 0], ev[:, 1], ev[:, 2]
    if ((x < 0) | (x >= w) | (y < 0) | (y >= h) | (p < 0) | (p > 1)).any():
        raise DataError(f"{what}: events outside the {h}x{w} sensor or with a polarity other than 0/1")
    return ev


def time_bins(t: np.ndarray, bins: int, by: str = "time") -> np.ndarray:
    """The bin (0..bins-1) of each event of time-ordered stamps ``t``. ``time``: equal windows from the
    first stamp to the last, bin = (t - t0) * bins // (t_last - t0 + 1); ``count``: bin = k * bins // N
    for the k-th of N events."""
    if by not in BINNINGS:
        raise ConfigError(f"events are binned by one of {', '.join(BINNINGS)}, got {by!r}")
    n = len(t)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if by == "count":
        return np.arange(n, dtype=np.int64) * bins // n
    t0 = int(t.min())
    return (t - t0) * bins // (int(t.max()) - t0 + 1)


def to_frames(events, sensor: tuple[int, int], bins: int, *, by: str = "time", pool: int = 1,
              clip: int = 1) -> np.ndarray:
    """Events into ``bins`` frames [bins, H // pool, W // pool, 2] of counts clipped to ``clip`` (uint8 up
    to 255). The events are taken in time order (a stable sort of t)."""
    if not 1 <= clip <= 255:
        raise ConfigError(f"a frame's counts are clipped to 1..255, got {clip}")
    if pool < 1 or sensor[0] % pool or sensor[1] % pool:
        raise ConfigError(f"pooling {pool}x{pool} must divide the {sensor[0]}x{sensor[1]} sensor")
    ev = check_events(events, sensor)
    ev = ev[np.argsort(ev[:, 3], kind="stable")]
    h, w = sensor[0] // pool, sensor[1] // pool
    counts = np.zeros((bins, h, w, 2), dtype=np.int64)
    np.add.at(counts, (time_bins(ev[:, 3], bins, by), ev[:, 1] // pool, ev[:, 0] // pool, ev[:, 2]), 1)
    return np.minimum(counts, clip).astype(np.uint8)


def denoise(events, sensor: tuple[int, int], window: int) -> np.ndarray:
    """The events (in time order) that some event at one of the 8 neighbouring pixels preceded by at
    most ``window`` time units: isolated events, which a real scene rarely makes, are dropped. A loop
    over the events (about a second per million)."""
    if window < 1:
        raise ConfigError(f"the denoising window must be >= 1 time unit, got {window}")
    ev = check_events(events, sensor)
    ev = ev[np.argsort(ev[:, 3], kind="stable")]
    h, w = sensor
    last = np.full((h + 2, w + 2), np.iinfo(np.int64).min // 2, dtype=np.int64)   # padded: no edge cases
    keep = np.zeros(len(ev), dtype=bool)
    for k, (x, y, _, t) in enumerate(ev.tolist()):
        around = last[y:y + 3, x:x + 3]
        centre = around[1, 1]
        around[1, 1] = np.iinfo(np.int64).min // 2            # (the pixel itself does not count)
        keep[k] = t - around.max() <= window
        around[1, 1] = t if t > centre else centre
    return ev[keep]


# -- N-MNIST: 40-bit events ------------------------------------------------------------------------------

NMNIST_SENSOR = (34, 34)


def read_nmnist(path: str | Path) -> np.ndarray:
    """An N-MNIST ``.bin`` file: 5 bytes per event, x (8 bits), y (8 bits), polarity (1 bit), timestamp in
    microseconds (23 bits), big-endian. Returns [N, 4] int64 (x, y, p, t)."""
    raw = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    if raw.size % 5:
        raise DataError(f"{path}: {raw.size} bytes is not a whole number of 5-byte N-MNIST events (truncated file?)")
    b = raw.reshape(-1, 5).astype(np.int64)
    t = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    ev = np.stack([b[:, 0], b[:, 1], b[:, 2] >> 7, t], axis=1)
    return check_events(ev, NMNIST_SENSOR, str(path))


# -- a simulated event sensor in front of still images -------------------------------------------------------

#: The eye's path, as (dy, dx) in units of the amplitude: three saccades around a triangle and back.
SACCADE_VERTICES = ((-1.0, 0.0), (1.0, 1.0), (1.0, -1.0), (-1.0, 0.0))
#: Log-intensity change that makes one event (a DVS pixel's contrast threshold), and the offset that
#: keeps log() finite on black pixels (intensities in 0..1).
CONTRAST, LOG_OFFSET = 0.15, 0.05


def saccade_frames(images, max_value: int, bins: int, *, amplitude: int, substeps: int = 10,
                   contrast: float = CONTRAST, pool: int = 1, clip: int = 1, chunk: int = 4096) -> np.ndarray:
    """Frames [N, bins, H', W', 2] (uint8) of what an event sensor sees as still ``images`` [N, H, W]
    (0..max_value) move in front of it along three saccades (:data:`SACCADE_VERTICES` times
    ``amplitude`` pixels), the way N-MNIST was made from MNIST.

    The sensor is (H + 2a) x (W + 2a) pixels (a = amplitude), the image centred on it at rest. The path is
    walked in ``3 * substeps`` steps of straight-line motion, the image resampled bilinearly at each; a
    pixel's log intensity L = log(I / max_value + LOG_OFFSET) is held against the level it last reported,
    and every ``contrast`` of change makes one event (ON up, OFF down) and moves the level by that much.
    Substep k (1..3*substeps) goes to bin (k - 1) * bins // (3 * substeps): equal time windows. Counts are
    summed over ``pool`` x ``pool`` pixels and clipped to ``clip``. Deterministic: no noise, no randomness."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise DataError(f"saccades need images [N, H, W], got shape {images.shape}")
    a = int(amplitude)
    h, w = images.shape[1] + 2 * a, images.shape[2] + 2 * a
    if pool < 1 or h % pool or w % pool:
        raise ConfigError(f"pooling {pool}x{pool} must divide the {h}x{w} simulated sensor")
    steps = 3 * substeps
    path = _saccade_path(a, substeps)
    out = np.zeros((len(images), bins, h // pool, w // pool, 2), dtype=np.uint8)
    for c in range(0, len(images), chunk):
        part = images[c:c + chunk].astype(np.float32) / max_value
        level = _log_intensity(_place(part, *path[0], a))
        counts = np.zeros((len(part), bins, h, w, 2), dtype=np.int32)
        for k in range(1, steps + 1):
            change = _log_intensity(_place(part, *path[k], a)) - level
            n = np.floor(np.abs(change) / contrast).astype(np.int32)
            level += np.sign(change) * n * np.float32(contrast)
            b = (k - 1) * bins // steps
            counts[:, b, :, :, 1] += np.where(change > 0, n, 0)
            counts[:, b, :, :, 0] += np.where(change < 0, n, 0)
        if pool > 1:
            counts = counts.reshape(len(part), bins, h // pool, pool, w // pool, pool, 2).sum(axis=(3, 5))
        out[c:c + chunk] = np.minimum(counts, clip)
    return out


def _saccade_path(amplitude: int, substeps: int) -> list[tuple[float, float]]:
    """(dy, dx) of the image at each of the 3 * substeps + 1 instants (the first at rest, at the first
    vertex)."""
    verts = [(dy * amplitude, dx * amplitude) for dy, dx in SACCADE_VERTICES]
    points = [verts[0]]
    start = verts[0]
    for end in verts[1:]:
        for j in range(1, substeps + 1):
            f = j / substeps
            points.append((start[0] + f * (end[0] - start[0]), start[1] + f * (end[1] - start[1])))
        start = end
    return points


def _log_intensity(x: np.ndarray) -> np.ndarray:
    return np.log(x + np.float32(LOG_OFFSET)).astype(np.float32)


def _place(images: np.ndarray, dy: float, dx: float, a: int) -> np.ndarray:
    """``images`` [N, H, W] shifted by (dy, dx) pixels (|d| <= a) onto a zero sensor [N, H + 2a, W + 2a],
    bilinearly."""
    n, hi, wi = images.shape
    canvas = np.zeros((n, hi + 2 * a + 2, wi + 2 * a + 2), dtype=np.float32)   # a pixel of margin each side
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = np.float32(dy - iy), np.float32(dx - ix)
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            if wy * wx:
                y0, x0 = 1 + a + iy + oy, 1 + a + ix + ox
                canvas[:, y0:y0 + hi, x0:x0 + wi] += wy * wx * images
    return canvas[:, 1:-1, 1:-1]
