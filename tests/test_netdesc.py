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
    with pytest.raises(DescriptionError, match=r"\$\.layers\[0\]\.bias is missing"):
        NetDesc.from_json(doc)


def test_unsupported_layer_kind(desc):
    doc = desc.to_json()
    doc["layers"][0]["kind"] = "conv2d"
    with pytest.raises(DescriptionError, match=r"\$\.layers\[0\]\.kind is 'conv2d'; it must be one of 'lif', 'output'"):
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


def set_path(doc: dict, path: str, value) -> dict:
    """``doc`` with the value at ``path`` (dotted, [k] for list items) replaced; "DELETE" removes it."""
    import re
    keys = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
    node = doc
    for k in keys[:-1]:
        node = node[k]
    if value == "DELETE":
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return doc


# (path, value, what the one-line error says): each once silently changed, crashed or was read unchecked
BORDER = [
    ("layers.0.leak_shift", "1", r"\$\.layers\[0\]\.leak_shift is '1'; it must be an integer"),
    ("layers.0.leak_shift", 1.5, r"leak_shift is 1\.5; it must be an integer"),
    ("layers.0.widths.current", "8", r"widths\.current is '8'; it must be an integer"),
    ("layers.0.bias.0", 2 ** 70, r"bias\[0\] is 1180591620717411303424; it must be an integer in"),
    ("layers.0.threshold.1", float("inf"), r"threshold\[1\] is inf; it must be an integer"),
    ("input.max_value", float("inf"), r"\$\.input\.max_value is inf"),
    ("input", [12, 4, 15], r"\$\.input is a list; it must be an object"),
    ("layers.0.bias.0", 2.75, r"bias\[0\] is 2\.75; it must be an integer"),
    ("layers.0.threshold.0", 1.5, r"threshold\[0\] is 1\.5"),
    ("layers.0.frac_bits", 4.9, r"frac_bits is 4\.9"),
    ("timesteps", True, r"\$\.timesteps is True; it must be an integer"),
    ("timesteps", 4.0, r"\$\.timesteps is 4\.0; it must be an integer"),
    ("layers.1.n_out", 0, r"\$\.layers\[1\]\.n_out is 0; it must be an integer in 1\.\."),
    ("layers.0.widths.input", 5, r"widths\.input is 5; it must be 4"),
    ("layers.1.widths.input", 2, r"widths\.input is 2; it must be 1"),
    ("layers.0.widths.shortcut", 3, r"widths\.shortcut is 3 but the layer has no shortcut"),
    ("layers.2.leak_shift", 3, r"\$\.layers\[2\]\.leak_shift: an output layer has no leak_shift"),
    ("layers.2.reset", "junk", r"an output layer has no reset"),
    ("layers.0.reset", "subtract", r"reset is 'subtract'; it must be one of 'hard', 'soft'"),
    ("layers.0.name", 7, r"name is 7; it must be a non-empty string"),
    ("layers.0.widths.speed", 3, r"widths has unknown field\(s\) speed"),
    ("layers", [], r"\$\.layers is a list; it must be a non-empty list"),
    ("layers.0.weights.base64", "!!", r"not valid base64"),
    ("meta", "x", r"\$\.meta is 'x'; it must be an object"),
    ("timesteps", "DELETE", r"\$\.timesteps is missing"),
]


