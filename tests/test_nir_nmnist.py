"""The NIR paper's N-MNIST CNN, in shape: event frames (2 polarities) into a 5x5 stride-2 padded convolution,
IF neurons with per-neuron thresholds, SumPool2d feeding the next convolution (and, after Flatten, a dense
layer) as spike counts, Affine layers with biases, and an IF output layer whose class is its spike count.

The oracle is ``gen.nir_reference.run_graph``, a float simulation of the graph node by node that shares no
code with the import: it pools counts and counts output spikes itself."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from flipspike.gen.nir_conventions import CONVENTIONS  # noqa: E402
from flipspike.gen.nir_io import from_nir  # noqa: E402
from flipspike.gen.nir_reference import measure_import, run_graph  # noqa: E402
from flipspike.ir.errors import DescriptionError  # noqa: E402
from flipspike.sw.integer import run_integer  # noqa: E402

T, SIDE = 4, 18          # 18x18: conv 5x5/2 pad 1 -> 8x8, pool 2 -> 4x4, conv 3x3 pad 1 -> 4x4, pool 2 -> 2x2


def _if(rng, shape, steps=4):
    """IF neurons with a threshold per neuron (one value per channel, written out for every neuron)."""
    theta = rng.integers(1, steps + 1, shape[0]) / 2.0
    full = np.broadcast_to(theta.reshape((-1,) + (1,) * (len(shape) - 1)), shape).copy()
    return nir.IF(r=np.ones(shape), v_threshold=full)


def _signs(rng, shape, scale):
    return np.where(rng.random(shape) < 0.5, -scale, scale)


def nmnist_graph(rng, c1=4, c2=4, hidden=8, classes=5, side=SIDE, weights=None):
    """The chain, with +-s weights per output channel (``weights="float"``: Gaussian ones instead)."""
    def w(shape):
        if weights == "float":
            return rng.normal(0, 0.5, shape)
        return _signs(rng, shape, 2.0 ** -int(rng.integers(0, 2)))
    h1 = (side + 2 - 5) // 2 + 1
    h2 = h1 // 2
    flat = c2 * (h2 // 2) ** 2
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2, side, side])}),
        "conv1": nir.Conv2d(input_shape=(side, side), weight=w((c1, 2, 5, 5)), stride=2, padding=1, dilation=1,
                            groups=1, bias=np.zeros(c1)),
        "if1": _if(rng, (c1, h1, h1)),
        "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "conv2": nir.Conv2d(input_shape=(h2, h2), weight=w((c2, c1, 3, 3)), stride=1, padding=1, dilation=1,
                            groups=1, bias=np.zeros(c2)),
        "if2": _if(rng, (c2, h2, h2)),
        "pool2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([c2, h2 // 2, h2 // 2])}),
        "fc3": nir.Affine(weight=w((hidden, flat)), bias=rng.integers(-2, 3, hidden) / 2.0),
        "if3": _if(rng, (hidden,)),
        "fc4": nir.Affine(weight=w((classes, hidden)), bias=rng.integers(-2, 3, classes) / 2.0),
        "if4": _if(rng, (classes,)),
        "out": nir.Output(output_type={"output": np.array([classes])}),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), type_check=False)


def event_frames(rng, n, side=SIDE, density=0.3):
    """[n, T * side * side * 2] 0/1 frames, HWC per frame (flipspike's order)."""
    return (rng.random((n, T * side * side * 2)) < density).astype(np.int64)


def _chw(x, side=SIDE):
    return x.reshape(len(x), T, side, side, 2).transpose(0, 1, 4, 2, 3).reshape(len(x), -1)


@pytest.mark.parametrize("producer", ["nir", "sinabs"])
def test_the_nmnist_shape_imports_and_counts_what_the_graph_counts(producer):
    """Every neuron's spike count of the IF output layer equals the float simulation's, on every sample, and
    the class is its argmax; the pooled counts and the spiking output are exact rewrites, announced as such."""
    rng = np.random.default_rng(sum(map(ord, producer)))
    for trial in range(3):
        graph = nmnist_graph(rng)
        desc, report = from_nir(graph, pixel_bits=1, pixel_max=1, timesteps=T, producer=producer,
                                encoding="frames")
        assert report.approximations == [], report.approximations
        assert len(report.rewrites) == 3            # conv2 and fc3 read counts; if4's spikes are the class
        assert [layer.kind for layer in desc.layers] == ["lif"] * 4 + ["output"]
        assert desc.layers[1].conv.kernel == 6 and desc.layers[1].conv.stride == 2
        assert desc.layers[2].n_in == 4 * 4 * 4 and desc.meta["readout"] == "spike_count"
        x = event_frames(rng, 80)
        ref = run_integer(desc, x)
        counts = ref.layers[3].spikes.sum(0).numpy()
        totals = run_graph(graph, CONVENTIONS[producer], _chw(x), T, (2, SIDE, SIDE), frames=True)
        assert counts.sum() > 0 and (counts != counts[:, :1]).any()     # the output layer decides something
        assert np.array_equal(counts, totals)
        assert np.array_equal(ref.cls.numpy(), totals.argmax(1))
        # the readout's totals are 2 c_j - N: the counts come back from them
        n_spikes = counts.sum(1, keepdims=True)
        assert np.array_equal(ref.acc.numpy(), 2 * counts - n_spikes)


def test_float_weights_are_binarised_per_channel_and_measured():
    """Float kernels: import binarises each output channel to +-mean|w|, says so per layer, and --data measures
    what it cost against the float graph (here: something changes, and it is counted, not hidden)."""
    rng = np.random.default_rng(7)
    graph = nmnist_graph(rng, weights="float")
    desc, report = from_nir(graph, pixel_bits=1, pixel_max=1, timesteps=T, producer="sinabs", encoding="frames")
    binarised = [note for note in report.approximations if "binarized by sign" in note]
    assert len(binarised) == 4
    m = measure_import(graph, CONVENTIONS["sinabs"], desc, event_frames(rng, 100), (2, SIDE, SIDE))
    assert m["samples"] == 100 and m["totals_changed"] > 0


def test_counts_that_cannot_be_folded_are_refused():
    rng = np.random.default_rng(1)
    graph = nmnist_graph(rng, side=20)        # 20 -> 9x9: SumPool2d(2) drops a row before a padded conv
    with pytest.raises(DescriptionError, match="multiple of 2"):
        from_nir(graph, pixel_bits=1, pixel_max=1, timesteps=T, encoding="frames")


def test_the_nmnist_shape_runs_bit_exact_in_hardware(build_root):
    """Imported, generated and co-simulated under Verilator: 0 mismatches against the reference (which the
    tests above hold against the graph), the wide convolution and the readout included."""
    from flipspike.ir import default_folding
    from flipspike.sim.cosim import cosim
    rng = np.random.default_rng(12)
    desc, _ = from_nir(nmnist_graph(rng, c1=2, c2=4), pixel_bits=1, pixel_max=1, timesteps=T, producer="sinabs",
                       encoding="frames")
    report = cosim(desc, default_folding(desc.layers), event_frames(rng, 12), build_root=build_root)
    assert report["samples"] == 12 and report["mismatches"] == 0


def test_a_spike_count_network_round_trips_through_nir(tmp_path):
    """Exported again, the graph ends in the IF output layer (no readout node), and reads back to the same
    network; its float simulation gives the reference's counts."""
    from flipspike.gen.nir_io import read_nir, write_nir
    rng = np.random.default_rng(3)
    desc, _ = from_nir(nmnist_graph(rng), pixel_bits=1, pixel_max=1, timesteps=T, producer="sinabs",
                       encoding="frames")
    desc.save(tmp_path / "net.json")
    write_nir(desc.load(tmp_path / "net.json"), tmp_path / "net.nir")
    graph = nir.read(str(tmp_path / "net.nir"))
    kinds = [type(graph.nodes[a]).__name__ for a, b in graph.edges if b == "output"]
    assert kinds == ["IF"]
    back, report = read_nir(tmp_path / "net.nir", pixel_bits=1, pixel_max=1)
    assert report.approximations == [] and back.meta["readout"] == "spike_count"
    x = event_frames(rng, 40)
    counts = run_integer(desc, x).layers[3].spikes.sum(0).numpy()
    assert np.array_equal(run_integer(back, x).layers[3].spikes.sum(0).numpy(), counts)
    assert np.array_equal(run_graph(graph, CONVENTIONS["flipspike"], _chw(x), T, (2, SIDE, SIDE), frames=True),
                          counts)
