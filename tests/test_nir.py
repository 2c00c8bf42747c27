"""NIR: a round trip through flipspike's exporter, and graphs built with the nir package's own constructors."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from flipspike.cli import main  # noqa: E402
from flipspike.gen.nir_io import from_nir, read_nir, write_nir  # noqa: E402
from flipspike.ir import NetDesc  # noqa: E402
from flipspike.ir.errors import DescriptionError  # noqa: E402
from flipspike.sw.integer import run_integer  # noqa: E402

from helpers import random_conv_desc, random_desc  # noqa: E402

KEYS = ("weights", "bias", "threshold", "leak_shift", "reset", "conv", "pool", "n_in", "n_out", "kind")


def _same(a: NetDesc, b: NetDesc):
    ja, jb = a.to_json(), b.to_json()
    assert ja["input"] == jb["input"] and ja["timesteps"] == jb["timesteps"]
    for la, lb in zip(ja["layers"], jb["layers"], strict=True):
        for key in KEYS:
            assert la.get(key) == lb.get(key), (la["name"], key)


def test_round_trip_of_the_trained_network(digits_run, digits_desc, tmp_path, capsys):
    run, _ = digits_run
    assert main(["export", str(run), "--format", "nir", "--out", str(tmp_path / "net.nir")]) == 0
    assert main(["import", str(tmp_path / "net.nir"), "--out", str(tmp_path / "net.json")]) == 0
    assert "nothing approximated" in capsys.readouterr().out
    _same(digits_desc, NetDesc.load(tmp_path / "net.json"))


@pytest.mark.parametrize("make", [
    lambda: random_desc(np.random.default_rng(0), [8, 6, 6, 4], timesteps=3, frac_bits=3, reset="soft", leak_shift=None),
    lambda: random_conv_desc(np.random.default_rng(1), (6, 6, 2), [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2},
                                                              {"channels": 3, "kernel": 3}], 3, timesteps=2, frac_bits=3),
])
def test_round_trip_of_random_networks(make, tmp_path):
    desc = make()
    write_nir(desc, tmp_path / "x.nir")
    back, report = read_nir(tmp_path / "x.nir", pixel_bits=desc.input.bits, pixel_max=desc.input.max_value,
                            frac_bits=3)
    assert report.approximations == []
    _same(desc, back)


def _mlp(tau, w_scale=0.5, out_scale=0.25, seed=0):
    rng = np.random.default_rng(seed)
    w1 = np.where(rng.random((6, 8)) < 0.5, -w_scale, w_scale)
    b1 = np.array([0.25, -0.5, 0.0, 0.75, 0.5, -0.25])
    w2 = np.where(rng.random((3, 6)) < 0.5, -out_scale, out_scale)
    nodes = {
        "in": nir.Input(input_type={"input": np.array([8])}),
        "fc1": nir.Affine(weight=w1, bias=b1),
        "lif1": nir.LIF(tau=np.full(6, tau), r=np.full(6, tau), v_leak=np.zeros(6), v_threshold=np.full(6, 1.5),
                        v_reset=np.zeros(6)),
        "fc2": nir.Affine(weight=w2, bias=np.array([0.5, 0.0, -0.25])),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges), w1, w2


def test_import_of_a_graph_built_with_nir_constructors():
    """Euler with dt=1: v <- (1 - 1/tau) v + (r/tau)(W x + b). With r = tau and |W| = 0.5 the integer
    current is I = sign(W) x, so bias = b / 0.5 and threshold = 1.5 / 0.5, in units of 2**-F."""
    graph, w1, w2 = _mlp(tau=2.0)
    desc, report = from_nir(graph, pixel_bits=3, pixel_max=7, frac_bits=2, timesteps=3)
    assert report.approximations == []
    hidden, out = desc.layers
    assert hidden.leak_shift == 1 and hidden.reset == "hard"
    assert hidden.bias.tolist() == [2, -4, 0, 6, 4, -2]                 # b / 0.5 * 4
    assert hidden.threshold.tolist() == [12] * 6                         # 1.5 / 0.5 * 4
    assert np.array_equal(hidden.weights, (w1 > 0).astype(np.uint8))
    assert out.bias.tolist() == [8, 0, -4]                               # b / 0.25 * 4
    # the integer network against the graph's own discrete-time semantics, in floats
    x = np.random.default_rng(2).integers(0, 8, (50, 8))
    v = np.zeros((50, 6))
    acc = np.zeros((50, 3))
    for _ in range(3):
        v = 0.5 * v + (x @ w1.T + [0.25, -0.5, 0.0, 0.75, 0.5, -0.25])
        s = (v >= 1.5).astype(float)
        v = np.where(s > 0, 0, v)
        acc += s @ w2.T + [0.5, 0.0, -0.25]
    ref = run_integer(desc, x)
    assert (ref.cls.numpy() == acc.argmax(1)).all()


def test_import_reports_what_it_approximates():
    graph, _, _ = _mlp(tau=3.0)
    graph.nodes["fc1"].weight[0, 0] *= 1.5                                # not +-s in row 0
    desc, report = from_nir(graph, pixel_bits=3, pixel_max=7)
    text = " ".join(report.approximations)
    assert "tau=3 is not a power of two" in text and "not +-s per row" in text
    assert desc.layers[0].leak_shift == 2


def test_unsupported_node_is_named():
    graph, _, _ = _mlp(tau=2.0)
    graph.nodes["lif1"] = nir.CubaLIF(tau_syn=np.full(6, 2.0), tau_mem=np.full(6, 2.0), r=np.full(6, 2.0),
                                      v_leak=np.zeros(6), v_threshold=np.ones(6))
    with pytest.raises(DescriptionError, match="node 'lif1' \\(CubaLIF\\)"):
        from_nir(graph, pixel_bits=3, pixel_max=7)
