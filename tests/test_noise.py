"""QuantileNoise: W2 fit of the marginals, tails, inverses, densities, errors."""

import warnings

import numpy as np
import ot
import pytest
import torch
from scipy import integrate, stats
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from adaptnoise import QuantileNoise
from adaptnoise.datasets import make_checkerboard, make_funnel, make_gaussian_grid

quiet_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

MAKERS = {
    "checkerboard": make_checkerboard,
    "gaussian_grid": make_gaussian_grid,
    "funnel": make_funnel,
}


def midpoint_w2(quantiles, values):
    """W2 between a quantile function at the midpoints and an empirical sample."""
    return np.sqrt(np.mean((quantiles - np.sort(values)) ** 2))


@pytest.fixture(scope="module")
def fitted():
    """One fit per dataset on 20000 rows, with a 20000-row held-out set."""
    fits = {}
    for name, make in MAKERS.items():
        X, X_test = make(20000, random_state=0), make(20000, random_state=1)
        fits[name] = (QuantileNoise(random_state=0).fit(X), X, X_test)
    return fits


def test_funnel_quantiles_generalise(fitted):
    noise, X, X_test = fitted["funnel"]
    n = X.shape[0]
    levels = (np.arange(n) + 0.5) / n
    learned = noise.inverse_transform(np.column_stack([levels, levels]))
    for j in range(2):
        own = midpoint_w2(np.sort(X[:, j]), X_test[:, j])
        assert midpoint_w2(learned[:, j], X_test[:, j]) <= 1.3 * own


def test_funnel_heavy_tail_beats_moment_matched_gaussian(fitted):
    noise, X, X_test = fitted["funnel"]
    samples = noise.sample(20000, random_state=2)[:, 1]
    rng = np.random.RandomState(3)
    gaussian = rng.normal(X[:, 1].mean(), X[:, 1].std(), size=20000)
    ours = stats.wasserstein_distance(samples, X_test[:, 1])
    theirs = stats.wasserstein_distance(gaussian, X_test[:, 1])
    assert ours <= 0.1 * theirs


def test_checkerboard_support_is_learned(fitted):
    noise, _, _ = fitted["checkerboard"]
    assert list(noise.tails_) == ["bounded", "bounded"]
    np.testing.assert_allclose(noise.support_, [[-4, 4], [-4, 4]], atol=0.05)
    samples = noise.sample(20000, random_state=0)
    assert np.all(samples >= noise.support_[:, 0])
    assert np.all(samples <= noise.support_[:, 1])


@pytest.mark.parametrize("name", list(MAKERS))
def test_inverse_transform_undoes_transform(fitted, name):
    noise, X, X_test = fitted[name]
    for rows in (X, X_test, _extremes(X_test)):
        np.testing.assert_allclose(
            noise.inverse_transform(noise.transform(rows)), rows, rtol=1e-6, atol=1e-9
        )


def _extremes(X):
    return np.concatenate([X[np.argsort(X[:, j])[[0, 1, -2, -1]]] for j in range(2)])


def test_training_reduces_w2_and_records_history(fitted):
    noise, X, _ = fitted["funnel"]
    assert noise.n_iter_ == len(noise.loss_curve_) >= 1
    assert noise.loss_curve_[-1] <= noise.loss_curve_[0]
    n = X.shape[0]
    levels = np.repeat(((np.arange(n) + 0.5) / n)[:, None], 2, axis=1)
    learned = noise.inverse_transform(levels)
    expected = [midpoint_w2(learned[:, j], X[:, j]) for j in range(2)]
    np.testing.assert_allclose(noise.w2_, expected, rtol=1e-8)


@quiet_convergence
def test_auto_tails_rule():
    rng = np.random.RandomState(0)
    X = np.column_stack(
        [
            rng.uniform(-1, 3, 5000),
            rng.standard_cauchy(5000),
            rng.normal(size=5000),
            make_gaussian_grid(5000, random_state=0)[:, 0],
        ]
    )
    noise = QuantileNoise(max_iter=5).fit(X)
    assert list(noise.tails_) == ["bounded", "logit", "logit", "logit"]
    assert list(QuantileNoise(max_iter=5).fit(X[:100]).tails_) == ["logit"] * 4


@pytest.mark.parametrize("tails", ["logit", "bounded"])
def test_density_integrates_to_one(tails):
    rng = np.random.RandomState(0)
    x = np.concatenate([rng.normal(-2, 0.5, 3000), rng.exponential(1.0, 2000)])
    noise = QuantileNoise(tails=tails, max_iter=200).fit(x[:, None])
    lo, hi = noise.support_[0]
    if tails == "logit":
        lo, hi = noise.inverse_transform([[1e-12], [1 - 1e-12]])[:, 0]
    grid = np.linspace(lo, hi, 400001)
    density = np.exp(noise.score_samples(grid[:, None]))
    assert abs(integrate.trapezoid(density, grid) - 1) < 1e-3


