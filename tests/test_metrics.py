"""Sample-quality metrics against closed forms and obvious orderings."""

import numpy as np

from adaptnoise.metrics import classifier_two_sample_auc, energy_distance


def test_energy_distance_of_shifted_gaussians_matches_closed_form():
    # In 1D, energy distance between N(0,1) and N(m,1) is
    # 2 E|X - Y| - 2 E|X - X'| with X - Y ~ N(-m, 2) and X - X' ~ N(0, 2).
    from scipy import stats

    rng = np.random.RandomState(0)
    m = 1.0
    X, Y = rng.normal(size=(3000, 1)), rng.normal(m, 1, size=(3000, 1))
    s = np.sqrt(2)
    folded_mean = s * np.sqrt(2 / np.pi) * np.exp(-(m**2) / (2 * s**2)) + m * (
        1 - 2 * stats.norm.cdf(-m / s)
    )
    expected = 2 * folded_mean - 2 * s * np.sqrt(2 / np.pi)
    assert abs(energy_distance(X, Y) - expected) < 0.03


def test_energy_distance_is_near_zero_for_the_same_law():
    rng = np.random.RandomState(1)
    assert (
        abs(energy_distance(rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))))
        < 0.01
    )


def test_classifier_auc_is_half_for_the_same_law_and_one_for_disjoint():
    rng = np.random.RandomState(0)
    same = classifier_two_sample_auc(
        rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2))
    )
    apart = classifier_two_sample_auc(
        rng.normal(size=(500, 2)), rng.normal(10, 1, (500, 2))
    )
    assert abs(same - 0.5) < 0.05
    assert apart > 0.99
