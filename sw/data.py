"""Datasets. ``digits`` is scikit-learn's shipped load_digits: 1797 images of 8x8 pixels, values 0..16.

The split is fixed: stratified 80/20 with seed 0, so everyone measures on the same 360 test images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass
class Split:
    x_train: np.ndarray   # int64 [N, features], unsigned pixel values
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


def load_dataset(name: str, data_dir: str | None = None) -> Split:
    if name != "digits":
        raise ValueError(f"unknown dataset {name!r}; available: digits")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.int64)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    return Split(x_tr, y_tr, x_te, y_te, pixel_bits=5, pixel_max=16, classes=10, shape=(8, 8, 1))
