"""Datasets, as unsigned integer pixels in HWC order (what the hardware takes) with integer labels.

* ``digits``: scikit-learn's shipped load_digits, 1797 images of 8x8 pixels, values 0..16. The split
  is fixed (stratified 80/20, seed 0), so everyone measures on the same 360 test images.
* ``mnist``, ``fashion-mnist``: the IDX files (plain or gzip), in torchvision's layout
  (``DATA/MNIST/raw/train-images-idx3-ubyte[.gz]`` ..., ``DATA/FashionMNIST/raw/...``) or flat in
  ``DATA``; 28x28x1, 0..255. Without ``--data-dir``, Fashion-MNIST is read from Debian's package
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``) where it is installed.
* ``cifar10``: the python pickles (``DATA/cifar-10-batches-py/data_batch_1..5, test_batch``); 32x32x3.
* ``dvs-gesture``: tonic's preprocessed layout (``DATA/DVSGesture/ibmGestureTrain/userNN_light/K.npy``,
  events as rows x, y, p, t[ms], K the class).
* ``cifar10-dvs``: tonic's layout, AEDAT 4.0 files (``DATA/CIFAR10DVS/<class>/*.aedat4``, read by
  :mod:`flipspike.sw.aedat4`); no official split, so a fixed stratified 90/10 one (seed 0).

* ``nmnist``: tonic's layout of N-MNIST's binary files (``DATA/NMNIST/Train/<digit>/*.bin``, ``Test``).
* ``digits-saccade``, ``fashion-mnist-saccade``: the digits or Fashion-MNIST in front of a simulated event
  sensor moved along three saccades, as N-MNIST was made from MNIST (:func:`flipspike.sw.events.saccade_frames`;
  10x10x2 and 17x17x2 frames). A simulation, computed as the split is loaded (about a minute for
  Fashion-MNIST's 70,000 images).

Event datasets (the last five) come two ways. Asked for ``frames=T`` (frame input, the ``frames``
encoding), each sample is T frames, events binned by time window or by count as tonic's ``ToFrame``
does, counts clipped to 2**pixel_bits - 1 (default 1: binary spike frames), flattened frame-major.
Otherwise (direct encoding: one image per sample), a recording's events are counted per pixel and
polarity into one frame, clipped to 0..15 (DVS recordings pooled 4x4 to 32x32x2).

Nothing here downloads: install the Debian package, or fetch the files with torchvision / tonic on a
machine with internet (or copy them) and pass ``--data-dir``; a missing file is reported with the paths
it was looked for at and the fix.
"""

from __future__ import annotations

import gzip
import os
import pickle
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flipspike.ir.errors import ConfigError, DataError, MissingFileError

SPLIT_SEED = 0
TEST_FRACTION = 0.2
DVS_POOL, DVS_MAX = 4, 15


