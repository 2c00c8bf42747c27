"""The torch integer reference (vectorized) against the plain-Python one, on random networks."""

import numpy as np
from hypothesis import given, settings, strategies as st

from flipspike.sw.integer import run_integer

from helpers import plain_run, random_desc, random_pixels


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
