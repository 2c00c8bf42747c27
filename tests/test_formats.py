"""Widths come from worst-case bounds: they always fit, and are tight."""

import itertools

import numpy as np
import pytest

from flipspike.ir.formats import leak, required_widths, signed_width, state_bound, unsigned_width


def brute_signed_width(lo, hi):
    return next(w for w in itertools.count(1) if -(2 ** (w - 1)) <= lo and hi <= 2 ** (w - 1) - 1)


@pytest.mark.parametrize("lo,hi", [(0, 0), (-1, 0), (0, 1), (-128, 127), (-129, 5), (3, 128), (-5, 1000)])
def test_signed_width_matches_brute_force(lo, hi):
    assert signed_width(lo, hi) == brute_signed_width(min(lo, 0), max(hi, 0))


def test_unsigned_width():
    assert [unsigned_width(v) for v in (0, 1, 2, 3, 4, 255, 256)] == [1, 1, 2, 2, 3, 8, 9]


def test_leak_is_floor_shift():
    for v in range(-40, 41):
        for k in (1, 2, 3):
            assert leak(v, k) == v - (v // 2 ** k)
    assert leak(-7, None) == -7


@pytest.mark.parametrize("k", [None, 1, 2, 4])
@pytest.mark.parametrize("T", [1, 3, 8])
def test_state_bound_is_reached_by_the_worst_input(k, T):
    # Worst case: every input at max with weight +1, the largest bias, a neuron that never fires.
    n_in, xmax, F, c = 5, 15, 3, 17
    v = 0
    for _ in range(T):
        v = leak(v, k) + n_in * xmax * 2 ** F + c
    bound = state_bound(n_in=n_in, input_max=xmax, frac_bits=F, bias_max_abs=c, timesteps=T, leak_shift=k,
                        accumulate=False)
    assert v == bound
    w = required_widths(n_in=n_in, input_max=xmax, input_bits=4, frac_bits=F, bias_max_abs=c, threshold_max=1,
                        timesteps=T, leak_shift=k, accumulate=False)
    assert -(2 ** (w.state - 1)) <= -bound and bound <= 2 ** (w.state - 1) - 1   # fits
    assert bound > 2 ** (w.state - 2) - 1                                        # one bit less would wrap


def test_negative_extreme_leaks_no_further_than_positive():
    # The negative worst case (all weights -1, most negative bias) stays within the same bound.
    n_in, xmax, F, c, k, T = 7, 1, 2, 9, 1, 6
    v = 0
    for _ in range(T):
        v = leak(v, k) - (n_in * xmax * 2 ** F + c)
    assert abs(v) <= state_bound(n_in=n_in, input_max=xmax, frac_bits=F, bias_max_abs=c, timesteps=T,
                                 leak_shift=k, accumulate=False)


def test_leak_is_lambda_times_v_rounded_up():
    # docs/integer-semantics.md: v - (v >>> k) == ceil((1 - 2**-k) * v) for every integer v
    from fractions import Fraction
    import math
    for v in range(-300, 301):
        for k in (1, 2, 5):
            assert leak(v, k) == math.ceil(Fraction(2 ** k - 1, 2 ** k) * v)


def test_leak_is_exact_exactly_when_no_membrane_is_rounded():
    """Brute force against exact rational arithmetic: where ``leak_is_exact`` says so, the integer
    membrane equals lambda * v computed in fractions for every input drawn; and the condition is tight
    (some layers it rejects really do round)."""
    from fractions import Fraction
    from flipspike.ir.formats import leak, leak_is_exact
    rng = np.random.default_rng(0)
    rounded_somewhere = 0
    for _ in range(300):
        F, k, T = int(rng.integers(0, 5)), int(rng.integers(1, 4)), int(rng.integers(2, 6))
        bias = rng.integers(-40, 41, 3) << int(rng.integers(0, 8))
        currents = rng.integers(-6, 7, (20, T, 3)) << F                        # (I << F) per step
        exact = True
        for drive in currents:
            v, q = np.zeros(3, dtype=np.int64), [Fraction(0)] * 3
            for t in range(T):
                v = leak(v, k) + drive[t] + bias
                q = [qi * (1 - Fraction(1, 2 ** k)) + int(d) + int(b) for qi, d, b in zip(q, drive[t], bias)]
                exact &= all(int(vi) == qi for vi, qi in zip(v, q))
        claim = leak_is_exact(frac_bits=F, k=k, timesteps=T, bias=bias)
        assert exact or not claim, (F, k, T, bias)
        rounded_somewhere += not exact
    assert rounded_somewhere > 30
