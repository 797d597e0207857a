"""Sample-quality metrics against closed forms and obvious orderings."""

import functools
import pickle

import numpy as np
import pytest
from scipy import sparse, stats
from scipy.spatial.distance import cdist
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from adaptnoise import FixedNoise
from adaptnoise.metrics import (
    classifier_two_sample_auc,
    column_wasserstein_distances,
    distance_to_closest_record_ratio,
    energy_distance,
    energy_scorer,
    make_sample_scorer,
    maximum_mean_discrepancy,
    sliced_wasserstein_distance,
    sliced_wasserstein_scorer,
    tail_quantile_errors,
)


def test_energy_distance_of_shifted_gaussians_matches_closed_form():
    # In 1D, energy distance between N(0,1) and N(m,1) is
    # 2 E|X - Y| - 2 E|X - X'| with X - Y ~ N(-m, 2) and X - X' ~ N(0, 2).
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


def test_sliced_wasserstein_of_a_shifted_copy_matches_closed_form():
    # Shifting keeps the order of every projection, so each 1D distance is
    # exactly |<theta, m>|: SW2^2 = E <theta, m>^2 = |m|^2 / d, and
    # SW1 = |m| E|theta_1| = |m| / 2 on the sphere in 3D.
    # |theta_1| is uniform on (0, 1) in 3D, so 4096 directions leave about
    # 1% Monte Carlo error.
    X = np.random.RandomState(0).normal(size=(100, 3))
    m = np.array([3.0, -1.0, 2.0])
    norm = np.linalg.norm(m)
    sw2 = sliced_wasserstein_distance(X, X + m, n_projections=4096)
    sw1 = sliced_wasserstein_distance(X, X + m, p=1, n_projections=4096)
    assert sw2 == pytest.approx(norm / np.sqrt(3), rel=0.03)
    assert sw1 == pytest.approx(norm / 2, rel=0.03)


def test_sliced_wasserstein_in_1d_is_the_exact_distance():
    rng = np.random.RandomState(1)
    x, y = rng.normal(size=300), rng.standard_t(3, size=200)
    assert sliced_wasserstein_distance(
        x[:, None], y[:, None], p=1, n_projections=3
    ) == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-10)


def test_sliced_wasserstein_of_a_tiny_shift_at_order_16():
    # In 1D a shift by m moves every quantile by m, so SW_p = m for every p,
    # though m**16 = 1e-336 underflows unless the data are rescaled.
    x = 1e-20 * np.random.RandomState(3).normal(size=(50, 1))
    assert sliced_wasserstein_distance(x, x + 1e-21, p=16) == pytest.approx(
        1e-21, rel=1e-6, abs=0
    )


def test_sliced_wasserstein_rejects_orders_beyond_16():
    with pytest.raises(InvalidParameterError, match=r"'p' parameter.*16"):
        sliced_wasserstein_distance(np.zeros((3, 1)), np.ones((3, 1)), p=1e300)


def test_sliced_wasserstein_is_seeded():
    rng = np.random.RandomState(2)
    X, Y = rng.normal(size=(100, 4)), rng.normal(size=(100, 4))
    first = sliced_wasserstein_distance(X, Y, n_projections=8, random_state=5)
    assert first == sliced_wasserstein_distance(X, Y, n_projections=8, random_state=5)
    assert first != sliced_wasserstein_distance(X, Y, n_projections=8, random_state=6)
    state = np.random.get_state()[1].copy()
    fresh = [sliced_wasserstein_distance(X, Y, random_state=None) for _ in range(2)]
    assert fresh[0] != fresh[1]
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_mmd_of_shifted_gaussians_matches_closed_form():
    # With k(x, y) = exp(-|x - y|^2 / (2 h^2)) and N(0, I), N(m, I) in d
    # dimensions, E k = c exp(-|m|^2 / (2 (h^2 + 2))) with
    # c = (h^2 / (h^2 + 2))^(d/2), so MMD^2 = 2 c (1 - exp(-|m|^2 / (2 h^2 + 4))).
    rng = np.random.RandomState(0)
    X, Y = rng.normal(size=(1500, 2)), rng.normal([1.0, 0.0], 1.0, size=(1500, 2))
    expected = 2 / 3 * (1 - np.exp(-1 / 6))
    assert maximum_mean_discrepancy(X, Y, bandwidth=1.0) == pytest.approx(
        expected, abs=0.01
    )


