"""Dataset loaders, on small files written here in each dataset's real on-disk format."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from flipspike.sw.data import DVS_MAX, DatasetMissing, load_dataset


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(root, folder, n_train=40, n_test=12, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test)}
    for stem, a in arrays.items():
        data = _idx(a)
        if compress:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / stem).write_bytes(data)
    return arrays


@pytest.mark.parametrize("name,folder,compress", [("mnist", "MNIST", True), ("fashion-mnist", "FashionMNIST", False)])
def test_mnist_idx_files(tmp_path, name, folder, compress):
    arrays = _write_mnist(tmp_path, folder, compress=compress)
    data = load_dataset(name, tmp_path)
    assert data.input_shape == (28, 28, 1) and data.pixel_max == 255 and data.pixel_bits == 8
    assert np.array_equal(data.x_train, arrays["train-images-idx3-ubyte"].reshape(40, -1))
    assert np.array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_truncated_idx_is_reported(tmp_path):
    _write_mnist(tmp_path, "MNIST", compress=False)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        load_dataset("mnist", tmp_path)


def test_cifar10_pickles_become_hwc(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = (rng.integers(0, 256, (3, 3072)).astype(np.uint8), rng.integers(0, 10, 3).tolist())
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": batches[name][0], b"labels": batches[name][1]}, f)
    data = load_dataset("cifar10", tmp_path)
    assert data.x_train.shape == (15, 3072) and data.input_shape == (32, 32, 3)
    first = batches["data_batch_1"][0][0]
    # pixel (y=2, x=5), channel c sits at c*1024 + 2*32 + 5 in the pickle and at (2*32 + 5)*3 + c in HWC
    for c in range(3):
        assert data.x_train[0, (2 * 32 + 5) * 3 + c] == first[c * 1024 + 2 * 32 + 5]
    assert data.y_test.tolist() == batches["test_batch"][1]


def test_dvs_gesture_npy_events_become_one_frame(tmp_path):
    rng = np.random.default_rng(2)
    for split, users in (("ibmGestureTrain", ["user01_fluorescent", "user02_lab"]), ("ibmGestureTest", ["user24_led"])):
        for user in users:
            d = tmp_path / "DVSGesture" / split / user
            d.mkdir(parents=True)
            for label in (0, 3, 10):
                ev = np.stack([rng.integers(0, 128, 500), rng.integers(0, 128, 500), rng.integers(0, 2, 500),
                               np.sort(rng.integers(0, 6000, 500))], axis=1)
                np.save(d / f"{label}.npy", ev)
    ev = np.array([[5, 9, 1, 0]] * 20 + [[127, 0, 0, 3]])             # 20 events on one pixel: clipped
    np.save(tmp_path / "DVSGesture" / "ibmGestureTest" / "user24_led" / "3.npy", ev)
    data = load_dataset("dvs-gesture", tmp_path)
    assert data.x_train.shape == (6, 32 * 32 * 2) and data.classes == 11 and data.input_shape == (32, 32, 2)
    assert sorted(data.y_train.tolist()) == [0, 0, 3, 3, 10, 10]
    frame = data.x_test[data.y_test.tolist().index(3)].reshape(32, 32, 2)
    assert frame[9 // 4, 5 // 4, 1] == DVS_MAX and frame[0, 127 // 4, 0] == 1 and frame.sum() == DVS_MAX + 1


def test_missing_dataset_names_the_path_and_the_fix(tmp_path, capsys):
    with pytest.raises(DatasetMissing, match=r"MNIST/raw/train-images-idx3-ubyte\[\.gz\].*--data-dir"):
        load_dataset("mnist", tmp_path)
    from flipspike.gen.cli import main
    assert main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "cifar-10-batches-py/data_batch_1" in capsys.readouterr().err


def test_train_on_mnist_files(tmp_path):
    from flipspike.gen.cli import main
    _write_mnist(tmp_path / "data", "MNIST")
    rc = main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--arch", "c4s2-p2-fc10",
               "--epochs", "1", "--timesteps", "2", "--out", str(tmp_path / "run")])
    assert rc == 0 and (tmp_path / "run" / "model.pt").is_file()
