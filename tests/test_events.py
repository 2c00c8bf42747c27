"""Event data (issue 20): binning into frames, denoising, N-MNIST's file format, the event loaders' frames,
and the simulated saccades; each held against a plain loop or a property, not against itself."""

import numpy as np
import pytest

from flipspike.ir.errors import ConfigError, DataError
from flipspike.sw.data import DatasetMissing, load_dataset
from flipspike.sw.events import denoise, read_nmnist, saccade_frames, time_bins, to_frames


def random_events(rng, n, sensor=(8, 6), span=1000):
    t = np.sort(rng.integers(0, span, n))
    return np.stack([rng.integers(0, sensor[1], n), rng.integers(0, sensor[0], n), rng.integers(0, 2, n), t], axis=1)


@pytest.mark.parametrize("by", ["time", "count"])
def test_frames_count_events_as_a_loop_does(by):
    rng = np.random.default_rng(0)
    ev = random_events(rng, 500)
    bins, pool, clip = 5, 2, 3
    got = to_frames(ev[rng.permutation(len(ev))], (8, 6), bins, by=by, pool=pool, clip=clip)   # order does not matter
    want = np.zeros((bins, 4, 3, 2), dtype=int)
    t0, t1 = ev[0, 3], ev[-1, 3]
    for k, (x, y, p, t) in enumerate(ev):
        b = (t - t0) * bins // (t1 - t0 + 1) if by == "time" else k * bins // len(ev)
        want[b, y // pool, x // pool, p] += 1
    if by == "time":                     # (events with equal stamps may come in any order: count bins only)
        assert (got == np.minimum(want, clip)).all()
    else:
        assert got.sum() == np.minimum(want, clip).sum() and got.max() == clip
    assert got.dtype == np.uint8


def test_time_bins_are_equal_windows_and_count_bins_equal_slices():
    t = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert time_bins(t, 2).tolist() == [0] * 5 + [1] * 5
    assert time_bins(t[[0, 0, 0, 9]], 2, "count").tolist() == [0, 0, 1, 1]
    assert time_bins(np.array([5, 5, 5]), 4).tolist() == [0, 0, 0]          # one instant: the first window
    with pytest.raises(ConfigError, match="binned by"):
        time_bins(t, 2, "space")


def test_events_outside_the_sensor_are_refused():
    with pytest.raises(DataError, match="outside the 8x6 sensor"):
        to_frames(np.array([[6, 0, 1, 0]]), (8, 6), 1)
    with pytest.raises(DataError, match="polarity"):
        to_frames(np.array([[0, 0, 2, 0]]), (8, 6), 1)


def test_denoise_keeps_exactly_the_events_a_neighbour_preceded():
    rng = np.random.default_rng(1)
    ev = random_events(rng, 300, sensor=(6, 6), span=3000)
    window = 60
    kept = denoise(ev, (6, 6), window)
    want = [e for k, e in enumerate(ev)                      # brute force over all earlier events
            if any(0 < max(abs(e[0] - f[0]), abs(e[1] - f[1])) <= 1 and 0 <= e[3] - f[3] <= window
                   for f in ev[:k])]
    assert kept.tolist() == np.array(want).reshape(-1, 4).tolist()
    assert 0 < len(kept) < len(ev)


def nmnist_bytes(ev) -> bytes:
    """N-MNIST's 40-bit records, packed by shifts (independently of the reader's masks)."""
    out = bytearray()
    for x, y, p, t in ev:
        word = (int(x) << 32) | (int(y) << 24) | (int(p) << 23) | int(t)
        out += word.to_bytes(5, "big")
    return bytes(out)


def test_nmnist_files_read_back(tmp_path):
    rng = np.random.default_rng(2)
    ev = random_events(rng, 50, sensor=(34, 34), span=(1 << 23))
    (tmp_path / "a.bin").write_bytes(nmnist_bytes(ev))
    assert read_nmnist(tmp_path / "a.bin").tolist() == ev.tolist()
    (tmp_path / "b.bin").write_bytes(nmnist_bytes(ev)[:-2])
    with pytest.raises(DataError, match="5-byte"):
        read_nmnist(tmp_path / "b.bin")


def test_nmnist_layout_gives_frames_or_one_frame(tmp_path):
    rng = np.random.default_rng(3)
    for split, labels in (("Train", [0, 1, 1]), ("Test", [2])):
        for k, label in enumerate(labels):
            d = tmp_path / "NMNIST" / split / str(label)
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{k:05d}.bin").write_bytes(nmnist_bytes(random_events(rng, 200, sensor=(34, 34))))
    data = load_dataset("nmnist", tmp_path, frames=4)
    assert data.frames == 4 and data.shape == (34, 34, 2) and data.pixel_max == 1
    assert data.x_train.shape == (3, 4 * 34 * 34 * 2) and data.y_train.tolist() == [0, 1, 1]
    one = load_dataset("nmnist", tmp_path)                         # direct encoding: counts in one frame
    assert one.frames == 0 and one.x_test.shape == (1, 34 * 34 * 2) and one.x_test.sum() == 200
    counts = load_dataset("nmnist", tmp_path, pixel_bits=3, frames=2, bin_by="count")
    assert counts.pixel_max == 7 and counts.x_train.max() <= 7
    pooled = load_dataset("nmnist", tmp_path, frames=2, event_pool=2)
    assert pooled.shape == (17, 17, 2) and pooled.x_train.shape == (3, 2 * 17 * 17 * 2)
    with pytest.raises(DatasetMissing, match="N-MNIST not found"):
        load_dataset("nmnist", tmp_path / "none", frames=4)


def test_still_images_are_not_frames():
    with pytest.raises(ConfigError, match="digits-saccade"):
        load_dataset("digits", frames=4)


def test_saccades_are_deterministic_and_see_edges_only():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 17, (5, 8, 8))
    a = saccade_frames(images, 16, 6, amplitude=1)
    assert a.shape == (5, 6, 10, 10, 2) and a.dtype == np.uint8
    assert (a == saccade_frames(images, 16, 6, amplitude=1)).all()
    assert a.max() == 1 and a.any()
    flat = saccade_frames(np.full((1, 8, 8), 9), 16, 6, amplitude=1)
    assert not flat[:, :, 2:-2, 2:-2].any()          # the inside of a uniform image never changes: no events
    assert flat.any()                                # its edges move: events
    counts = saccade_frames(images, 16, 6, amplitude=1, clip=255)
    finer = saccade_frames(images, 16, 6, amplitude=1, clip=255, contrast=0.05)
    assert finer.sum() > 2 * counts.sum()            # a lower contrast threshold makes more events
    assert counts[..., 1].sum() > 0 and counts[..., 0].sum() > 0     # ON and OFF both
    pooled = saccade_frames(images, 16, 6, amplitude=1, clip=255, pool=2)
    assert (pooled == counts.reshape(5, 6, 5, 2, 5, 2, 2).sum(axis=(3, 5))).all()


def test_digits_saccade_split():
    data = load_dataset("digits-saccade", frames=5)
    assert data.frames == 5 and data.shape == (10, 10, 2) and data.x_test.shape == (360, 5 * 200)
    still = load_dataset("digits")
    assert (data.y_test == still.y_test).all()
    assert 0.05 < data.x_train.mean() < 0.5                         # spike frames, neither empty nor full