def test_mmd_is_near_zero_for_the_same_law_and_grows_with_the_shift():
    rng = np.random.RandomState(1)
    X, Y = rng.normal(size=(800, 2)), rng.normal(size=(800, 2))
    values = [maximum_mean_discrepancy(X, Y + shift) for shift in (0.0, 0.5, 2.0)]
    assert abs(values[0]) < 0.005
    assert values[0] < values[1] < values[2]


def test_mmd_is_the_u_statistic():
    rng = np.random.RandomState(2)
    X, Y = rng.normal(size=(6, 2)), rng.normal(size=(4, 2))

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * 0.7**2))

    xx = np.mean([k(a, b) for i, a in enumerate(X) for j, b in enumerate(X) if i != j])
    yy = np.mean([k(a, b) for i, a in enumerate(Y) for j, b in enumerate(Y) if i != j])
    xy = np.mean([k(a, b) for a in X for b in Y])
    assert maximum_mean_discrepancy(X, Y, bandwidth=0.7) == pytest.approx(
        xx + yy - 2 * xy, rel=1e-12
    )


def test_mmd_median_bandwidth_is_scale_free_and_handles_ties():
    rng = np.random.RandomState(3)
    X, Y = rng.normal(size=(50, 2)), rng.normal(0.5, 1.0, size=(60, 2))
    assert maximum_mean_discrepancy(1e6 * X, 1e6 * Y) == pytest.approx(
        maximum_mean_discrepancy(X, Y), rel=1e-9
    )
    # More than half of the pairs coincide: the median of the others is used.
    Z = np.r_[np.zeros((20, 1)), [[1.0], [3.0]]]
    assert np.isfinite(maximum_mean_discrepancy(Z, Z + 1))
    assert maximum_mean_discrepancy(np.ones((5, 2)), np.ones((4, 2))) == 0


@pytest.mark.parametrize(
    "bandwidth",
    [0.0, -1.0, "mean", np.inf, 10**400],
    ids=["zero", "negative", "mean", "inf", "huge_int"],
)
def test_mmd_rejects_bad_bandwidths(bandwidth):
    with pytest.raises(InvalidParameterError, match="'bandwidth' parameter.*range"):
        maximum_mean_discrepancy(np.zeros((3, 1)), np.ones((3, 1)), bandwidth=bandwidth)


