"""Dataset loaders, on small files written here in each dataset's real on-disk format."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from flipspike.sw.data import DVS_MAX, DatasetMissing, load_dataset
from flipspike.ir.errors import ConfigError


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


def test_fashion_mnist_flat_as_debian_installs_it_and_by_default_from_there(tmp_path, monkeypatch):
    import flipspike.sw.data as data
    arrays = _write_mnist(tmp_path, "flat", compress=True)
    flat = tmp_path / "flat" / "raw"                       # (the files straight in the directory)
    assert np.array_equal(load_dataset("fashion-mnist", flat).x_test, arrays["t10k-images-idx3-ubyte"].reshape(12, -1))
    monkeypatch.delenv("FLIPSPIKE_DATA", raising=False)
    monkeypatch.setitem(data.SYSTEM_DIRS, "fashion-mnist", (flat, "apt-get install dataset-fashion-mnist"))
    assert np.array_equal(load_dataset("fashion-mnist").y_train, arrays["train-labels-idx1-ubyte"])


def test_missing_fashion_mnist_names_the_package(tmp_path, monkeypatch):
    import flipspike.sw.data as data
    monkeypatch.setitem(data.SYSTEM_DIRS, "fashion-mnist", (tmp_path / "none", "apt-get install dataset-fashion-mnist"))
    with pytest.raises(DatasetMissing, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
def test_the_real_fashion_mnist_files():
    """The package's files: 60,000 and 10,000 images of 28x28, each class 6,000 and 1,000 times."""
    data = load_dataset("fashion-mnist")
    assert data.x_train.shape == (60000, 784) and data.x_test.shape == (10000, 784)
    assert np.bincount(data.y_train).tolist() == [6000] * 10 and np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.x_train.min() == 0 and data.x_train.max() == 255


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
@pytest.mark.parametrize("arch, pixel_bits, fold", [("784-64-10", 4, "28x2s,8x1"), ("c4-p2-fc10", 8, "1x4,8x2")])
def test_real_fashion_mnist_slice_trained_and_cosimulated(arch, pixel_bits, fold, tmp_path, build_root, capsys):
    """The real files end to end, as CI runs them: an MLP (4-bit pixels, its first layer's weights in
    SPRAM) and a conv net trained on 3,000 training images, exported (float and integer accuracy on
    all 10,000 test images), and 300 real test images co-simulated bit-exact."""
    import json
    from flipspike.cli import main
    run, net, report = tmp_path / "run", tmp_path / "net.json", tmp_path / "cosim.json"
    assert main(["train", "--dataset", "fashion-mnist", "--arch", arch, "--epochs", "2", "--train-samples", "3000",
                 "--pixel-bits", str(pixel_bits), "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(net)]) == 0
    meta = json.loads(net.read_text())["meta"]
    assert meta["integer_test_accuracy"] > 0.6
    assert abs(meta["integer_test_accuracy"] - meta["float_test_accuracy"]) < 0.01
    assert main(["cosim", str(net), "--fold", fold, "--samples", "300", "--json", str(report),
                 "--build-dir", str(build_root)]) == 0
    doc = json.loads(report.read_text())
    assert doc["samples"] == 300 and doc["mismatches"] == 0 and doc["cycle_model_mismatches"] == 0
    assert doc["accuracy_hw"] == doc["accuracy_ref"] > 0.6


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
    from flipspike.cli import main
    assert main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "cifar-10-batches-py/data_batch_1" in capsys.readouterr().err


def test_train_on_mnist_files(tmp_path):
    from flipspike.cli import main
    _write_mnist(tmp_path / "data", "MNIST")
    rc = main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--arch", "c4s2-p2-fc10",
               "--epochs", "1", "--timesteps", "2", "--out", str(tmp_path / "run")])
    assert rc == 0 and (tmp_path / "run" / "model.pt").is_file()


def _flatbuffer_ioheader(compression: int, table: int, info: str) -> bytes:
    text = info.encode() + b"\0"
    buf = bytearray(36 + 4 + len(text))
    struct.pack_into("<I", buf, 0, 16)                                   # root table at 16
    struct.pack_into("<HHHHH", buf, 4, 10, 20, 4, 8, 16)                 # vtable: 3 fields
    struct.pack_into("<i", buf, 16, 16 - 4)                              # table -> vtable
    struct.pack_into("<iqI", buf, 20, compression, table, 36 - 32)       # fields; string at 36
    struct.pack_into("<I", buf, 36, len(text) - 1)
    buf[40:] = text
    return bytes(buf)


def _flatbuffer_events(events: np.ndarray) -> bytes:
    """A size-prefixed EventPacket: vector of (int64 t, int16 x, int16 y, bool on, pad 3)."""
    fb = bytearray(32 + 16 * len(events))
    struct.pack_into("<I", fb, 0, 16)
    fb[4:8] = b"EVTS"
    struct.pack_into("<HHH", fb, 8, 6, 8, 4)
    struct.pack_into("<i", fb, 16, 16 - 8)
    struct.pack_into("<I", fb, 20, 28 - 20)
    struct.pack_into("<I", fb, 28, len(events))
    for k, (x, y, p, t) in enumerate(events):
        struct.pack_into("<qhh?", fb, 32 + 16 * k, t, x, y, bool(p))
    return struct.pack("<I", len(fb)) + bytes(fb)