@dataclass
class Split:
    x_train: np.ndarray   # int64 [N, features], unsigned pixel values, HWC order
    y_train: np.ndarray   # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray
    pixel_bits: int       # bits per pixel the hardware needs
    pixel_max: int        # largest pixel value
    classes: int
    shape: tuple = ()     # (H, W, C) of one image (or frame), HWC order as the features are flattened; () for vectors
    frames: int = 0       # > 0: each sample is this many frames of ``shape`` (frame-major); 0: one image

    @property
    def input_shape(self) -> tuple:
        """Shape of one image, or of one frame."""
        return tuple(self.shape) if self.shape else (self.x_train.shape[1] // max(1, self.frames),)


class DatasetMissing(MissingFileError):
    """A dataset's files are not where they were looked for (nothing downloads at run time)."""


def data_root(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir or os.environ.get("FLIPSPIKE_DATA", "data"))


#: Where a system package installs a dataset: searched when no --data-dir (nor FLIPSPIKE_DATA) is given.
SYSTEM_DIRS = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"), "apt-get install dataset-fashion-mnist")}


@dataclass(frozen=True)
class Binning:
    """How an event dataset becomes samples: ``frames`` frames per sample (None: one frame of counts, for
    direct encoding), events binned ``by`` time window or event count, optionally denoised (``denoise``:
    the window in the recording's time unit, microseconds for real sensors), pooled ``pool`` x ``pool``
    (default: the dataset's), counts clipped to 2**bits - 1 (frames: default 1 bit)."""
    frames: int | None = None
    by: str = "time"
    denoise: int | None = None
    bits: int | None = None
    pool: int | None = None       # pixels pooled (summed) P x P; None: the dataset's own (DVS 4, others 1 or 2)

    @property
    def clip(self) -> int:
        return DVS_MAX if self.frames is None and self.bits is None else (1 << (self.bits or 1)) - 1

    @property
    def pixel_bits(self) -> int:
        return (self.clip).bit_length()

    def pool_for(self, default: int) -> int:
        return self.pool or default

    def frames_of(self, events, sensor: tuple[int, int], pool: int) -> np.ndarray:
        """One recording's sample: [bins * H/p * W/p * 2] (uint8), p = ``pool`` unless this binning sets one."""
        from .events import denoise, to_frames

        if self.denoise is not None:
            events = denoise(events, sensor, self.denoise)
        return to_frames(events, sensor, self.frames or 1, by=self.by, pool=self.pool_for(pool),
                         clip=self.clip).reshape(-1)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, pixel_bits: int | None = None, *,
                 frames: int | None = None, bin_by: str = "time", denoise: int | None = None,
                 event_pool: int | None = None) -> Split:
    """The dataset's split; with ``pixel_bits``, its pixels quantised to that many bits
    (:func:`quantize_pixels`). An event dataset (:data:`EVENT_LOADERS`) gives ``frames`` frames per sample
    where asked (see :class:`Binning`); the others take one image per sample."""
    if name not in LOADERS and name not in EVENT_LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; available: {', '.join([*LOADERS, *EVENT_LOADERS])}")
    root = data_root(data_dir)
    system_name = name.removesuffix("-saccade")
    if system_name in SYSTEM_DIRS and data_dir is None and "FLIPSPIKE_DATA" not in os.environ:
        system, _ = SYSTEM_DIRS[system_name]
        if system.is_dir():
            root = system
    if name in EVENT_LOADERS:
        if frames is not None and frames < 1:
            raise ConfigError(f"an event dataset's samples need 1 or more frames, got {frames}")
        return EVENT_LOADERS[name](root, Binning(frames, bin_by, denoise, pixel_bits, event_pool))
    if event_pool is not None:
        raise ConfigError(f"--event-pool pools events; dataset {name!r} holds still images (its pixels are not "
                          "pooled)")
    if frames is not None:
        raise ConfigError(f"dataset {name!r} holds still images, one per sample, not events: frame input needs an "
                          f"event dataset ({', '.join(EVENT_LOADERS)}), e.g. {name}-saccade where there is one; "
                          "or train with direct encoding")
    split = LOADERS[name](root)
    return split if pixel_bits is None else quantize_pixels(split, pixel_bits)


def dataset_for(desc, name: str | None = None, data_dir: str | os.PathLike | None = None) -> Split:
    """The split a description takes: the dataset ``name`` (default: the one it was exported from, else
    digits) at its pixel bits; for frame input, T frames per sample binned as at training (its meta's
    ``bin_by`` and ``denoise``)."""
    meta = desc.meta
    name = name or meta.get("dataset", "digits")
    if not desc.input.frames:
        return load_dataset(name, data_dir, desc.input.bits)
    return load_dataset(name, data_dir, desc.input.bits, frames=desc.timesteps, bin_by=meta.get("bin_by", "time"),
                        denoise=meta.get("denoise"), event_pool=meta.get("event_pool"))


def quantize_pixels(split: Split, bits: int) -> Split:
    """Pixels of ``bits`` bits: each value keeps its top ``bits`` bits (x >> (pixel_bits - bits)), so the
    first layer's synapses, adders and pixel buffer narrow with them. At or above the split's own width
    the split is returned as it is."""
    if not 1 <= bits <= 16:
        raise ConfigError(f"--pixel-bits must be 1..16, got {bits}")
    shift = split.pixel_bits - bits
    if shift <= 0:
        return split
    return dataclasses.replace(split, x_train=split.x_train >> shift, x_test=split.x_test >> shift, pixel_bits=bits,
                               pixel_max=split.pixel_max >> shift)


