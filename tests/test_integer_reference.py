"""The torch integer reference (vectorized) against the plain-Python one, on random networks."""

import copy

import numpy as np
from hypothesis import given, settings, strategies as st

from flipspike.ir import Fold
from flipspike.sw.integer import run_integer

from helpers import assert_reference_is_plain, plain_run, random_conv_desc, random_desc, random_pixels


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 31), hidden=st.lists(st.integers(1, 9), min_size=0, max_size=3),
       T=st.integers(1, 6), k=st.sampled_from([None, 1, 2, 5]), reset=st.sampled_from(["hard", "soft"]),
       F=st.integers(0, 4), bits=st.integers(1, 6))
def test_torch_reference_matches_plain_python(seed, hidden, T, k, reset, F, bits):
    rng = np.random.default_rng(seed)
    desc = random_desc(rng, [int(rng.integers(1, 12)), *hidden, int(rng.integers(1, 6))], timesteps=T,
                       input_bits=bits, frac_bits=F, leak_shift=k, reset=reset)
    x = random_pixels(rng, desc, 5)
    got = run_integer(desc, x)
    for n in range(len(x)):
        want = plain_run(desc, x[n])
        assert got.acc[n].tolist() == want["acc"]
        assert int(got.cls[n]) == want["cls"]
        assert [int(l.in_spikes[n]) for l in got.layers] == want["in_spikes"]


conv_layer = st.fixed_dictionaries({
    "channels": st.integers(1, 4), "kernel": st.integers(1, 3), "stride": st.integers(1, 2),
    "padding": st.integers(0, 2), "pool": st.sampled_from([1, 1, 2])})


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 31), convs=st.lists(conv_layer, min_size=1, max_size=2), T=st.integers(1, 4),
       k=st.sampled_from([None, 1, 3]), reset=st.sampled_from(["hard", "soft"]), hw=st.integers(4, 7),
       channels=st.integers(1, 3))
def test_conv_reference_matches_plain_python(seed, convs, T, k, reset, hw, channels):
    """Convolutions (HWC layout, (ky, kx, c) weight columns, zero padding, stride), OR max-pooling and
    SOP counts, against loops over every window."""
    from hypothesis import assume

    from flipspike.ir.errors import DescriptionError
    rng = np.random.default_rng(seed)
    convs = [dict(c, padding=min(c["padding"], c["kernel"] - 1)) for c in convs]
    try:
        desc = random_conv_desc(rng, (hw, hw, channels), convs, 3, timesteps=T, leak_shift=k, reset=reset)
    except DescriptionError:
        assume(False)                     # the draw shrank the map to nothing
    x = random_pixels(rng, desc, 3)
    assert_reference_is_plain(desc, x, run_integer(desc, x))


def test_shortcut_adds_the_input_spike_at_the_same_place():
    rng = np.random.default_rng(3)
    convs = [{"channels": 3, "kernel": 3, "padding": 1}, {"channels": 3, "kernel": 3, "padding": 1, "shortcut": True,
                                                          "pool": 2}]
    desc = random_conv_desc(rng, (6, 6, 2), convs, 4, timesteps=3, reset="soft")
    x = random_pixels(rng, desc, 4)
    got = run_integer(desc, x)
    for n in range(len(x)):
        assert got.acc[n].tolist() == plain_run(desc, x[n])["acc"]
    # the shortcut changes the result (else the check above says nothing about it)
    desc.layers[1].shortcut = desc.layers[1].shortcut * 0 - 1000     # inhibit where the input spiked
    assert not np.array_equal(run_integer(desc.assign_widths(), x).acc.numpy(), got.acc.numpy())


def test_classify_runs_in_chunks_that_fit(monkeypatch):
    """classify() over many samples equals one run of the reference, also when memory allows 3 at a time."""
    import flipspike.sw.integer as integer
    rng = np.random.default_rng(5)
    desc = random_desc(rng, [10, 8, 4], timesteps=3)
    x = random_pixels(rng, desc, 20)
    monkeypatch.setattr(integer, "memory_budget", lambda: 4 * 3 * integer.reference_bytes(desc, 1))
    assert np.array_equal(integer.classify(desc, x), integer.run_integer(desc, x).cls.numpy())


def test_cosimulation_compares_in_chunks_what_it_compares_whole(monkeypatch):
    """With memory for 3 samples at a time, co-simulation runs the reference chunk by chunk: the report
    equals the one made from a single run, and a one-LSB difference in the hardware is still found, at
    the right samples (their indices in the whole split)."""
    import flipspike.sw.integer as integer
    from flipspike.sim.cosim import cosim
    rng = np.random.default_rng(9)
    desc = random_desc(rng, [10, 8, 4], timesteps=2)
    folds = [Fold(5, 2), Fold(2, 4, True)]
    x = random_pixels(rng, desc, 8)
    y = rng.integers(0, 4, 8)
    whole = cosim(desc, folds, x, y, simulator="pysim")
    monkeypatch.setattr(integer, "memory_budget", lambda: 4 * 3 * integer.reference_bytes(desc, 1))
    assert integer.reference_chunk(desc) == 3
    chunked = cosim(desc, folds, x, y, simulator="pysim")
    drop = lambda r: {k: v for k, v in r.items() if k not in ("timings", "cycles_per_second")}
    assert drop(chunked) == drop(whole) and whole["mismatches"] == 0
    other = copy.deepcopy(desc)
    other.layers[-1].bias = other.layers[-1].bias + 1          # every sample's accumulations move by one
    wrong = cosim(desc, folds, x, simulator="pysim", hw_desc=other)
    assert wrong["mismatches"] == 8
    found = {d["sample"] for d in wrong["mismatch_details"]}
    assert {0, 3} <= found <= set(range(8))                # (the second chunk's first sample is sample 3)
