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
    lambda: random_desc(np.random.default_rng(0), [8, 6, 6, 4], timesteps=6, frac_bits=3, reset="soft", leak_shift=None),
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
    # and what the graph means to NIR, simulated in floats (a soft reset subtracts its v_threshold): the network
    from flipspike.gen.nir_conventions import CONVENTIONS
    from flipspike.gen.nir_reference import measure_import
    rng = np.random.default_rng(2)
    x = rng.integers(0, desc.input.max_value + 1, (200, desc.input.size))
    dims = (desc.input.dims[2], *desc.input.dims[:2]) if len(desc.input.dims) == 3 else desc.input.dims
    m = measure_import(nir.read(tmp_path / "x.nir"), CONVENTIONS["flipspike"], desc, x, dims)
    assert m["totals_changed"] == 0 and m["classes_changed"] == 0


@pytest.mark.parametrize("target", ["snntorch", "norse", "spikingjelly", "sinabs"])
@pytest.mark.parametrize("reset,leak,conv", [("hard", 1, False), ("soft", 2, False), ("hard", None, False),
                                             ("hard", 1, True)])
def test_a_graph_written_for_a_library_still_means_the_network(target, reset, leak, conv, tmp_path):
    """Written for a library's importer (its time step, integration, r, one threshold per layer, OR-pooling
    as an IF neuron), the graph's NIR meaning, read back by flipspike from its metadata, is the network."""
    from flipspike.gen.nir_conventions import READERS
    desc = random_desc(np.random.default_rng(5), [8, 6, 5, 4], timesteps=3, frac_bits=3, reset=reset,
                       leak_shift=leak) if not conv else random_conv_desc(
        np.random.default_rng(6), (6, 6, 2), [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2},
                                              {"channels": 3, "kernel": 3}], 3, timesteps=2, frac_bits=3)
    notes = []
    write_nir(desc, tmp_path / "x.nir", target=target, notes=notes)
    graph = nir.read(tmp_path / "x.nir")
    assert graph.metadata["written_for"] == target and graph.metadata["dt"] == READERS[target].dt
    lifs = [n for n in graph.nodes.values() if type(n).__name__ in ("LIF", "IF")
            and (n.metadata or {}).get("flipspike") != "or-pool"]
    if READERS[target].uniform_threshold:
        assert all(np.allclose(np.asarray(n.v_threshold), 1.0) for n in lifs)
    back, report = read_nir(tmp_path / "x.nir", pixel_bits=desc.input.bits, pixel_max=desc.input.max_value,
                            frac_bits=3)
    assert report.approximations == []
    _same(desc, back)
    assert (reset in READERS[target].resets) == (not any("cannot compute a" in n for n in notes))


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
    current is I = sign(W) x, and b / 0.5 lies on the 2**-1 grid; the leak (k = 1) halves the membrane
    at T - 1 = 2 steps, so frac_bits "auto" takes F = 1 + 2 = 3, where nothing rounds. NIR fires where
    v > 1.5, i.e. where the integer membrane reaches 1.5 / 0.5 * 8 + 1."""
    graph, w1, w2 = _mlp(tau=2.0)
    desc, report = from_nir(graph, pixel_bits=3, pixel_max=7, timesteps=3)
    assert report.approximations == []
    hidden, out = desc.layers
    assert hidden.frac_bits == 3 and hidden.leak_shift == 1 and hidden.reset == "hard"
    assert hidden.bias.tolist() == [4, -8, 0, 12, 8, -4]                 # b / 0.5 * 8
    assert hidden.threshold.tolist() == [25] * 6                         # 1.5 / 0.5 * 8, and v > it
    assert np.array_equal(hidden.weights, (w1 > 0).astype(np.uint8))
    assert out.frac_bits == 0 and out.bias.tolist() == [2, 0, -1]       # b / 0.25, integers
    # the integer network against the graph's own discrete-time semantics, in floats: every total equal
    x = np.random.default_rng(2).integers(0, 8, (200, 8))
    v = np.zeros((200, 6))
    acc = np.zeros((200, 3))
    for _ in range(3):
        v = 0.5 * v + (x @ w1.T + [0.25, -0.5, 0.0, 0.75, 0.5, -0.25])
        s = (v > 1.5).astype(float)
        v = np.where(s > 0, 0, v)
        acc += s @ w2.T + [0.5, 0.0, -0.25]
    ref = run_integer(desc, x)
    assert np.array_equal(ref.acc.numpy(), acc / 0.25)
    assert (ref.cls.numpy() == acc.argmax(1)).all()
    # a fixed, coarser grid rounds the leak, and says so
    _, report = from_nir(graph, pixel_bits=3, pixel_max=7, timesteps=3, frac_bits=2)
    assert any("leak rounds up to the 2**-2 grid" in n for n in report.approximations)


def test_import_reports_what_it_approximates():
    graph, _, _ = _mlp(tau=3.0)
    graph.nodes["fc1"].weight[0, 0] *= 1.5                                # not +-s in row 0
    desc, report = from_nir(graph, pixel_bits=3, pixel_max=7)
    text = " ".join(report.approximations)
    assert "leak lambda = 0.666667" in text and "is not 1 - 2**-k; using 1 - 2**-2" in text
    assert "not +-s per row" in text
    assert desc.layers[0].leak_shift == 2


def test_unsupported_node_is_named():
    graph, _, _ = _mlp(tau=2.0)
    graph.nodes["lif1"] = nir.CubaLIF(tau_syn=np.full(6, 2.0), tau_mem=np.full(6, 2.0), r=np.full(6, 2.0),
                                      v_leak=np.zeros(6), v_threshold=np.ones(6))
    with pytest.raises(DescriptionError, match="node 'lif1' \\(CubaLIF\\)"):
        from_nir(graph, pixel_bits=3, pixel_max=7)


def test_an_unsupported_nir_release_is_named(monkeypatch, tmp_path):
    import flipspike.gen.nir_common as nir_common
    monkeypatch.setattr(nir_common, "_nir_version", lambda: (1, 0, 3))
    with pytest.raises(DescriptionError, match=r"nir 1\.0\.3 is installed.*pip install 'nir>=1\.0\.4,<1\.1'"):
        write_nir(random_desc(np.random.default_rng(0), [8, 4], timesteps=2), tmp_path / "x.nir")
    assert not (tmp_path / "x.nir").exists()


def test_batch_and_time_dimensions_of_the_input_are_dropped():
    graph, _, _ = _mlp(tau=2.0)
    for dims in ([1, 8], [1, 4, 8], [2, 3, 8]):                              # (B, N), (B, T, N), ...
        graph.nodes["in"] = nir.Input(input_type={"input": np.array(dims)})
        desc, _ = from_nir(graph, pixel_bits=3, pixel_max=7)
        assert desc.input.size == 8 and desc.input.shape is None


def test_tau_in_seconds_needs_the_time_step():
    graph, _, _ = _mlp(tau=2e-4)
    with pytest.raises(DescriptionError, match=r"tau = 0\.0002 s is not longer than the time step dt = 1 s.*--dt"):
        from_nir(graph, pixel_bits=3, pixel_max=7)
    desc, report = from_nir(graph, pixel_bits=3, pixel_max=7, dt=1e-4)
    assert desc.layers[0].leak_shift == 1 and report.approximations == []
    desc, report = from_nir(graph, pixel_bits=3, pixel_max=7, dt=1e-4, integration="exact")   # exp(-1/2)
    assert "leak lambda = 0.606531" in " ".join(report.approximations)


def _random_graph(rng, producer: str):
    """A random Affine -> LIF -> Affine -> LIF -> Affine graph whose parameters are dyadic (exact in
    floats), written by ``producer``'s rules with lambda = 1 - 2**-k."""
    from flipspike.gen.nir_conventions import CONVENTIONS
    conv = CONVENTIONS[producer]
    sizes = [int(rng.integers(3, 9)) for _ in range(3)] + [int(rng.integers(2, 5))]
    nodes = {"in": nir.Input(input_type={"input": np.array([sizes[0]])})}
    chain = ["in"]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        s = 2.0 ** -int(rng.integers(0, 3))
        w = np.where(rng.random((n_out, n_in)) < 0.5, -s, s)
        b = rng.integers(-12, 13, n_out) / 2.0 ** int(rng.integers(0, 4))
        nodes[f"fc{i}"] = nir.Affine(weight=w, bias=b)
        chain.append(f"fc{i}")
        if i == len(sizes) - 2:
            break
        k = int(rng.integers(1, 4))
        tau = conv.dt * 2.0 ** k * (conv.dt if conv.tau_times_dt else 1)
        r = np.full(n_out, 2.0 ** int(rng.integers(-1, 3)))
        theta = rng.integers(1, 24, n_out) / 4.0
        nodes[f"lif{i}"] = nir.LIF(tau=np.full(n_out, tau), r=r, v_leak=np.zeros(n_out), v_threshold=theta,
                                   v_reset=np.zeros(n_out))
        chain.append(f"lif{i}")
    nodes["out"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    chain.append("out")
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain[:-1], chain[1:])), type_check=False), conv