def _digits(_root: Path) -> Split:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.int64)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    return Split(x_tr, y_tr, x_te, y_te, pixel_bits=5, pixel_max=16, classes=10, shape=(8, 8, 1))


def _missing(what: str, path: Path, how: str) -> DatasetMissing:
    return DatasetMissing(f"{what} not found: expected {path}. This machine does not download datasets; {how}, "
                          "then pass --data-dir (or set FLIPSPIKE_DATA)")


# -- MNIST / Fashion-MNIST: IDX files ---------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """An IDX file (plain or .gz): magic 0x0000 0x08 (unsigned bytes) ndim, then big-endian int32 sizes."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims.tolist()} but {data.size} values follow (truncated file?)")
    return data.reshape(dims)


def _find(folder: Path, stem: str) -> Path | None:
    for p in (folder / stem, folder / f"{stem}.gz"):
        if p.is_file():
            return p
    return None


def _mnist_like(folder_name: str, label: str, system: tuple[Path, str] | None = None):
    def load(root: Path) -> Split:
        stems = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
                 "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
        # torchvision's layout, or the files flat in the directory (as Debian's package installs them)
        folder = next((f for f in (root / folder_name / "raw", root) if _find(f, stems["x_train"])),
                      root / folder_name / "raw")
        parts = {}
        for key, stem in stems.items():
            path = _find(folder, stem)
            if path is None:
                how = f"fetch it with torchvision.datasets.{folder_name}(DATA, download=True)"
                if system is not None:
                    how = f"install it with `{system[1]}` (it goes to {system[0]}, read by default), or {how}"
                raise _missing(label, folder / f"{stem}[.gz]", how)
            parts[key] = read_idx(path).astype(np.int64)
        x_tr, x_te = (parts[k].reshape(len(parts[k]), -1) for k in ("x_train", "x_test"))
        h, w = parts["x_train"].shape[1:]
        return Split(x_tr, parts["y_train"], x_te, parts["y_test"], pixel_bits=8, pixel_max=255, classes=10,
                     shape=(h, w, 1))
    return load


# -- CIFAR-10: python pickles ----------------------------------------------------------------------------

def _cifar10(root: Path) -> Split:
    folder = root / "cifar-10-batches-py"

    def batch(name: str):
        path = folder / name
        if not path.is_file():
            raise _missing("CIFAR-10", path, "fetch it with torchvision.datasets.CIFAR10(DATA, download=True)")
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        x = np.asarray(d[b"data"], dtype=np.int64).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)   # CHW -> HWC
        return x.reshape(len(x), -1), np.asarray(d[b"labels"], dtype=np.int64)

    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_te, y_te = batch("test_batch")
    return Split(np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train]), x_te, y_te,
                 pixel_bits=8, pixel_max=255, classes=10, shape=(32, 32, 3))


# -- event datasets ------------------------------------------------------------------------------------------

DVS_SENSOR = (128, 128)


def dvs_frame(events: np.ndarray, sensor: int = 128) -> np.ndarray:
    """Events [N, 4] (x, y, p, t) -> counts per pixel and polarity, pooled DVS_POOL x DVS_POOL, clipped: HWC."""
    return Binning().frames_of(events, (sensor, sensor), DVS_POOL)


def _event_split(train, test, binning: Binning, sensor: tuple[int, int], pool: int, classes: int) -> Split:
    """A split from (samples, labels) pairs of frames made by ``binning``."""
    h, w = sensor[0] // pool, sensor[1] // pool
    return Split(train[0], train[1], test[0], test[1], pixel_bits=binning.pixel_bits, pixel_max=binning.clip,
                 classes=classes, shape=(h, w, 2), frames=binning.frames or 0)


