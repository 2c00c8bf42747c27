"""The description file: round trip, and a clear error (with no half-written file) for every bad input."""

import json

import numpy as np
import pytest

from flipspike.ir import DescriptionError, NetDesc

from helpers import random_desc


@pytest.fixture
def desc():
    return random_desc(np.random.default_rng(1), [12, 8, 6, 3], timesteps=3)


def test_round_trip(tmp_path, desc):
    path = desc.save(tmp_path / "net.json")
    back = NetDesc.load(path)
    assert back.to_json() == desc.to_json()
    for a, b in zip(back.layers, desc.layers):
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)


def test_weights_are_bit_packed(tmp_path, desc):
    doc = json.loads(desc.save(tmp_path / "net.json").read_text())
    import base64
    assert len(base64.b64decode(doc["layers"][0]["weights"]["base64"])) == (12 * 8 + 7) // 8


def test_truncated_file(tmp_path, desc):
    path = desc.save(tmp_path / "net.json")
    path.write_text(path.read_text()[:200])
    with pytest.raises(DescriptionError, match="corrupt or truncated"):
        NetDesc.load(path)


def test_corrupt_weights(tmp_path, desc):
    doc = desc.to_json()
    doc["layers"][1]["weights"]["sha256"] = "0" * 64
    (tmp_path / "net.json").write_text(json.dumps(doc))
    with pytest.raises(DescriptionError, match="sha256"):
        NetDesc.load(tmp_path / "net.json")


def test_unknown_schema_version(desc):
    doc = desc.to_json()
    doc["schema_version"] = 99
    with pytest.raises(DescriptionError, match="schema_version 99 is not supported"):
        NetDesc.from_json(doc)


def test_not_a_description():
    with pytest.raises(DescriptionError, match="not a flipspike network description"):
        NetDesc.from_json({"hello": 1})


def test_missing_field(desc):
    doc = desc.to_json()
    del doc["layers"][0]["bias"]
    with pytest.raises(DescriptionError, match="malformed"):
        NetDesc.from_json(doc)


def test_unsupported_layer_kind(desc):
    doc = desc.to_json()
    doc["layers"][0]["kind"] = "conv2d"
    with pytest.raises(DescriptionError, match="unsupported layer kind 'conv2d'"):
        NetDesc.from_json(doc)


def test_declared_width_that_would_overflow(desc):
    doc = desc.to_json()
    doc["layers"][1]["widths"]["state"] -= 1
    with pytest.raises(DescriptionError, match="would overflow"):
        NetDesc.from_json(doc)


def test_width_beyond_limit(desc):
    desc.layers[0].bias[:] = 2 ** 45
    with pytest.raises(DescriptionError, match="exceeds the limit"):
        desc.assign_widths().validate()


def test_threshold_must_be_positive(desc):
    desc.layers[0].threshold[0] = 0
    with pytest.raises(DescriptionError, match="thresholds must be >= 1"):
        desc.validate()


def test_shape_chain(desc):
    desc.layers[1].weights = desc.layers[1].weights[:, :-1]
    with pytest.raises(DescriptionError, match="takes 7 inputs but the previous stage gives 8"):
        desc.assign_widths().validate()


def test_invalid_description_is_never_written(tmp_path, desc):
    desc.layers[0].threshold[0] = 0
    with pytest.raises(DescriptionError):
        desc.save(tmp_path / "net.json")
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(DescriptionError, match="flipspike export"):
        NetDesc.load(tmp_path / "nope.json")
