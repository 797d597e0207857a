"""The size-aware defaults: decorrelation, the interpolant noise and the budget."""

import numpy as np
import pytest

from adaptnoise import FlowMatchingGenerator, QuantileNoise
from adaptnoise._bandwidth import auto_sigma, kde_bandwidth
from adaptnoise._columns import Decorrelation
from adaptnoise._training import auto_max_iter


def correlated(n, seed=0, rho=0.95):
    rng = np.random.default_rng(seed)
    cov = np.array([[1, rho, 0], [rho, 1, 0], [0, 0, 1]])
    return rng.multivariate_normal(np.zeros(3), cov, size=n)


def test_decorrelation_whitens_the_masked_columns_and_inverts():
    Z = correlated(2000)
    Z = (Z - Z.mean(0)) / Z.std(0)
    mask = np.array([True, True, False])
    decorrelation = Decorrelation(mask).fit(Z)
    W = decorrelation.transform(Z)
    # Ledoit-Wolf shrinkage leaves a trace of the correlation.
    np.testing.assert_allclose(np.corrcoef(W[:, :2].T)[0, 1], 0, atol=0.05)
    np.testing.assert_array_equal(W[:, 2], Z[:, 2])
    np.testing.assert_allclose(decorrelation.inverse_transform(W), Z, atol=1e-12)
    # The log-determinant is that of the linear map the rows went through.
    full = np.eye(3)
    full[:2, :2] = decorrelation.map_
    assert decorrelation.log_det() == pytest.approx(np.linalg.slogdet(full)[1])


def test_decorrelation_of_uncorrelated_columns_is_near_the_identity():
    Z = np.random.default_rng(0).standard_normal((5000, 4))
    decorrelation = Decorrelation(np.ones(4, dtype=bool)).fit(Z)
    np.testing.assert_allclose(decorrelation.map_, np.eye(4), atol=0.05)


def test_decorrelation_of_fewer_than_two_columns_is_the_identity():
    Z = correlated(100)
    decorrelation = Decorrelation(np.array([True, False, False])).fit(Z)
    np.testing.assert_array_equal(decorrelation.transform(Z), Z)
    assert decorrelation.log_det() == 0.0


def test_kde_bandwidth_is_near_the_optimal_one_for_a_gaussian():
    # The AMISE-optimal bandwidth of a standard normal is 1.06 n^(-1/5).
    X = np.random.default_rng(0).standard_normal((1000, 1))
    optimal = 1.06 * 1000 ** (-1 / 5)
    assert 0.6 * optimal < kde_bandwidth(X, seed=0) < 1.5 * optimal


def test_kde_bandwidth_shrinks_with_rows_and_ignores_repeats():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 2))
    small, large = kde_bandwidth(X[:200], seed=0), kde_bandwidth(X, seed=0)
    assert large < small
    doubled = np.concatenate([X[:200], X[:200]])
    assert kde_bandwidth(doubled, seed=0) == pytest.approx(small)


@pytest.mark.parametrize(("passes", "share"), [(80, 0), (100, 0), (150, 0.5), (900, 1)])
def test_auto_sigma_grows_with_the_passes_over_the_rows(passes, share):
    Z = np.random.default_rng(0).standard_normal((300, 2))
    half_bandwidth = kde_bandwidth(Z, seed=0) / 2
    assert auto_sigma(Z, 0, passes) == pytest.approx(share * half_bandwidth)


@pytest.mark.parametrize(
    ("n_samples", "expected"), [(100, 500), (2000, 1563), (20000, 7500)]
)
def test_auto_max_iter_runs_two_hundred_passes_within_bounds(n_samples, expected):
    assert auto_max_iter(n_samples, batch_size=256) == expected


def test_quantile_noise_bins_grow_with_the_cube_root_of_the_rows():
    rng = np.random.default_rng(0)
    assert QuantileNoise(random_state=0).fit(rng.random((100, 1))).n_bins_ == 8
    assert QuantileNoise(random_state=0).fit(rng.random((2197, 1))).n_bins_ == 13
    assert QuantileNoise(n_bins=5, random_state=0).fit(rng.random((50, 1))).n_bins_ == 5


def test_auto_settings_resolve_from_the_table():
    X = correlated(150)
    tiny = dict(hidden_layer_sizes=(8,), fourier_features=0, random_state=0)
    # 200 steps of a full batch are 200 passes: the whole half bandwidth.
    model = FlowMatchingGenerator(max_iter=200, **tiny).fit(X)
    assert model.n_iter_ == 200
    assert 0.05 < model.sigma_ < 1
    assert FlowMatchingGenerator(max_iter=100, **tiny).fit(X).sigma_ == 0.0
    assert FlowMatchingGenerator(sigma=0.3, max_iter=200, **tiny).fit(X).sigma_ == 0.3


def test_whitening_helps_the_likelihood_of_strongly_correlated_columns():
    X, X_new = correlated(200, seed=0, rho=0.999), correlated(300, seed=1, rho=0.999)
    scores = {
        whiten: FlowMatchingGenerator(whiten=whiten, max_iter=100, random_state=0)
        .fit(X)
        .score(X_new)
        for whiten in (False, True)
    }
    # The Gaussian with this covariance scores -1.15 per row.
    assert scores[True] > scores[False] + 0.5
    assert scores[True] > -1.5


def test_auto_steps_sample_in_five_and_score_in_twenty():
    X = correlated(200)
    params = dict(max_iter=30, hidden_layer_sizes=(16,), random_state=0)
    model = FlowMatchingGenerator(**params).fit(X)
    np.testing.assert_array_equal(
        model.sample(20, random_state=1), model.sample(20, random_state=1, n_steps=5)
    )
    assert not np.allclose(
        model.sample(20, random_state=1), model.sample(20, random_state=1, n_steps=10)
    )
    auto = model.score_samples(X[:20])
    model.set_params(n_steps=20)
    np.testing.assert_array_equal(auto, model.score_samples(X[:20]))
    model.set_params(n_steps=10)
    assert not np.allclose(auto, model.score_samples(X[:20]))
