"""Spikes in (issue 20): a frame per time step into the first layer (frame input), or a spike per pixel
and step from the on-chip LFSR (rate encoding), held three ways: the torch integer reference against the
plain-Python semantics, the generated Verilog against the reference (bit for bit, cycle for cycle), and
networks trained on simulated saccades and on rate-encoded digits end to end."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from flipspike.ir import Fold, NetDesc
from flipspike.ir.cycle_model import layer_cycles
from flipspike.ir.errors import DescriptionError, FoldingError
from flipspike.ir.folding import parse_folding
from flipspike.ir.host_protocol import link_layout
from flipspike.ir.plan import NetPlan
from flipspike.gen.activity import input_spikes
from flipspike.sim.cosim import cosim
from flipspike.sw.integer import run_integer

from helpers import assert_reference_is_plain, random_conv_desc, random_desc, random_pixels


def sparse_frames(rng, desc, n, density=0.3):
    """n samples of T frames, each element nonzero with probability ``density``."""
    x = random_pixels(rng, desc, n)
    x[rng.random(x.shape) > density] = 0
    return x


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 16), T=st.integers(1, 5), bits=st.integers(1, 3), conv=st.booleans(),
       density=st.sampled_from([0.0, 0.1, 0.5, 1.0]), encoding=st.sampled_from(["frames", "rate"]))
def test_reference_computes_the_plain_semantics_of_spike_input(seed, T, bits, conv, density, encoding):
    """Each step's frame (or rate spikes) through the first layer as a hidden layer's spikes are: classes,
    totals, input events and SOPs equal the plain loops of tests/helpers.py (its own LFSR), dense or conv,
    spikes or small counts."""
    rng = np.random.default_rng(seed)
    if conv:
        desc = random_conv_desc(rng, (5, 5, 2), [{"channels": 3, "kernel": 3, "padding": 1, "pool": 2}], 3,
                                timesteps=T, input_bits=bits, encoding=encoding)
    else:
        desc = random_desc(rng, [10, 6, 3], timesteps=T, input_bits=bits, encoding=encoding)
    desc.input.seed = int(rng.integers(1, 2 ** 32))
    x = sparse_frames(rng, desc, 3, density)
    assert_reference_is_plain(desc, x, run_integer(desc, x))


def test_frames_differ_from_direct_encoding():
    """The same weights read a frame per step, not the first frame T times: a sample whose frames differ
    gives another result than its first frame repeated (the reference does not quietly fall back)."""
    rng = np.random.default_rng(1)
    desc = random_desc(rng, [10, 8, 4], timesteps=4, input_bits=1, encoding="frames")
    x = sparse_frames(rng, desc, 40, 0.5)
    repeated = np.tile(x[:, :10], (1, 4))
    assert (run_integer(desc, x).acc != run_integer(desc, repeated).acc).any()


def test_description_carries_the_encoding(tmp_path):
    desc = random_desc(np.random.default_rng(2), [10, 6, 3], timesteps=3, input_bits=1, encoding="frames")
    desc.save(tmp_path / "f.json")
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["input"]["encoding"] == "frames"
    assert NetDesc.load(tmp_path / "f.json").input.elements(3) == 30
    del doc["input"]["encoding"]                                   # files without the field: direct encoding
    assert NetDesc.from_json(doc).input.encoding == "direct"
    doc["input"]["encoding"] = "poisson"
    with pytest.raises(DescriptionError, match=r"\$\.input\.encoding"):
        NetDesc.from_json(doc)
    with pytest.raises(Exception, match=r"input must be \[B, 30\] \(3 frames of 10"):
        run_integer(desc, np.zeros((2, 10), dtype=np.int64))


def test_plans_follow_the_encoding():
    """A frame-fed first layer has no stored current and no synapse phase; its frame buffer holds T banks;
    it may be event-driven (a direct one may not); the host link carries T frames per sample."""
    rng = np.random.default_rng(3)
    frames = random_desc(rng, [12, 8, 3], timesteps=4, input_bits=1, encoding="frames")
    direct = random_desc(rng, [12, 8, 3], timesteps=4, input_bits=1)
    folds = [Fold(3, 4), Fold(8, 3)]
    pf, pd = NetPlan(frames, folds), NetPlan(direct, folds)
    assert "current" not in pf.layers[0].memories and "current" in pd.layers[0].memories
    assert pf.input_buffer == (4 * 4, 3) and pd.input_buffer == (4, 3)
    assert layer_cycles(frames, folds)[0]["issue_cycles"] == 4 * 2 * 4           # T steps of G * F_in words
    assert layer_cycles(direct, folds)[0]["issue_cycles"] == 2 * 4 + 4 * 2       # synapse phase, T x G
    assert parse_folding("3x4e,8x3", frames.layers, frames=True)[0].event
    with pytest.raises(FoldingError, match="direct encoding"):
        parse_folding("3x4e,8x3", direct.layers)
    assert link_layout(frames, folds).n_in == 48 and link_layout(direct, folds).n_in == 12
    # over the UART a request carries every frame, a byte a value, in a frame of sync, command, length, CRC
    rate = link_layout(frames, folds).infer_rate(1_000_000)
    assert rate["request_bytes"] == 4 * 12 + 5
    assert rate["inferences_per_s"] == 1_000_000 / 10 / (rate["request_bytes"] + rate["reply_bytes"])


FOLDS = [  # (network, encoding, folding): dense and conv, with and without event-driven first layers
    ("dense", "frames", [Fold(3, 4), Fold(8, 2), Fold(2, 3)]),
    ("dense", "frames", [Fold(1, 8, True), Fold(4, 4, True), Fold(8, 1)]),
    ("dense", "frames", [Fold(12, 1), Fold(1, 8), Fold(8, 3)]),
    ("conv", "frames", [Fold(2, 4), Fold(4, 3)]),
    ("conv", "frames", [Fold(1, 2, True), Fold(9, 1)]),
    ("dense", "rate", [Fold(3, 4), Fold(8, 2), Fold(2, 3)]),
    ("dense", "rate", [Fold(4, 8, True), Fold(8, 8), Fold(8, 1)]),
    ("conv", "rate", [Fold(2, 2), Fold(9, 3)]),
]


@pytest.mark.parametrize("net,encoding,folds", FOLDS,
                         ids=lambda v: v if isinstance(v, str) else ",".join(map(str, v)))
def test_verilog_holds_spike_input_bit_for_bit(net, encoding, folds, build_root):
    """The generated Verilog on sparse frames: 0 mismatches (classes, totals, input events, SOPs, alone
    and back to back), the cycle model exact per sample and layer (skipped words too); back to back, a
    first layer that clearly sets the pace is as fast as its period says (its next sample's last frame
    loads after its last step)."""
    rng = np.random.default_rng(len(folds) + (net == "conv"))
    if net == "conv":
        desc = random_conv_desc(rng, (6, 6, 2), [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2}], 3,
                                timesteps=4, input_bits=2, encoding=encoding)
    else:
        desc = random_desc(rng, [12, 8, 8, 3], timesteps=4, input_bits=1 if encoding == "frames" else 4,
                           encoding=encoding)
    desc.input.seed = int(rng.integers(1, 2 ** 32))
    x = sparse_frames(rng, desc, 8, 0.3) if encoding == "frames" else random_pixels(rng, desc, 8)
    report = cosim(desc, folds, x, build_root=build_root)
    assert report["mismatches"] == 0, report["mismatch_details"]
    assert report["cycle_model_mismatches"] == 0
    for layer in report["layers"]:
        assert layer["sops_measured"] == layer["sops_ref"]
        assert layer["spikes_measured"] == layer["spikes_ref"]
    first, *others = report["layers"]
    if not folds[0].event and first["cycles_dense_model"] >= 1.5 * max(l["cycles_dense_model"] for l in others):
        assert report["streaming_cycles_per_inference"] == first["cycles_dense_model"]


@pytest.fixture(scope="module")
def saccade_run(tmp_path_factory):
    """A 200-64-10 MLP trained briefly on digits-saccade frames (T=6)."""
    import flipspike as fs

    out = tmp_path_factory.mktemp("saccade")
    fs.train(out, arch="200-64-10", timesteps=6, encoding="frames", dataset="digits-saccade", epochs=4, seed=0)
    return out


def test_saccade_network_trains_exports_and_cosimulates(saccade_run, build_root):
    """Trained on frames, exported with the frames encoding, and held bit for bit in Verilog on real
    (simulated-sensor) test samples, event-driven first layer included."""
    import flipspike as fs

    result = fs.export(saccade_run)
    assert result.desc.input.encoding == "frames" and result.desc.input.size == 200
    assert result.float_accuracy > 0.8 and abs(result.float_accuracy - result.integer_accuracy) < 0.02
    x, y = fs.test_split(result.desc, 60)
    assert x.shape == (60, 6 * 200)
    for fold in ("10x8,16x5", "10x8e,16x5", "1x64e,16x5"):
        folds = parse_folding(fold, result.desc.layers, frames=True)
        report = cosim(result.desc, folds, x, y, build_root=build_root)
        assert report["mismatches"] == 0 and report["cycle_model_mismatches"] == 0
        assert report["accuracy_hw"] == report["accuracy_ref"]
        # back to back, fc1 sets the pace, or the link does (SIMD values a cycle, T frames a sample): the
        # plan, from these samples' frames where fc1 is event-driven, says how fast
        spikes = input_spikes(result.desc, x, [0]) if folds[0].event else None
        planned = max(row["cycles"] for row in layer_cycles(result.desc, folds, spikes))
        assert abs(report["streaming_cycles_per_inference"] / planned - 1) < 0.01


def test_the_aer_port_from_the_command_line(saccade_run, build_root, tmp_path, capsys):
    """`generate --aer` writes the port into config.json; `cosim --aer 2` sends the test samples as the events
    of a 20x20 sensor (compiled bench): bit-exact, nothing dropped, the classes those of the frames."""
    import json

    from flipspike.cli import main

    net = tmp_path / "net.json"
    assert main(["export", str(saccade_run), "--out", str(net)]) == 0
    assert main(["generate", str(net), "--out", str(tmp_path / "rtl"), "--fold", "8x8,16x5", "--aer", "2"]) == 0
    ports = json.loads((tmp_path / "rtl" / "config.json").read_text())["ports"]
    assert "events" in ports and "pixels" not in ports
    assert main(["cosim", str(net), "--samples", "40", "--fold", "8x8,16x5", "--aer", "2", "--json",
                 str(tmp_path / "aer.json"), "--build-dir", str(build_root)]) == 0
    report = json.loads((tmp_path / "aer.json").read_text())
    assert report["mismatches"] == 0 and report["aer_dropped"] == 0 and report["samples"] == 40
    assert report["simulator"] == "verilator, compiled bench"
    assert main(["cosim", str(net), "--samples", "40", "--fold", "10x8,16x5", "--json", str(tmp_path / "px.json"),
                 "--build-dir", str(build_root)]) == 0
    assert report["accuracy_hw"] == json.loads((tmp_path / "px.json").read_text())["accuracy_hw"]
    capsys.readouterr()


def test_rate_thresholds_follow_the_spec():
    """The reference's thresholds (and the hardware's leap matrices) against the spec's shift-by-shift LFSR
    in tests/helpers.py; spikes come at the promised rate, and the LFSR does not come back early."""
    from flipspike.ir.encoding import leap_matrices, lfsr_stream, rate_thresholds, rate_spikes
    from helpers import plain_rate_thresholds
    for seed, bits in ((1, 5), (0xDEADBEEF, 3), (2 ** 32 - 1, 8)):
        assert rate_thresholds(seed, 3, 7, bits).reshape(-1).tolist() == plain_rate_thresholds(seed, 21, bits)
    outputs, leap = leap_matrices(12)                       # a 12-bit word a cycle, 10 cycles
    state = np.array([(0xC0FFEE >> k) & 1 for k in range(32)])
    words = []
    for _ in range(10):
        words += list(outputs.astype(int) @ state % 2)
        state = leap.astype(int) @ state % 2
    assert words == lfsr_stream(0xC0FFEE, 120).tolist()
    x = np.full((1, 4000), 5)
    rate = rate_spikes(x, 2, 4, 7).mean()
    assert abs(rate - 5 / 16) < 0.02
    stream = lfsr_stream(1, 1 << 17).reshape(-1, 32)            # no 32-bit window repeats the seed's
    assert not (stream[1:] == stream[0]).all(axis=1).any()


def test_rate_descriptions_check_their_seed_and_refuse_nir(tmp_path):
    from flipspike.gen.nir_io import write_nir
    desc = random_desc(np.random.default_rng(0), [8, 4, 2], timesteps=2, encoding="rate")
    doc = desc.to_json()
    assert doc["input"]["encoding"] == "rate" and doc["input"]["seed"] == 1
    doc["input"]["seed"] = 0
    with pytest.raises(DescriptionError, match=r"\$\.input\.seed"):
        NetDesc.from_json(doc)
    assert desc.layers[0].widths.input == 1                        # the first layer reads spikes
    with pytest.raises(DescriptionError, match="no NIR node"):
        write_nir(desc, tmp_path / "r.nir")


def test_rate_encoded_digits_train_export_and_cosimulate(tmp_path, build_root):
    import flipspike as fs

    fs.train(tmp_path, arch="64-32-10", timesteps=4, encoding="rate", encoder_seed=77, epochs=3, seed=0)
    result = fs.export(tmp_path)
    assert result.desc.input.encoding == "rate" and result.desc.input.seed == 77
    assert result.float_accuracy > 0.6 and abs(result.float_accuracy - result.integer_accuracy) < 0.03
    x, y = fs.test_split(result.desc, 40)
    report = cosim(result.desc, parse_folding("16x8,32x5", result.desc.layers, frames=True), x, y,
                   build_root=build_root)
    assert report["mismatches"] == 0 and report["cycle_model_mismatches"] == 0


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2 ** 31), T=st.integers(1, 4), channels=st.sampled_from([1, 2]), conv=st.booleans(),
       encoding=st.sampled_from(["frames", "rate"]), density=st.sampled_from([0.05, 0.3, 0.8]))
def test_random_spike_input_networks_under_amaranths_simulator(seed, T, channels, conv, encoding, density):
    """Hypothesis over T, channels, sparsity, encoding and folding (the first layer event-driven half the
    time), in Amaranth's own simulator: every class, accumulation and counter equals the reference, and
    the busy and skipped cycles the cycle model's, sample by sample."""
    from flipspike.ir.cycle_model import sample_cycles, stream_cycles
    from flipspike.ir.folding import divisors, simd_base, simd_options
    from flipspike.sim.compare import compare
    from flipspike.sim.pysim import run_pysim
    rng = np.random.default_rng(seed)
    bits = 1 if encoding == "frames" else 3
    if conv:
        desc = random_conv_desc(rng, (4, 4, channels), [{"channels": 2, "kernel": 3, "padding": 1, "pool": 2}], 2,
                                timesteps=T, input_bits=bits, encoding=encoding)
    else:
        desc = random_desc(rng, [4 * channels, 4, 2], timesteps=T, input_bits=bits, encoding=encoding)
    desc.input.seed = int(rng.integers(1, 2 ** 32))
    folds = []
    for i, layer in enumerate(desc.layers):      # (a dense first convolution may read window-wide words)
        event = i == 0 and bool(rng.random() < 0.5)
        simds = divisors(simd_base(layer)) if event else simd_options(layer)
        folds.append(Fold(int(rng.choice(simds)), int(rng.choice(divisors(layer.n_out))), event=event))
    x = sparse_frames(rng, desc, 2, density) if encoding == "frames" else random_pixels(rng, desc, 2)
    ref = run_integer(desc, x)
    observed = run_pysim(desc, folds, x)
    assert compare(ref, observed) == []
    if not any(f.event for f in folds):         # (the stream replay, frames loaded a word per cycle)
        assert observed["stream"]["cycles_per_inference"] == stream_cycles(desc, folds, samples=len(x), warmup=0)
    for obs, want in zip(observed["samples"], sample_cycles(desc, folds, ref)):
        assert [c["cycles"] for c in obs["counters"]] == [w["cycles"] for w in want]
        assert [c["skipped"] for c in obs["counters"]] == [w["skipped"] for w in want]
