"""The whole accelerator under Amaranth's simulator against the integer reference.

Random tiny networks (shapes, weights, thresholds, leak, reset, folding, T) and adversarial ones
(every input at its maximum, every spike on) that drive each register to its worst case.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from flipspike.ir.cycle_model import layer_cycles, sample_cycles, stream_cycles
from flipspike.ir import Fold, InputSpec, LayerDesc, NetDesc
from flipspike.sim.compare import compare
from flipspike.sim.pysim import run_pysim
from flipspike.sw.integer import run_integer

from helpers import divisor_fold, plain_run, random_desc, random_pixels


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 31), hidden=st.lists(st.sampled_from([2, 4, 6, 8]), min_size=0, max_size=2),
       T=st.integers(1, 4), k=st.sampled_from([None, 1, 3]), reset=st.sampled_from(["hard", "soft"]),
       F=st.integers(0, 3), bits=st.integers(1, 5))
def test_random_networks_are_bit_exact(seed, hidden, T, k, reset, F, bits):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.choice([4, 6, 8])), *hidden, int(rng.choice([2, 3, 4]))]
    desc = random_desc(rng, sizes, timesteps=T, input_bits=bits, frac_bits=F, leak_shift=k, reset=reset)
    folds = divisor_fold(rng, desc)
    check_exact_and_timed(desc, folds, random_pixels(rng, desc, 3))


def check_exact_and_timed(desc, folds, x):
    """Bit-exact one at a time and back to back, busy cycles as modelled, and back to back never faster
    than the slowest layer's period nor slower than one sample at a time."""
    observed = run_pysim(desc, folds, x)
    ref = run_integer(desc, x)
    assert compare(ref, observed) == []
    for obs, want in zip(observed["samples"], sample_cycles(desc, folds, ref)):
        assert [c["cycles"] for c in obs["counters"]] == [w["cycles"] for w in want]
    slowest = max(row["cycles"] for row in layer_cycles(desc, folds))
    latency = min(obs["latency"] for obs in observed["samples"])
    assert slowest <= observed["stream"]["cycles_per_inference"] <= latency
    # the stream replay predicts the interval the hardware streams at, cycle for cycle
    assert observed["stream"]["cycles_per_inference"] == stream_cycles(desc, folds, samples=len(x), warmup=0)


def test_banks_where_the_stream_needs_them(monkeypatch):
    """Three layers of equal steps: with two banks between each, the first layer's next step waits for
    the second to release its bank and the stream runs 43 % slower than the slowest layer's period; the
    plan gives the first buffer a sample's worth of banks, and the hardware then streams at that period.
    Both intervals measured in simulation, both as the stream replay predicts."""
    import flipspike.ir.plan as plan_module
    from flipspike.ir.plan import NetPlan
    desc = random_desc(np.random.default_rng(0), [12, 8, 8, 3], timesteps=4, input_bits=3)
    folds = [Fold(1, 1), Fold(1, 2), Fold(1, 1)]
    x = random_pixels(np.random.default_rng(1), desc, 8)
    period = max(row["cycles"] for row in layer_cycles(desc, folds))
    assert NetPlan(desc, folds).banks == [4, 2]
    planned = run_pysim(desc, folds, x)["stream"]["cycles_per_inference"]
    monkeypatch.setattr(plan_module, "_banks_for_the_stream", lambda desc, plans, banks, caps: banks)
    assert NetPlan(desc, folds).banks == [2, 2]
    two = run_pysim(desc, folds, x)["stream"]["cycles_per_inference"]
    assert planned == period == 128 and two == stream_cycles(desc, folds, samples=8, warmup=0) > 1.4 * period


def _layer(name, kind, weights, bias, threshold, F, k=None):
    return LayerDesc(name, kind, np.asarray(weights, np.uint8), np.asarray(bias, np.int64),
                     None if threshold is None else np.asarray(threshold, np.int64), F, k, "hard")