@pytest.mark.parametrize("path,value,message", BORDER, ids=[f"{p}={v!r}" for p, v, _ in BORDER])
def test_the_loader_refuses_in_one_line(tmp_path, desc, capsys, path, value, message):
    """Refused with the JSON path, what it holds and what it must hold; by the CLI in one line, exit 2."""
    doc = set_path(desc.to_json(), path, value)
    with pytest.raises(DescriptionError, match=message):
        NetDesc.from_json(doc)
    (tmp_path / "net.json").write_text(json.dumps(doc))
    from flipspike.cli import main
    assert main(["generate", str(tmp_path / "net.json"), "--out", str(tmp_path / "rtl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "net.json" in err and "Traceback" not in err
    assert not (tmp_path / "rtl").exists()


def test_huge_declared_sizes_are_refused_before_allocation(desc):
    doc = desc.to_json()
    doc["layers"][0]["n_out"] = 10 ** 9               # (the weights' bits are not unpacked for it)
    with pytest.raises(DescriptionError, match=r"n_out is 1000000000; it must be an integer in 1\.\.67108864"):
        NetDesc.from_json(doc)
    doc = desc.to_json()
    doc["layers"][0].update(n_in=2 ** 20, n_out=2 ** 20)
    with pytest.raises(DescriptionError, match="weights exceed the limit"):
        NetDesc.from_json(doc)


def test_a_version_1_file_holds_dense_layers_only():
    from helpers import random_conv_desc
    doc = random_conv_desc(np.random.default_rng(0), (4, 4, 1), [dict(channels=2, kernel=3)], 2, timesteps=2).to_json()
    doc["schema_version"] = 1
    with pytest.raises(DescriptionError, match=r"\$\.layers\[0\]\.conv: schema version 1 holds dense layers only"):
        NetDesc.from_json(doc)


def test_wider_declared_widths_are_honoured_by_the_hardware(desc):
    """The one width rule: any width at least the worst case's (up to MAX_WIDTH) builds, bit-exact."""
    import dataclasses
    from flipspike.ir import default_folding
    from flipspike.sim.compare import compare
    from flipspike.sim.pysim import run_pysim
    from flipspike.sw.integer import run_integer
    from helpers import random_pixels
    for layer in desc.layers:
        w = layer.widths
        layer.widths = dataclasses.replace(w, current=w.current + 2, bias=w.bias + 3, threshold=w.threshold + 1,
                                           state=w.state + 2)
    desc = NetDesc.from_json(desc.to_json())
    x = random_pixels(np.random.default_rng(2), desc, 3)
    assert compare(run_integer(desc, x), run_pysim(desc, default_folding(desc.layers), x)) == []


def leaf_paths(node, prefix=""):
    """Every scalar's (and every empty list's) path in a JSON document, as set_path reads them."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in leaf_paths(v, f"{prefix}.{k}" if prefix else k)] or [prefix]
    if isinstance(node, list) and node:
        return [p for k, v in enumerate(node) for p in leaf_paths(v, f"{prefix}.{k}")]
    return [prefix]



def junk():
    from hypothesis import strategies as st
    return st.one_of(st.integers(-4, 40), st.integers(-2 ** 80, 2 ** 80), st.floats(allow_nan=True), st.booleans(),
                     st.none(), st.text(max_size=4), st.just([]), st.just({}), st.just("DELETE"),
                     st.lists(st.integers(-3, 3), max_size=3))


def test_any_description_is_refused_in_one_line_or_built_bit_exact():
    """The border as a property: a valid description with one value replaced by anything (a type, a range,
    a width, a size, a shape) is either refused with a one-line DescriptionError or generated and
    co-simulated bit-exact; never a crash."""
    from hypothesis import given, settings, strategies as st
    from flipspike.hw.verilog import elaborate_verilog
    from flipspike.ir import default_folding
    from flipspike.sim.compare import compare
    from flipspike.sim.pysim import run_pysim
    from flipspike.sw.integer import run_integer
    from helpers import random_conv_desc, random_pixels

    outcomes = {"refused": 0, "built": 0}

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(conv=st.booleans(), pick=st.integers(0, 10 ** 6), value=junk())
    def check(conv, pick, value):
        rng = np.random.default_rng(pick % 7)
        base = (random_conv_desc(rng, (4, 4, 1), [dict(channels=2, kernel=3, padding=1, pool=2)], 2, timesteps=2)
                if conv else random_desc(rng, [6, 4, 3], timesteps=2, input_bits=3))
        doc = base.to_json()
        paths = leaf_paths(doc)
        doc = set_path(doc, paths[pick % len(paths)], value)
        try:
            desc = NetDesc.from_json(doc)
        except DescriptionError as exc:
            assert "\n" not in str(exc) and str(exc)
            outcomes["refused"] += 1
            return
        folds = default_folding(desc.layers)
        assert elaborate_verilog(desc, folds)
        x = random_pixels(rng, desc, 2)
        assert compare(run_integer(desc, x), run_pysim(desc, folds, x, stream=False)) == []
        outcomes["built"] += 1

    check()
    assert outcomes["refused"] > 10 and outcomes["built"] > 0, outcomes