def write_aedat4(path, packets):
    """packets: [(stream id, events [N, 4] as x, y, p, t)]; stream 0 is events, stream 1 triggers."""
    info = ('<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
            '<node name="0" path="/0/"><attr key="compression" type="string">NONE</attr>'
            '<attr key="typeIdentifier" type="string">EVTS</attr></node>'
            '<node name="1" path="/1/"><attr key="typeIdentifier" type="string">TRIG</attr></node></node></dv>')
    body = b""
    for stream, events in packets:
        data = _flatbuffer_events(events) if stream == 0 else b"\x01\x02\x03\x04trigger!"
        body += struct.pack("<ii", stream, len(data)) + data
    header = _flatbuffer_ioheader(0, 0, info)
    start = len(b"#!AER-DAT4.0\r\n") + 4 + len(header)
    table = start + len(body)                                            # a packet index follows the packets
    header = _flatbuffer_ioheader(0, table, info)
    path.write_bytes(b"#!AER-DAT4.0\r\n" + struct.pack("<i", len(header)) + header + body + b"INDEX-TABLE-BYTES")


def test_aedat4_events_are_read_from_event_streams_only(tmp_path):
    from flipspike.sw.aedat4 import AedatError, read_events
    rng = np.random.default_rng(4)
    a = np.stack([rng.integers(0, 128, 30), rng.integers(0, 128, 30), rng.integers(0, 2, 30),
                  np.arange(30) * 7], axis=1)
    b = np.array([[1, 2, 1, 1000], [127, 127, 0, 1001]])
    write_aedat4(tmp_path / "r.aedat4", [(0, a), (1, None), (0, b)])
    assert np.array_equal(read_events(tmp_path / "r.aedat4"), np.concatenate([a, b]))
    (tmp_path / "bad.aedat4").write_bytes(b"#!AER-DAT2.0\r\n")
    with pytest.raises(AedatError, match="not an AEDAT 4.0 file"):
        read_events(tmp_path / "bad.aedat4")
    raw = (tmp_path / "r.aedat4").read_bytes()
    (tmp_path / "cut.aedat4").write_bytes(raw[:len(raw) - 100])
    with pytest.raises(AedatError, match="cut.aedat4"):
        read_events(tmp_path / "cut.aedat4")


def test_cifar10_dvs_layout(tmp_path):
    from flipspike.sw.data import CIFAR10_CLASSES
    rng = np.random.default_rng(5)
    for name in CIFAR10_CLASSES:
        d = tmp_path / "CIFAR10DVS" / name
        d.mkdir(parents=True)
        for k in range(10):
            ev = np.stack([rng.integers(0, 128, 50), rng.integers(0, 128, 50), rng.integers(0, 2, 50),
                           np.arange(50)], axis=1)
            write_aedat4(d / f"cifar10_{name}_{k}.aedat4", [(0, ev)])
    data = load_dataset("cifar10-dvs", tmp_path)
    assert len(data.x_train) == 90 and len(data.x_test) == 10 and sorted(data.y_test.tolist()) == list(range(10))
    assert data.input_shape == (32, 32, 2) and data.x_train.sum(axis=1).max() <= 50


def test_pixel_bits_keep_the_top_bits():
    from flipspike.sw.data import Split, quantize_pixels
    x = np.array([[0, 1, 127, 128, 255]])
    split = Split(x, np.array([0]), x.copy(), np.array([0]), pixel_bits=8, pixel_max=255, classes=1)
    q = quantize_pixels(split, 3)
    assert q.x_train.tolist() == [[0, 0, 3, 4, 7]] == q.x_test.tolist()
    assert (q.pixel_bits, q.pixel_max) == (3, 7)
    assert quantize_pixels(split, 8) is split and quantize_pixels(split, 12) is split
    with pytest.raises(ConfigError, match="pixel-bits"):
        quantize_pixels(split, 0)


def test_pixel_bits_from_training_to_cosim(tmp_path, build_root, capsys):
    """A run trained on 3-bit digits exports a 3-bit input; export, the test split of cosim and the
    hardware all read the digits quantised the same way (values 0..4)."""
    from flipspike.cli import main
    from flipspike.ir import NetDesc
    run, net = tmp_path / "run", tmp_path / "net.json"
    assert main(["train", "--dataset", "digits", "--arch", "64-32-10", "--epochs", "3", "--pixel-bits", "3",
                 "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(net)]) == 0
    desc = NetDesc.load(net)
    assert (desc.input.bits, desc.input.max_value) == (3, 4)
    assert desc.meta["integer_test_accuracy"] > 0.5
    assert main(["cosim", str(net), "--samples", "40", "--build-dir", str(build_root)]) == 0
    assert "mismatches: 0" in capsys.readouterr().out