@pytest.mark.parametrize("producer", ["nir", "snntorch", "norse", "spikingjelly"])
def test_an_exact_import_computes_the_graphs_meaning(producer):
    """Against an independent float simulation of the graph by the producer's rules (gen.nir_reference):
    where import announces nothing, every output total is equal, not only the classes."""
    from flipspike.gen.nir_reference import run_graph
    rng = np.random.default_rng(sum(map(ord, producer)))
    for _ in range(15):
        graph, conv = _random_graph(rng, producer)
        T = int(rng.integers(2, 6))
        desc, report = from_nir(graph, pixel_bits=3, pixel_max=7, timesteps=T, producer=producer)
        assert report.approximations == []
        x = rng.integers(0, 8, (64, desc.input.size))
        totals = run_graph(graph, conv, x, T, (desc.input.size,))
        scale = float(np.abs(graph.nodes["fc2"].weight).mean())
        acc = run_integer(desc, x).acc.numpy() * scale * 2.0 ** -desc.layers[-1].frac_bits
        assert np.array_equal(acc, totals)


def test_a_coarser_grid_is_measured_against_the_graph():
    from flipspike.gen.nir_conventions import CONVENTIONS
    from flipspike.gen.nir_reference import measure_import
    rng = np.random.default_rng(3)
    changed = 0
    for _ in range(10):
        graph, conv = _random_graph(rng, "snntorch")
        desc, report = from_nir(graph, pixel_bits=3, pixel_max=7, timesteps=5, producer="snntorch", frac_bits=0)
        x = rng.integers(0, 8, (200, desc.input.size))
        m = measure_import(graph, CONVENTIONS["snntorch"], desc, x, (desc.input.size,))
        assert m["samples"] == 200
        changed += m["totals_changed"] > 0
        if m["totals_changed"]:
            assert report.approximations                        # a change is never silent
    assert changed