def test_adversarial_input_never_wraps():
    """All pixels at max, all spikes on: the output accumulators reach exactly +-T*M, the bound their
    width was derived from, and a hidden IF membrane reaches its own bound exactly at the last step."""
    T, F, n_in, bits = 4, 3, 8, 5
    xmax = 2 ** bits - 1
    # layer 0: every neuron fires at every step (weights +1, threshold 1): "all spikes on"
    l0 = _layer("fire", "lif", np.ones((4, n_in)), [0] * 4, [1] * 4, F, k=1)
    # layer 1: IF neurons integrate 4 spikes/step; threshold = the value reached only after T steps
    m1, c1 = 4 * 2 ** F, 3
    l1 = _layer("integrate", "lif", np.ones((4, 4)), [c1] * 4, [T * (m1 + c1)] * 4, F)
    # output: row 0 all +1 with the largest bias, row 1 all -1 with the most negative bias
    l2 = _layer("out", "output", [[1] * 4, [0] * 4], [5, -5], None, F)
    desc = NetDesc(T, InputSpec(n_in, bits, xmax), [l0, l1, l2]).assign_widths().validate()
    x = np.full((1, n_in), xmax)
    (obs,) = run_pysim(desc, [Fold(4, 2), Fold(2, 4), Fold(4, 1)], x)["samples"]
    # layer 1 fires exactly once (last step) -> output sees 4 spikes at one step only
    assert obs["counters"][2]["in_spikes"] == 4
    assert obs["acc"] == [4 * 2 ** F + 5 * T, -(4 * 2 ** F) - 5 * T]
    assert obs["acc"] == plain_run(desc, x[0])["acc"]
    # the hidden membrane's declared width holds T*(m1+c1) and one bit less would not
    w1 = desc.layers[1].widths.state
    assert T * (m1 + c1) <= 2 ** (w1 - 1) - 1

    # output accumulators at their extremes: all spikes on at every step
    l1b = _layer("fire2", "lif", np.ones((4, 4)), [0] * 4, [1] * 4, F, k=1)
    desc2 = NetDesc(T, InputSpec(n_in, bits, xmax), [l0, l1b, l2]).assign_widths().validate()
    (obs2,) = run_pysim(desc2, [Fold(8, 4), Fold(4, 2), Fold(1, 2)], x)["samples"]
    bound = T * (4 * 2 ** F + 5)
    assert obs2["acc"] == [bound, -bound]
    w = desc2.layers[2].widths.state
    assert bound <= 2 ** (w - 1) - 1 and bound > 2 ** (w - 2) - 1     # fits, and tightly


def test_first_layer_can_be_the_output_layer():
    rng = np.random.default_rng(3)
    desc = random_desc(rng, [6, 3], timesteps=3, input_bits=3)
    x = random_pixels(rng, desc, 4)
    assert compare(run_integer(desc, x), run_pysim(desc, [Fold(3, 1)], x)) == []


def test_loading_a_network_into_another_networks_build():
    rng = np.random.default_rng(11)
    first, second = (random_desc(rng, [6, 4, 3], timesteps=2, input_bits=3) for _ in range(2))
    folds = [Fold(3, 2), Fold(2, 3)]
    x = random_pixels(rng, first, 4)
    from flipspike.ir.memory_map import load_writes
    observed = run_pysim(first, folds, x, loads=load_writes(second, folds))
    assert compare(run_integer(second, x), observed) == []
    assert run_integer(first, x).acc.tolist() != run_integer(second, x).acc.tolist()


conv_layer = st.fixed_dictionaries({
    "channels": st.sampled_from([1, 2, 4]), "kernel": st.integers(1, 3), "stride": st.integers(1, 2),
    "padding": st.integers(0, 1), "pool": st.sampled_from([1, 2])})


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 31), convs=st.lists(conv_layer, min_size=1, max_size=2), T=st.integers(1, 3),
       hw=st.integers(3, 6), channels=st.sampled_from([1, 2]), reset=st.sampled_from(["hard", "soft"]))