def _recorded_splits(base: Path, folders: tuple[str, str], pattern: str, read, label_of, sensor, pool: int,
                     binning: Binning, missing: tuple[str, str, str]):
    """(train, test) pairs of (frames, labels) from the recordings matching ``pattern`` in each of ``folders``
    under ``base``, read by ``read``, labelled by ``label_of(path)``; ``missing``: (dataset name, an example
    path below the folder, how to fetch it), named where a folder holds none."""
    out = []
    for folder in folders:
        files = sorted((base / folder).glob(pattern))
        if not files:
            raise _missing(missing[0], base / folder / missing[1], missing[2])
        out.append((np.stack([binning.frames_of(read(f), sensor, pool) for f in files]),
                    np.array([label_of(f) for f in files], dtype=np.int64)))
    return out


def _dvs_gesture(root: Path, binning: Binning) -> Split:
    train, test = _recorded_splits(root / "DVSGesture", ("ibmGestureTrain", "ibmGestureTest"), "*/*.npy", np.load,
                                   lambda f: int(f.stem), DVS_SENSOR, DVS_POOL, binning,
                                   ("DVS-Gesture", "userNN_lighting/K.npy",
                                    "fetch it with tonic.datasets.DVSGesture(save_to=DATA)"))
    return _event_split(train, test, binning, DVS_SENSOR, binning.pool_for(DVS_POOL), 11)


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _cifar10_dvs(root: Path, binning: Binning) -> Split:
    from sklearn.model_selection import train_test_split

    from .aedat4 import read_events

    base = root / "CIFAR10DVS"
    frames, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):
        for f in sorted((base / name).glob("*.aedat4")):
            frames.append(binning.frames_of(read_events(f), DVS_SENSOR, DVS_POOL))
            labels.append(label)
    if not frames:
        raise _missing("CIFAR10-DVS", base / "airplane/*.aedat4", "fetch it with tonic.datasets.CIFAR10DVS(save_to=DATA)")
    x, y = np.stack(frames), np.asarray(labels, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.1, stratify=y, random_state=SPLIT_SEED)
    return _event_split((x_tr, y_tr), (x_te, y_te), binning, DVS_SENSOR, binning.pool_for(DVS_POOL), 10)


def _nmnist(root: Path, binning: Binning) -> Split:
    from .events import NMNIST_SENSOR, read_nmnist

    train, test = _recorded_splits(root / "NMNIST", ("Train", "Test"), "[0-9]/*.bin", read_nmnist,
                                   lambda f: int(f.parent.name), NMNIST_SENSOR, 1, binning,
                                   ("N-MNIST", "0/00002.bin", "fetch it with tonic.datasets.NMNIST(save_to=DATA)"))
    return _event_split(train, test, binning, NMNIST_SENSOR, binning.pool_for(1), 10)


#: Simulated saccades: (still-image dataset, saccade amplitude in pixels, pooling of the sensor).
SACCADES = {"digits-saccade": ("digits", 1, 1), "fashion-mnist-saccade": ("fashion-mnist", 3, 2)}


def _saccade(name: str):
    source, amplitude, pool = SACCADES[name]

    def load(root: Path, binning: Binning) -> Split:
        from .events import saccade_frames

        if binning.denoise is not None or binning.by != "time":
            raise ConfigError(f"{name} is simulated frame by frame (no noise, binned by time): drop the denoising "
                              "and the count binning")
        still = LOADERS[source](root)
        h, w, _ = still.shape
        p = binning.pool_for(pool)

        def frames(x):
            f = saccade_frames(x.reshape(len(x), h, w), still.pixel_max, binning.frames or 1, amplitude=amplitude,
                               pool=p, clip=binning.clip)
            return f.reshape(len(x), -1)

        sensor = (h + 2 * amplitude, w + 2 * amplitude)
        return _event_split((frames(still.x_train), still.y_train), (frames(still.x_test), still.y_test), binning,
                            sensor, p, still.classes)
    return load


LOADERS = {"digits": _digits, "mnist": _mnist_like("MNIST", "MNIST"),
           "fashion-mnist": _mnist_like("FashionMNIST", "Fashion-MNIST", SYSTEM_DIRS["fashion-mnist"]),
           "cifar10": _cifar10}
#: Datasets of events (recorded or simulated): loaders of (root, Binning).
EVENT_LOADERS = {"dvs-gesture": _dvs_gesture, "cifar10-dvs": _cifar10_dvs, "nmnist": _nmnist,
                 **{name: _saccade(name) for name in SACCADES}}
