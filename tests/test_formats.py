"""Widths come from worst-case bounds: they always fit, and are tight."""

import itertools

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