def test_mmd_at_extreme_bandwidths_reaches_the_kernel_limits():
    # Far below the distances the kernel is 1 only between coinciding rows:
    # 2 of the 6 ordered pairs of distinct rows of X coincide. Far above them
    # every kernel value is 1 and the statistic is 0.
    X, Y = np.array([[0.0], [0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert maximum_mean_discrepancy(X, Y, bandwidth=1e-300) == pytest.approx(1 / 3)
    assert maximum_mean_discrepancy(X, Y, bandwidth=1e300) == 0


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_distances_are_homogeneous_at_extreme_scales(scale):
    # Squared distances of such rows overflow or underflow; the metrics must
    # still scale as their definitions do.
    rng = np.random.RandomState(4)
    X, Y = rng.normal(size=(30, 2)), rng.normal(0.5, 1.0, size=(40, 2))
    assert energy_distance(scale * X, scale * Y) == pytest.approx(
        scale * energy_distance(X, Y), rel=1e-10, abs=0
    )
    assert sliced_wasserstein_distance(scale * X, scale * Y) == pytest.approx(
        scale * sliced_wasserstein_distance(X, Y), rel=1e-10, abs=0
    )
    assert maximum_mean_discrepancy(scale * X, scale * Y) == pytest.approx(
        maximum_mean_discrepancy(X, Y), rel=1e-10
    )
    assert maximum_mean_discrepancy(
        scale * X, scale * Y, bandwidth=0.7 * scale
    ) == pytest.approx(maximum_mean_discrepancy(X, Y, bandwidth=0.7), rel=1e-10)


def test_column_wasserstein_distances():
    rng = np.random.RandomState(0)
    X, Y = rng.normal(size=(300, 3)), rng.exponential(size=(200, 3))
    np.testing.assert_allclose(
        column_wasserstein_distances(X, X + [1.0, -2.0, 0.0]), [1.0, 2.0, 0.0]
    )
    np.testing.assert_allclose(
        column_wasserstein_distances(X, Y),
        [stats.wasserstein_distance(X[:, j], Y[:, j]) for j in range(3)],
    )


def test_tail_quantile_errors_of_identical_and_scaled_samples():
    Y = np.random.RandomState(0).standard_t(2, size=(5000, 2)) + [0.0, 3.0]
    assert tail_quantile_errors(Y, Y).shape == (4, 2)
    np.testing.assert_array_equal(tail_quantile_errors(Y, Y), 0)
    # Linear interpolation commutes with scaling: every quantile scales by 1.3.
    np.testing.assert_allclose(tail_quantile_errors(1.3 * Y, Y), 0.3, rtol=1e-12)
    np.testing.assert_allclose(
        tail_quantile_errors(0.5 * Y, Y, quantiles=[0.05]), [[0.5, 0.5]], rtol=1e-12
    )


def test_tail_quantile_error_at_a_zero_reference_quantile_uses_the_std():
    Y = np.r_[np.zeros(50), np.random.RandomState(0).exponential(size=950)][:, None]
    errors = tail_quantile_errors(Y + 0.5, Y, quantiles=[0.01, 0.5])
    assert errors[0, 0] == pytest.approx(0.5 / Y.std())
    assert errors[1, 0] == pytest.approx(0.5 / np.median(Y))
    constant = np.zeros((10, 1))
    assert tail_quantile_errors(constant + 2, constant, quantiles=[0.5])[0, 0] == 2


def test_tail_quantile_errors_reject_levels_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"levels in \[0, 1\]"):
        tail_quantile_errors(np.zeros((3, 1)), np.ones((3, 1)), quantiles=[0.5, 1.5])


def test_dcr_ratio_detects_copies_and_accepts_fresh_draws():
    rng = np.random.RandomState(0)
    X_train, X_holdout = rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3))
    jittered = X_train + rng.normal(scale=0.01, size=X_train.shape)
    fresh = rng.normal(size=(2000, 3))
    assert distance_to_closest_record_ratio(jittered, X_train, X_holdout) < 0.1
    assert distance_to_closest_record_ratio(fresh, X_train, X_holdout) == (
        pytest.approx(1.0, abs=0.1)
    )


def test_dcr_ratio_equals_the_brute_force_definition():
    rng = np.random.RandomState(1)
    generated, X_train, X_holdout = (rng.normal(size=(n, 4)) for n in (70, 50, 30))

    def closest(A):
        return np.median(cdist(A, X_train).min(axis=1))

    assert distance_to_closest_record_ratio(
        generated, X_train, X_holdout
    ) == pytest.approx(closest(generated) / closest(X_holdout), rel=1e-12)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_dcr_ratio_is_scale_free(scale):
    rng = np.random.RandomState(3)
    samples = [rng.normal(size=(n, 2)) for n in (40, 30, 20)]
    assert distance_to_closest_record_ratio(
        *(scale * sample for sample in samples)
    ) == pytest.approx(distance_to_closest_record_ratio(*samples), rel=1e-12)


def test_dcr_ratio_refuses_held_out_copies_of_training_rows():
    X = np.random.RandomState(2).normal(size=(20, 2))
    with pytest.raises(ValueError, match="duplicate training rows"):
        distance_to_closest_record_ratio(X + 1, X, X)