def test_random_conv_networks_are_bit_exact(seed, convs, T, hw, channels, reset):
    """Convolutions (stride, zero padding, OR-pooling) on random folds, dense (words within a pixel or
    spanning kernel positions) or event-driven: every
    class, accumulation and counter equals the integer reference, and the busy and skipped cycles equal
    the cycle model's."""
    from hypothesis import assume

    from flipspike.ir.errors import DescriptionError
    from flipspike.ir.folding import divisors, simd_base, simd_options
    from helpers import random_conv_desc
    rng = np.random.default_rng(seed)
    convs = [dict(c, padding=min(c["padding"], c["kernel"] - 1)) for c in convs]
    try:
        desc = random_conv_desc(rng, (hw, hw, channels), convs, 3, timesteps=T, reset=reset)
    except DescriptionError:
        assume(False)
    folds = []
    for i, layer in enumerate(desc.layers):      # layers fed by spikes are event-driven half the time, and
        event = i > 0 and bool(rng.random() < 0.5)       # dense ones may read window-wide words
        simds = divisors(simd_base(layer)) if event else simd_options(layer)
        folds.append(Fold(int(rng.choice(simds)), int(rng.choice(divisors(layer.n_out))), event=event))
    x = random_pixels(rng, desc, 3)
    observed = run_pysim(desc, folds, x)
    ref = run_integer(desc, x)
    assert compare(ref, observed) == []
    if not any(f.event for f in folds):
        assert observed["stream"]["cycles_per_inference"] == stream_cycles(desc, folds, samples=3, warmup=0)
    for obs, want, pixels in zip(observed["samples"], sample_cycles(desc, folds, ref), x):
        assert [c["cycles"] for c in obs["counters"]] == [w["cycles"] for w in want]
        assert [c["skipped"] for c in obs["counters"]] == [w["skipped"] for w in want]
        plain = plain_run(desc, pixels)
        assert [c["sops"] for c in obs["counters"]] == plain["sops"]
        assert [c["in_spikes"] for c in obs["counters"]] == plain["in_spikes"]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 31), hidden=st.lists(st.sampled_from([4, 6, 8]), min_size=1, max_size=2),
       T=st.integers(1, 4), density=st.sampled_from([0.1, 0.5]))
def test_event_driven_layers_skip_zero_words_exactly(seed, hidden, T, density):
    """Event-driven dense layers: bit-exact results, and busy and skipped cycles equal the event model
    computed from the reference's spikes."""
    from flipspike.ir.folding import with_event
    rng = np.random.default_rng(seed)
    sizes = [int(rng.choice([4, 8])), *hidden, int(rng.choice([2, 3]))]
    desc = random_desc(rng, sizes, timesteps=T, input_bits=3, weight_density=density)
    folds = with_event(desc.layers, divisor_fold(rng, desc))
    x = random_pixels(rng, desc, 3)
    ref = run_integer(desc, x)
    observed = run_pysim(desc, folds, x)
    assert compare(ref, observed) == []
    model = sample_cycles(desc, folds, ref)
    for obs, want in zip(observed["samples"], model):
        assert [c["cycles"] for c in obs["counters"]] == [w["cycles"] for w in want]
        assert [c["skipped"] for c in obs["counters"]] == [w["skipped"] for w in want]


