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

Direct encoding takes one frame per sample, so the events of a DVS recording are counted per pixel and
polarity, pooled 4x4 to 32x32x2, and clipped to 0..15.

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
    shape: tuple = ()     # (H, W, C) of one image, HWC order as the features are flattened; () for vectors

    @property
    def input_shape(self) -> tuple:
        return tuple(self.shape) if self.shape else (self.x_train.shape[1],)


class DatasetMissing(MissingFileError):
    """A dataset's files are not where they were looked for (nothing downloads at run time)."""


def data_root(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir or os.environ.get("FLIPSPIKE_DATA", "data"))


#: Where a system package installs a dataset: searched when no --data-dir (nor FLIPSPIKE_DATA) is given.
SYSTEM_DIRS = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"), "apt-get install dataset-fashion-mnist")}


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, pixel_bits: int | None = None) -> Split:
    """The dataset's split; with ``pixel_bits``, its pixels quantised to that many bits
    (:func:`quantize_pixels`)."""
    if name not in LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; available: {', '.join(LOADERS)}")
    root = data_root(data_dir)
    if name in SYSTEM_DIRS and data_dir is None and "FLIPSPIKE_DATA" not in os.environ:
        system, _ = SYSTEM_DIRS[name]
        if system.is_dir():
            root = system
    split = LOADERS[name](root)
    return split if pixel_bits is None else quantize_pixels(split, pixel_bits)


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


# -- DVS-Gesture: tonic's npy layout ---------------------------------------------------------------------

def dvs_frame(events: np.ndarray, sensor: int = 128) -> np.ndarray:
    """Events [N, 4] (x, y, p, t) -> counts per pixel and polarity, pooled DVS_POOL x DVS_POOL, clipped: HWC."""
    n = sensor // DVS_POOL
    x, y, p = (events[:, i].astype(np.int64) for i in range(3))
    if ((x < 0) | (x >= sensor) | (y < 0) | (y >= sensor) | (p < 0) | (p > 1)).any():
        raise DataError(f"DVS events outside the {sensor}x{sensor} sensor or with polarity not 0/1")
    counts = np.zeros((n, n, 2), dtype=np.int64)
    np.add.at(counts, (y // DVS_POOL, x // DVS_POOL, p), 1)
    return np.minimum(counts, DVS_MAX).reshape(-1)


def _dvs_gesture(root: Path) -> Split:
    base = root / "DVSGesture"
    out = []
    for folder in ("ibmGestureTrain", "ibmGestureTest"):
        files = sorted((base / folder).glob("*/*.npy"))
        if not files:
            raise _missing("DVS-Gesture", base / folder / "userNN_lighting/K.npy",
                           "fetch it with tonic.datasets.DVSGesture(save_to=DATA)")
        out.append((np.stack([dvs_frame(np.load(f)) for f in files]),
                    np.array([int(f.stem) for f in files], dtype=np.int64)))
    n = 128 // DVS_POOL
    return Split(out[0][0], out[0][1], out[1][0], out[1][1], pixel_bits=4, pixel_max=DVS_MAX, classes=11,
                 shape=(n, n, 2))


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _cifar10_dvs(root: Path) -> Split:
    from sklearn.model_selection import train_test_split

    from .aedat4 import read_events

    base = root / "CIFAR10DVS"
    frames, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):
        for f in sorted((base / name).glob("*.aedat4")):
            frames.append(dvs_frame(read_events(f)))
            labels.append(label)
    if not frames:
        raise _missing("CIFAR10-DVS", base / "airplane/*.aedat4", "fetch it with tonic.datasets.CIFAR10DVS(save_to=DATA)")
    x, y = np.stack(frames), np.asarray(labels, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.1, stratify=y, random_state=SPLIT_SEED)
    n = 128 // DVS_POOL
    return Split(x_tr, y_tr, x_te, y_te, pixel_bits=4, pixel_max=DVS_MAX, classes=10, shape=(n, n, 2))


LOADERS = {"digits": _digits, "mnist": _mnist_like("MNIST", "MNIST"),
           "fashion-mnist": _mnist_like("FashionMNIST", "Fashion-MNIST", SYSTEM_DIRS["fashion-mnist"]),
           "cifar10": _cifar10,
           "dvs-gesture": _dvs_gesture, "cifar10-dvs": _cifar10_dvs}