@pytest.mark.parametrize("producer", ["nir", "snntorch"])
def test_an_event_driven_graph_imports_with_frames_and_computes_its_meaning(producer):
    """A graph fed a frame per step (--encoding frames): the import's integers give every output total of
    the float simulation fed the same frames, and differ from reading it as direct encoding."""
    from flipspike.gen.nir_reference import run_graph
    rng = np.random.default_rng(11)
    differs = 0
    for _ in range(8):
        graph, conv = _random_graph(rng, producer)
        T = int(rng.integers(2, 5))
        desc, report = from_nir(graph, pixel_bits=1, pixel_max=1, timesteps=T, producer=producer, encoding="frames")
        assert desc.input.frames and report.approximations == []
        x = (rng.random((64, T * desc.input.size)) < 0.4).astype(np.int64)
        totals = run_graph(graph, conv, x, T, (desc.input.size,), frames=True)
        scale = float(np.abs(graph.nodes["fc2"].weight).mean())
        acc = run_integer(desc, x).acc.numpy() * scale * 2.0 ** -desc.layers[-1].frac_bits
        assert np.array_equal(acc, totals)
        differs += not np.array_equal(totals, run_graph(graph, conv, x[:, :desc.input.size], T, (desc.input.size,)))
    assert differs


def test_a_frame_fed_network_round_trips_through_nir(tmp_path):
    """flipspike's export records the encoding; the import reads it back, and --data measures it on frames."""
    from flipspike.gen.nir_conventions import CONVENTIONS
    from flipspike.gen.nir_reference import measure_import
    desc = random_conv_desc(np.random.default_rng(4), (4, 4, 2), [{"channels": 3, "kernel": 3, "padding": 1}], 3,
                            timesteps=3, input_bits=1, frac_bits=3, encoding="frames")
    write_nir(desc, tmp_path / "f.nir")
    back, report = read_nir(tmp_path / "f.nir", pixel_bits=1, pixel_max=1, frac_bits=3)
    assert back.input.encoding == "frames" and report.approximations == []
    _same(desc, back)
    x = (np.random.default_rng(5).random((50, 3 * 32)) < 0.5).astype(np.int64)
    graph = nir.read(str(tmp_path / "f.nir"))
    m = measure_import(graph, CONVENTIONS["flipspike"], back, x, (2, 4, 4))
    assert m["classes_changed"] == 0 and m["totals_changed"] == 0