def test_monitor_reads_back_membranes_and_parameters():
    """The monitor port: after an inference every hidden membrane equals the reference's final membrane,
    and every weight, bias and threshold word equals the description's (dense and conv layers)."""
    from flipspike.sim.monitor import monitor_check
    from helpers import random_conv_desc
    rng = np.random.default_rng(7)
    dense = random_desc(rng, [8, 6, 4], timesteps=3, leak_shift=None)
    conv = random_conv_desc(rng, (5, 5, 2), [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2}], 3, timesteps=2)
    for desc, folds in ((dense, [Fold(4, 3), Fold(2, 2)]), (conv, [Fold(2, 2), Fold(4, 3)])):
        x = random_pixels(rng, desc, 1)[0]
        report = monitor_check(desc, folds, x, simulator="pysim")
        assert report["mismatches"] == 0, report["details"]
        first = desc.layers[0]
        assert len(report["membranes"][first.name]) == first.neurons
        assert any(v != 0 for v in report["membranes"][first.name])


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2 ** 31), T=st.integers(1, 3), pe=st.sampled_from([1, 2, 4]), event=st.booleans())
def test_shortcuts_are_bit_exact(seed, T, pe, event):
    """Membrane-level shortcuts (v += g_c where the input at the neuron's place spiked), dense and conv."""
    from helpers import random_conv_desc
    rng = np.random.default_rng(seed)
    dense = random_desc(rng, [6, 4, 4, 3], timesteps=T)
    hidden = dense.layers[1]
    hidden.shortcut = rng.integers(-40, 41, hidden.n_out).astype(np.int64)
    dense.assign_widths().validate()
    conv = random_conv_desc(rng, (4, 4, 2), [{"channels": 4, "kernel": 3, "padding": 1},
                                             {"channels": 4, "kernel": 3, "padding": 1, "shortcut": True, "pool": 2}],
                            3, timesteps=T)
    for desc, folds in ((dense, [Fold(3, 2), Fold(2, pe), Fold(4, 3)]),
                        (conv, [Fold(2, 2), Fold(2, pe), Fold(8, 3)])):
        if event and desc is dense:
            folds[1] = Fold(folds[1].simd, folds[1].pe, True)
        x = random_pixels(rng, desc, 3)
        assert compare(run_integer(desc, x), run_pysim(desc, folds, x)) == []


@pytest.mark.parametrize("out_fold", [Fold(1, 1), Fold(4, 4)])
def test_output_layer_with_and_without_result_register(out_fold):
    """A long output layer keeps no result register (its next sample waits for the result to leave), a
    short one does (only its last step waits): both stream bit-exact, no faster than the slowest layer's
    period and no slower than one sample at a time."""
    from flipspike.ir.plan import LayerPlan
    rng = np.random.default_rng(11)
    desc = random_desc(rng, [8, 24, 4], timesteps=3, input_bits=3)
    folds = [Fold(4, 8), out_fold]
    assert LayerPlan(desc.layers[1], out_fold, timesteps=3).result_register == (out_fold.simd == 4)
    check_exact_and_timed(desc, folds, random_pixels(rng, desc, 5))


def test_spike_banks_only_after_a_slowest_layer_that_two_would_stall_or_before_an_event_driven_one():
    from flipspike.ir.plan import NetPlan, buffer_banks
    desc = random_desc(np.random.default_rng(5), [64, 128, 10], timesteps=4, input_bits=5)
    # fc1 slowest (128 issue cycles), its neuron step (16) no longer than fc2's step (16) plus the drain:
    # a sample's worth of steps (T = 4) in block RAM
    assert buffer_banks(desc, [Fold(16, 8), Fold(16, 5)]) == [4]
    # fc2 the slowest: fc1 never waits on it for long enough to matter
    assert buffer_banks(desc, [Fold(16, 8), Fold(1, 10)]) == [2]
    # ... unless fc2 is event-driven: its steps vary with its spikes, so block RAM holds T banks
    assert buffer_banks(desc, [Fold(16, 8), Fold(1, 10, event=True)]) == [4]
    assert buffer_banks(desc, [Fold(8, 4), Fold(1, 5, event=True)]) == [4]
    # fc1 the slowest, fc2's step (160) longer than fc1's neuron step (128): block RAM banks absorb bursts
    assert buffer_banks(desc, [Fold(16, 1), Fold(8, 1)]) == [4]
    # T = 2: a step pair fits the two banks as is
    assert buffer_banks(random_desc(np.random.default_rng(5), [64, 128, 10], timesteps=2, input_bits=5),
                        [Fold(16, 8), Fold(16, 5)]) == [2]
    # in flip-flops (PE 12 writes, SIMD 32 reads: not powers of two of each other): a third bank, where
    # the next layer's step (24 / 4) is no longer than the slowest one's (64 / 4)
    odd = random_desc(np.random.default_rng(5), [64, 96, 10], timesteps=4, input_bits=5)
    assert buffer_banks(odd, [Fold(16, 12), Fold(32, 5)]) == [3]
    assert buffer_banks(odd, [Fold(16, 12), Fold(32, 5, event=True)]) == [3]     # (flip-flops: as dense)
    assert NetPlan(odd, [Fold(16, 12), Fold(32, 5)]).buffers[1].banks == 3
