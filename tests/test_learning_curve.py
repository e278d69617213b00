"""How many labels: the learning-curve fit recovers known curves, says when it cannot, and is deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from vemtransfer.report.learning_curve import (
    ENOUGH,
    MIN_FRACTIONS,
    curve,
    fit_learning_curve,
    gain_of_doubling,
    needed_fraction,
)

FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def _runs(full: float, b: float, c: float, sd: float, reps: int = 6, seed: int = 1, fractions=FRACTIONS) -> dict:
    """Per-repeat IoUs (%) on a known curve, with independent noise at each fraction (repeats at different fractions have different seeds)."""
    rng = np.random.default_rng(seed)
    return {f: {r: float(curve(np.array(f / max(fractions)), full, b, c) + rng.normal(0, sd)) for r in range(1, reps + 1)} for f in fractions}


def test_closed_forms_by_hand():
    # IoU(x) = 80 - 4 (x^-1 - 1): 95 % of 80 is 76, reached where x^-1 - 1 = 1, x = 1/2; doubling gains 4 (1 - 1/2) = 2
    assert needed_fraction(80.0, 4.0, 1.0, 1.0) == pytest.approx(0.5)
    assert needed_fraction(80.0, 4.0, 1.0, 0.5) == pytest.approx(0.25)  # relative to the largest fraction tried
    assert gain_of_doubling(4.0, 1.0) == pytest.approx(2.0)
    assert needed_fraction(80.0, 0.0, 1.0, 1.0) == 1.0  # a flat curve never drops 5 %


def test_known_parameters_are_recovered():
    full, b, c = 80.0, 6.0, 0.8
    fit = fit_learning_curve(_runs(full, b, c, sd=0.3))
    assert fit.resolved, fit.reasons
    assert (fit.full, fit.b, fit.c) == pytest.approx((full, b, c), rel=0.1)
    true_need, true_gain = needed_fraction(full, b, c, 1.0), gain_of_doubling(b, c)
    assert fit.needed.value == pytest.approx(true_need, rel=0.05) and fit.needed.lo <= true_need <= fit.needed.hi
    assert fit.gain_2x.value == pytest.approx(true_gain, abs=0.3) and fit.gain_2x.lo <= true_gain <= fit.gain_2x.hi
    text = fit.sentence("Near-M")
    assert f"{100 * ENOUGH:g} % of the IoU" in text and "of the labels** [" in text and "Labelling 2x more" in text


def test_exact_noise_free_curve_with_three_fractions():
    fit = fit_learning_curve({f: [float(curve(np.array(f), 70.0, 10.0, 0.5))] * 3 for f in (0.25, 0.5, 1.0)})
    assert (fit.full, fit.b, fit.c) == pytest.approx((70.0, 10.0, 0.5), rel=1e-3)
    assert fit.resolved and fit.needed.lo == pytest.approx(fit.needed.hi)  # no noise: a point interval


def test_unresolved_cases_say_why():
    few = fit_learning_curve({1.0: [70, 71], 0.5: [60, 61]})
    assert not few.resolved and f"at least {MIN_FRACTIONS}" in few.reasons[0]
    assert "**Labels: not resolved.**" in few.sentence("X")
    one = fit_learning_curve({1.0: [70], 0.5: [60, 61], 0.25: [50, 52]})
    assert not one.resolved and "one repeat" in one.reasons[0]
    flat = fit_learning_curve(_runs(70.0, 0.0, 1.0, sd=2.0))
    assert not flat.resolved and any("flat within the repeat noise" in r for r in flat.reasons)
    dip = fit_learning_curve({0.25: [60.0, 61.0, 60.5], 0.5: [75.0, 75.5, 74.5], 1.0: [65.0, 65.5, 64.5]})
    assert not dip.resolved and any(r.startswith("non-monotone data (100 % scores -10.0 points against 50 %") for r in dip.reasons)
    wide = fit_learning_curve(_runs(70.0, 3.0, 0.3, sd=4.0, reps=3, seed=3))
    assert not wide.resolved and any(("too wide" in r) or ("flat" in r) for r in wide.reasons)


def test_a_too_wide_interval_is_reported_as_such():
    # a clear rise from the smallest fraction, but three noisy repeats: where the curve reaches 95 % is uncertain
    runs = {0.1: [40.0, 52.0, 46.0], 0.2: [58.0, 47.0, 66.0], 0.4: [55.0, 68.0, 61.0], 1.0: [70.0, 58.0, 64.0]}
    fit = fit_learning_curve(runs)
    assert not fit.resolved and any("too wide" in r for r in fit.reasons), fit.reasons


def test_deterministic_for_a_seed():
    runs = _runs(75.0, 8.0, 1.2, sd=1.5, reps=4)
    assert fit_learning_curve(runs) == fit_learning_curve(runs)
    assert fit_learning_curve(runs, seed=1) != fit_learning_curve(runs, seed=2)