def test_score_is_mean_and_outside_support_is_minus_inf(fitted):
    noise, X, _ = fitted["checkerboard"]
    assert noise.score(X[:100]) == pytest.approx(noise.score_samples(X[:100]).mean())
    outside = np.array([[4.5, 0.0], [0.0, -5.0]])
    assert np.all(noise.score_samples(outside) == -np.inf)
    levels = noise.transform(outside)
    assert levels[0, 0] == 1 and levels[1, 1] == 0


def test_joint_objective_lowers_transport_cost():
    rng = np.random.RandomState(0)
    X = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=3000)
    costs = {}
    for objective in ("marginal", "joint"):
        noise = QuantileNoise(objective=objective, max_iter=300, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            noise.fit(X)
        Y = noise.sample(1500, random_state=1)
        costs[objective] = ot.emd2([], [], ot.dist(X[:1500], Y))
    assert costs["joint"] < 0.97 * costs["marginal"]


@quiet_convergence
def test_float32_is_preserved_and_fit_is_deterministic():
    X = make_funnel(500, random_state=0).astype(np.float32)
    a = QuantileNoise(max_iter=30).fit(X)
    b = QuantileNoise(max_iter=30).fit(X)
    assert a.transform(X).dtype == np.float32
    assert a.inverse_transform(a.transform(X)).dtype == np.float32
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(
        a.sample(5, random_state=0), b.sample(5, random_state=0)
    )
    assert not np.array_equal(a.sample(5), a.sample(5))


def test_torch_interface_draws_and_scores_on_device(fitted):
    noise, X, _ = fitted["funnel"]
    module = noise.module_
    generator = torch.Generator().manual_seed(0)
    y = module.sample(7, generator)
    assert y.shape == (7, 2) and y.device == noise.device_
    np.testing.assert_allclose(
        module.log_prob(y).sum(1).numpy(), noise.score_samples(y.numpy())
    )
    module.requires_grad_(True)
    try:
        module.log_prob(torch.as_tensor(X[:10])).sum().backward()
        assert torch.isfinite(module.heights.grad).all()
        assert module.heights.grad.abs().sum() > 0
    finally:
        module.zero_grad(set_to_none=True)
        module.requires_grad_(False)


@quiet_convergence
def test_verbose_reports_progress(capsys):
    QuantileNoise(max_iter=40, tol=0, verbose=1).fit(make_funnel(300, random_state=0))
    out = capsys.readouterr().out
    assert "iteration 40/40" in out and "loss =" in out and "it/s" in out


def test_max_iter_without_convergence_warns():
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        QuantileNoise(max_iter=3, tol=0).fit(make_funnel(300, random_state=0))


@pytest.mark.parametrize(
    ("X", "message"),
    [
        ([[0.0, np.nan], [1.0, 2.0]], "NaN"),
        ([[0.0, np.inf], [1.0, 2.0]], "infinity"),
        ([0.0, 1.0, 2.0], "Expected 2D array"),
        ([[1.0, 2.0]], "minimum of 2 is required"),
        ([["a", "b"], ["c", "d"]], "could not convert|dtype"),
    ],
)
def test_bad_training_data_is_named(X, message):
    with pytest.raises(ValueError, match=message):
        QuantileNoise().fit(X)


def test_bad_calls_after_fit_are_named(fitted):
    noise, _, _ = fitted["funnel"]
    with pytest.raises(
        ValueError, match="3 features, but QuantileNoise is expecting 2"
    ):
        noise.transform(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"levels in \[0, 1\]"):
        noise.inverse_transform([[0.5, 1.5]])
    with pytest.raises(ValueError, match="at least 1"):
        noise.sample(0)
    with pytest.raises(TypeError, match="must be an int"):
        noise.sample(2.5)
    with pytest.raises(NotFittedError):
        QuantileNoise().sample(3)


@quiet_convergence
def test_constant_and_tiny_scale_columns_give_finite_output():
    rng = np.random.RandomState(0)
    X = np.column_stack(
        [np.full(300, 7.0), rng.normal(0, 1e-12, 300), rng.normal(0, 1e12, 300)]
    )
    noise = QuantileNoise(max_iter=50).fit(X)
    for out in (noise.sample(100, random_state=0), noise.transform(X)):
        assert np.isfinite(out).all()
    assert np.allclose(noise.sample(10, random_state=0)[:, 0], 7.0)