def test_classifier_auc_without_a_seed_leaves_the_global_generator_alone():
    rng = np.random.RandomState(5)
    X, Y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    state = np.random.get_state()[1].copy()
    auc = classifier_two_sample_auc(X, Y, n_splits=2, random_state=None)
    assert 0 <= auc <= 1
    np.testing.assert_array_equal(np.random.get_state()[1], state)


TWO_SAMPLE = [
    energy_distance,
    sliced_wasserstein_distance,
    maximum_mean_discrepancy,
    column_wasserstein_distances,
    tail_quantile_errors,
    classifier_two_sample_auc,
]


@pytest.mark.parametrize("metric", TWO_SAMPLE)
def test_mismatched_columns_name_both_counts(metric):
    with pytest.raises(ValueError, match="X has 2, Y has 3"):
        metric(np.zeros((10, 2)), np.ones((10, 3)))


def test_dcr_ratio_names_all_three_column_counts():
    with pytest.raises(
        ValueError, match="generated has 2, X_train has 2, X_holdout has 1"
    ):
        distance_to_closest_record_ratio(
            np.zeros((4, 2)), np.ones((4, 2)), np.ones((4, 1))
        )


@pytest.mark.parametrize(
    ("Y", "error", "message"),
    [
        (np.array([[0.0, np.nan]] * 3), ValueError, "Input Y contains NaN"),
        (np.array([[0.0, np.inf]] * 3), ValueError, "Input Y contains infinity"),
        (sparse.csr_matrix(np.eye(3, 2)), TypeError, "dense data is required"),
        (np.array([[1j, 0]] * 3), ValueError, "Complex data not supported"),
        (np.array([["a", "b"]] * 3), ValueError, "could not convert|dtype"),
        (np.zeros(3), ValueError, "Expected 2D array"),
    ],
)
@pytest.mark.parametrize("metric", TWO_SAMPLE)
def test_bad_samples_are_named(metric, Y, error, message):
    with pytest.raises(error, match=message):
        metric(np.zeros((3, 2)), Y)


def test_scorers_negate_their_metric_on_seeded_samples():
    X = np.random.RandomState(0).normal(size=(200, 2))
    noise = FixedNoise().fit(X)
    samples = noise.sample(200, random_state=0)
    assert energy_scorer(noise, X) == -energy_distance(samples, X)
    assert sliced_wasserstein_scorer(noise, X) == -sliced_wasserstein_distance(
        samples, X
    )
    scorer = make_sample_scorer(
        sliced_wasserstein_distance, n_samples=50, random_state=3, p=1
    )
    assert scorer(noise, X) == -sliced_wasserstein_distance(
        noise.sample(50, random_state=3), X, p=1
    )
    assert repr(scorer) == (
        "make_sample_scorer(sliced_wasserstein_distance, n_samples=50, "
        "random_state=3, p=1)"
    )


def test_sample_scorer_ranks_generators_in_a_grid_search():
    X = np.random.RandomState(0).uniform(-np.sqrt(3), np.sqrt(3), size=(400, 2))
    scorer = make_sample_scorer(maximum_mean_discrepancy)
    search = GridSearchCV(
        FixedNoise(),
        {"law": ["gaussian", "uniform", "student_t"]},
        cv=2,
        scoring=scorer,
    ).fit(X)
    assert search.best_params_ == {"law": "uniform"}
    restored = pickle.loads(pickle.dumps(scorer))
    assert restored(search.best_estimator_, X) == scorer(search.best_estimator_, X)


def test_sample_scorer_names_a_metric_without_a_name():
    scorer = make_sample_scorer(functools.partial(energy_distance))
    assert repr(scorer).startswith("make_sample_scorer(functools.partial(")


def test_sample_scorer_needs_a_scalar_metric():
    X = np.zeros((5, 2))
    scorer = make_sample_scorer(column_wasserstein_distances)
    with pytest.raises(TypeError, match=r"column_wasserstein_distances returned an"):
        scorer(FixedNoise().fit(X), X)
    with pytest.raises(InvalidParameterError, match="n_samples"):
        make_sample_scorer(energy_distance, n_samples=0)
