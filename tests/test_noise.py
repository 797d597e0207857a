"""The noise package: the law protocol, resolve_noise, a user-written noise, and
QuantileNoise's W2 fit of the marginals, tails, inverses, densities, errors."""

import copy
import time
import warnings

import numpy as np
import ot
import pytest
import torch
from scipy import integrate, stats
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import validate_data

from adaptnoise import _base
from adaptnoise.datasets import make_checkerboard, make_funnel, make_gaussian_grid
from adaptnoise.noise import (
    NOISES,
    BaseNoise,
    FixedNoise,
    NoiseLaw,
    QuantileNoise,
    resolve_noise,
)
from adaptnoise.noise._lbfgs import RowwiseLBFGS
from adaptnoise.noise._pooled import PooledQuantiles

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
    beyond = (samples < noise.support_[:, 0]) | (samples > noise.support_[:, 1])
    # Only the thin tails, 2 / (4 n) of the mass per column, lie beyond.
    assert beyond.mean() < 10 * 2 * noise.tail_mass_
    assert np.all(np.abs(samples) < 4.05)


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
    lo, hi = noise.inverse_transform([[1e-12], [1 - 1e-12]])[:, 0]
    # Finely over the data, coarsely over the tails, which reach far.
    grid = np.unique(np.r_[np.linspace(-6, 12, 400001), np.linspace(lo, hi, 400001)])
    density = np.exp(noise.score_samples(grid[:, None]))
    assert abs(integrate.trapezoid(density, grid) - 1) < 1e-3


@pytest.fixture(scope="module")
def unit_uniform():
    """Bounded tails fitted to 300 uniform rows on [0, 1]."""
    x = np.random.default_rng(0).uniform(0, 1, (300, 1))
    return QuantileNoise(random_state=0).fit(x)


def test_a_bounded_column_scores_new_rows_beyond_its_range_finitely(unit_uniform):
    noise = unit_uniform
    assert list(noise.tails_) == ["bounded"]
    rows = np.array([[1 + 1e-3], [-1e-3], [10.0], [-10.0], [1e6]])
    scores = noise.score_samples(rows)
    assert np.isfinite(scores).all()
    # Just beyond the data the density is about the uniform's; beyond the
    # support the thin tail costs about log(1 / tail mass) at once, then a
    # nat per bulk's width: ten widths away a row is unlikely, but not
    # thousands of nats below the data.
    assert np.all(scores[:2] > -3)
    edge_drop = np.log(1 / noise.tail_mass_)
    assert np.all((scores[2:4] < -edge_drop) & (scores[2:4] > -edge_drop - 15))
    assert np.all(np.diff(scores[[0, 2, 4]]) < 0)


def test_thin_tails_carry_their_documented_mass(unit_uniform):
    noise = unit_uniform
    lo, hi = noise.support_[0]
    np.testing.assert_allclose(
        noise.transform([[lo], [hi]])[:, 0], [noise.tail_mass_, 1 - noise.tail_mass_]
    )
    # At the edge the density drops to the tail's, mass for mass.
    density = np.exp(noise.score_samples(np.array([[lo - 1e-9], [lo + 1e-9]])))
    mass = noise.tail_mass_
    ratio = density[0] / density[1]
    np.testing.assert_allclose(ratio, mass / (1 - 2 * mass), rtol=1e-4)
    for side, edge in ((-1, lo), (1, hi)):
        # The tail is as wide as the bulk in the spline's input, which its
        # slope at the edge may stretch: a geometric grid reaches far.
        grid = edge + side * np.r_[0, np.geomspace(1e-9, 1e6, 1000000)]
        mass = abs(
            integrate.trapezoid(np.exp(noise.score_samples(grid[:, None])), grid)
        )
        assert mass == pytest.approx(noise.tail_mass_, rel=1e-3)


def test_bounded_cdf_and_quantile_are_inverse_and_monotone_through_the_tails(
    unit_uniform,
):
    noise = unit_uniform
    # A dozen tail scales beyond each edge, where levels still resolve in float64.
    grid = np.linspace(-0.01, 1.01, 20001)[:, None]
    levels = noise.transform(grid)
    assert np.all(np.diff(levels[:, 0]) > 0) and 0 < levels.min() < levels.max() < 1
    np.testing.assert_allclose(noise.inverse_transform(levels), grid, atol=1e-9)
    u = np.linspace(1e-9, 1 - 1e-9, 20001)[:, None]
    np.testing.assert_allclose(
        noise.transform(noise.inverse_transform(u)), u, atol=1e-9
    )


def test_score_is_the_mean_of_score_samples(fitted):
    noise, X, _ = fitted["checkerboard"]
    assert noise.score(X[:100]) == pytest.approx(noise.score_samples(X[:100]).mean())
    outside = np.array([[4.5, 0.0], [0.0, -5.0]])
    assert np.isfinite(noise.score_samples(outside)).all()
    (_, hi), (lo, _) = noise.support_
    levels = noise.transform([[hi + 1e-4, 0.0], [0.0, lo - 1e-4]])
    assert 1 - noise.tail_mass_ < levels[0, 0] < 1
    assert 0 < levels[1, 1] < noise.tail_mass_


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


class LaplaceLaw(NoiseLaw):
    """A product of Laplace laws, written against the protocol alone."""

    def __init__(self, loc, scale):
        super().__init__()
        self.register_buffer("loc", torch.as_tensor(loc))
        self.register_buffer("scale", torch.as_tensor(scale))

    @property
    def n_features(self):
        return self.loc.shape[0]

    def sample(self, n_samples, generator=None):
        like = dict(dtype=self.loc.dtype, device=self.loc.device)
        u = torch.rand(2, n_samples, self.n_features, generator=generator, **like)
        sign = torch.where(u[0] < 0.5, -1.0, 1.0).to(self.loc.dtype)
        return self.loc - sign * self.scale * torch.log1p(-u[1])

    def log_prob(self, y):
        return -(y - self.loc).abs() / self.scale - torch.log(2 * self.scale)


class LaplaceNoise(BaseNoise):
    """A user's noise: the maximum-likelihood Laplace law of each column."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X)
        loc = np.median(X, axis=0)
        self.device_ = torch.device("cpu")
        self.module_ = LaplaceLaw(loc, np.abs(X - loc).mean(axis=0))
        return self


def test_a_user_noise_gets_the_estimator_surface_from_its_law():
    X = np.random.RandomState(0).laplace([1.0, -2.0], [0.5, 3.0], size=(4000, 2))
    noise = LaplaceNoise().fit(X)
    np.testing.assert_allclose(
        noise.score_samples(X[:5]),
        stats.laplace.logpdf(X[:5], noise.module_.loc, noise.module_.scale).sum(1),
        rtol=1e-12,
    )
    Y = noise.sample(4000, random_state=0)
    assert Y.shape == (4000, 2) and Y.dtype == np.float64
    for j in range(2):
        assert stats.ks_2samp(Y[:, j], X[:, j]).pvalue > 1e-3
    np.testing.assert_array_equal(Y, noise.sample(4000, random_state=0))
    assert noise.score(X) == pytest.approx(noise.score_samples(X).mean())
    resolved = resolve_noise(noise, random_state=7)
    assert type(resolved) is LaplaceNoise and resolved is not noise
    assert resolved.random_state == 7 and noise.random_state is None
    resolved._validate_params()


def test_sample_and_score_ask_the_law_for_one_chunk_at_a_time(monkeypatch):
    monkeypatch.setattr(_base, "CHUNK_SIZE", 100)
    noise = LaplaceNoise().fit(np.zeros((3, 2)) + [[0.0], [1.0], [2.0]])
    asked = []
    sample, log_prob = noise.module_.sample, noise.module_.log_prob
    noise.module_.sample = lambda n, g: asked.append(n) or sample(n, g)
    noise.module_.log_prob = lambda y: asked.append(len(y)) or log_prob(y)
    assert noise.sample(250, random_state=0).shape == (250, 2)
    assert noise.score_samples(np.zeros((201, 2))).shape == (201,)
    assert asked == [100, 100, 50, 100, 100, 1]


@pytest.mark.parametrize("noise", [QuantileNoise(max_iter=5), FixedNoise("student_t")])
@quiet_convergence
def test_built_in_laws_follow_the_protocol(noise):
    noise = noise.fit(make_funnel(300, random_state=0))
    law = noise.module_
    assert isinstance(law, NoiseLaw) and law.n_features == 2
    assert noise.device_ == torch.device("cpu")
    generator = torch.Generator().manual_seed(0)
    assert law.sample(3, generator).dtype == torch.float64
    single = copy.deepcopy(law).float()
    y = single.sample(3, generator)
    assert y.dtype == torch.float32 and y.shape == (3, 2)
    assert single.log_prob(y).dtype == torch.float32


def test_resolve_noise_builds_each_named_noise():
    assert NOISES == {"quantile", "gaussian", "student_t", "uniform"}
    quantile = resolve_noise("quantile", random_state=3)
    assert type(quantile) is QuantileNoise and quantile.random_state == 3
    for law in NOISES - {"quantile"}:
        fixed = resolve_noise(law, random_state=3)
        assert type(fixed) is FixedNoise and fixed.law == law
    with pytest.raises(ValueError, match=r"Unknown noise 'laplace'; use one of \["):
        resolve_noise("laplace")


def test_resolve_noise_clones_and_seeds_only_unseeded_estimators():
    mine = QuantileNoise(n_bins=8).fit(make_funnel(300, random_state=0))
    resolved = resolve_noise(mine, random_state=5)
    assert resolved is not mine and not hasattr(resolved, "module_")
    assert resolved.n_bins == 8 and resolved.random_state == 5
    assert mine.random_state is None
    assert resolve_noise(QuantileNoise(random_state=1), 5).random_state == 1
    assert resolve_noise(FixedNoise(), 5).get_params() == FixedNoise().get_params()


class Duck:
    def fit(self, X, y=None):
        return self

    def sample(self, n_samples=1, random_state=None):
        return np.zeros((n_samples, 1))


def test_resolve_noise_names_what_a_non_noise_lacks():
    with pytest.raises(
        TypeError, match=r"noise=<.*Duck.*> is not a BaseNoise; it "
    ) as e:
        resolve_noise(Duck())
    lacks = str(e.value).split("it lacks ")[1].split(".")[0].split(", ")
    assert {"score_samples", "get_params", "module_", "device_"} <= set(lacks)
    assert not {"fit", "sample"} & set(lacks)
    with pytest.raises(TypeError, match="it lacks fit, "):
        resolve_noise(3)
    with pytest.raises(TypeError, match=r"QuantileNoise is a class; pass an instance"):
        resolve_noise(QuantileNoise)


@pytest.mark.parametrize("load", [load_wine, load_breast_cancer])
def test_ordinary_tables_converge_at_the_defaults(load):
    X = load().data
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        noise = QuantileNoise(device="cpu").fit(X)
    assert noise.n_iter_ < noise.max_iter
    assert np.all(noise.w2_ < 0.05 * X.std(axis=0))


def test_each_column_is_fitted_as_if_alone():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=3000), rng.standard_cauchy(3000)])
    # At 32 bins; at 14 the Cauchy column's fit still moves by 3e-4 of its W2
    # with its neighbour (an open defect of the row-wise L-BFGS).
    both = QuantileNoise(n_bins=32, device="cpu").fit(X)
    alone = [QuantileNoise(n_bins=32, device="cpu").fit(X[:, [j]]) for j in range(2)]
    np.testing.assert_allclose(both.w2_, [a.w2_[0] for a in alone], rtol=1e-6)
    assert both.n_iter_ == max(a.n_iter_ for a in alone)
    assert alone[0].n_iter_ != alone[1].n_iter_


def test_rowwise_lbfgs_solves_each_row_and_stops_it_on_its_own():
    # Rows of growing condition number: each its own quadratic problem.
    scales = torch.tensor([[1.0, 1.0], [1.0, 30.0], [1.0, 1000.0]], dtype=torch.float64)
    evaluated = torch.zeros(3, dtype=torch.long)

    def losses(theta, rows):
        evaluated[rows] += 1
        loss = 0.5 * (scales[rows] * (theta - 1).square()).sum(1)
        return loss, loss

    theta = torch.zeros(3, 2, dtype=torch.float64)
    optimizer = RowwiseLBFGS(
        losses, theta, torch.ones(3, dtype=torch.bool), tol=1e-12, n_iter_no_change=3
    )
    while optimizer.n_active:
        optimizer.step()
    torch.testing.assert_close(theta, torch.ones(3, 2, dtype=torch.float64))
    assert evaluated[0] < evaluated[2]
    assert optimizer.loss == pytest.approx(0, abs=1e-10)


def _gaussian(levels):
    """The standard normal quantile function, a little too wide, and its log-slope."""
    z = torch.special.ndtri(levels)
    return 1.01 * z, np.log(1.01 * np.sqrt(2 * np.pi)) + z.square() / 2


def _staircase(levels, edges, width=2e-5):
    """A smooth staircase rising by one at each of ``edges``, and its log-slope."""
    z = (levels[:, None] - torch.as_tensor(edges, dtype=levels.dtype)) / width
    slope = (torch.sigmoid(z) * torch.sigmoid(-z)).sum(1) / width
    return torch.sigmoid(z).sum(1), slope.log()


@pytest.mark.parametrize("data", ["gaussian", "tied"])
def test_pooled_w2_matches_the_w2_over_every_row(data):
    n, rng = 20000, np.random.RandomState(0)
    if data == "gaussian":
        x, quantile = np.sort(rng.normal(size=n)), _gaussian
    else:
        # Tied values: a fit rises in steps between them, which runs of many
        # rows around a step would blur.
        x = np.sort(rng.choice(3, size=n, p=[0.9, 0.07, 0.03])).astype(float)
        edges = np.searchsorted(x, [0.5, 1.5]) / n

        def quantile(levels):
            return _staircase(levels, edges)

    pooled = PooledQuantiles(x[:, None], 40, "cpu")
    assert len(pooled.levels) < n / 10
    q, log_slope = quantile(pooled.levels[:, 0])
    approx = pooled.squared_w2(q[:, None], log_slope[:, None])
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    exact = (quantile(u)[0] - torch.as_tensor(x)).square().mean()
    assert approx.item() == pytest.approx(exact.item(), rel=1e-2)


def test_pooled_w2_is_exact_for_a_linear_quantile_function():
    x = np.sort(np.random.RandomState(0).exponential(size=5000))
    pooled = PooledQuantiles(x[:, None], 40, "cpu")
    u = (torch.arange(5000, dtype=torch.float64) + 0.5) / 5000
    exact = (3 * u - 1 - torch.as_tensor(x)).square().mean()
    q = 3 * pooled.levels - 1
    approx = pooled.squared_w2(q, torch.full_like(q, np.log(3)))
    assert approx.item() == pytest.approx(exact.item(), rel=1e-12)


@pytest.mark.parametrize("rows", [[2.0, 3.0], [2.0, 3.0, 4.0]])
def test_few_rows_give_a_noise_on_the_data_scale(rows):
    # Two or three rows once gave samples spanning 1e5 to 4e8 data ranges:
    # the entropy term inflated the end slopes, which no row held in place.
    X = np.array(rows)[:, None]
    noise = QuantileNoise(device="cpu").fit(X)
    samples = noise.sample(100000, random_state=0)
    assert np.ptp(samples) < 20 * np.ptp(X)
    assert abs(np.median(samples) - np.median(X)) < 0.1 * np.ptp(X)


def _correlated(n=400):
    return np.random.RandomState(0).multivariate_normal(
        [1.0, -2.0], [[1.0, 0.8], [0.8, 1.0]], size=n
    )


@pytest.mark.parametrize("objective", ["marginal", "joint"])
def test_fit_is_scale_free(objective):
    # A power of two rescales the data exactly, so the fit must follow exactly.
    X = _correlated()
    params = dict(objective=objective, max_iter=20, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        unit = QuantileNoise(**params).fit(X)
        for scale in (2.0**-1000, 2.0**-20, 2.0**1000):
            scaled = QuantileNoise(**params).fit(X * scale)
            np.testing.assert_allclose(
                scaled.sample(50, random_state=1) / scale,
                unit.sample(50, random_state=1),
                rtol=1e-12,
                atol=1e-12,
            )
            np.testing.assert_allclose(scaled.w2_ / scale, unit.w2_, rtol=1e-12)


@pytest.mark.parametrize("std", [1e-3, 1e-6])
def test_joint_objective_centres_the_noise_at_any_scale(std):
    # Adam's steps were in data units: at std 1e-3 the median was 2 std off.
    X = 5 + std * _correlated(1000)
    noise = QuantileNoise(objective="joint", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        samples = noise.set_params(device="cpu").fit(X).sample(20000, random_state=1)
    offset = np.abs(np.median(samples, axis=0) - np.median(X, axis=0))
    assert np.all(offset < 0.1 * X.std(axis=0))


@pytest.fixture(scope="module")
def heavy_unit_fit():
    X = np.random.RandomState(0).standard_t(4, size=(300, 1)) + 3
    return X, QuantileNoise(device="cpu").fit(X)


@pytest.mark.parametrize("scale", [1e-300, 1e-100, 1e-40, 1e100, 1e300])
def test_any_finite_scale_fits_like_unit_scale(heavy_unit_fit, scale):
    # std 1e-40 raised a divergence blaming "very large values", and below
    # about 1e-165 samples came out 1e40 times the data. Rescaling by other
    # than a power of two rounds the data, so fits agree to their tolerance.
    X, unit = heavy_unit_fit
    noise = QuantileNoise(device="cpu").fit(X * scale)
    np.testing.assert_allclose(
        noise.sample(100, random_state=0) / scale,
        unit.sample(100, random_state=0),
        atol=0.02 * X.std(),
    )
    np.testing.assert_allclose(noise.w2_ / scale, unit.w2_, rtol=0.05)
    rows = X[:20] * scale
    np.testing.assert_allclose(
        noise.inverse_transform(noise.transform(rows)), rows, rtol=1e-9
    )
    np.testing.assert_allclose(
        noise.score_samples(rows), unit.score_samples(X[:20]) - np.log(scale), atol=0.05
    )


@pytest.mark.parametrize("df", [1e13, 1e20, 1e300])
def test_student_t_with_a_huge_df_is_the_gaussian(df):
    # df=1e20 gave draws of exactly 0 and log-densities 45 nats off.
    noise = FixedNoise(law="student_t", df=df, device="cpu").fit(np.zeros((2, 1)))
    samples = noise.sample(20000, random_state=0)[:, 0]
    assert stats.kstest(samples, stats.norm.cdf).pvalue > 1e-3
    y = np.linspace(-5, 5, 11)[:, None]
    np.testing.assert_allclose(noise.score_samples(y), stats.norm.logpdf(y[:, 0]))


@pytest.mark.parametrize("df", [1.0, 3.0, 1e6])
def test_student_t_draws_and_scores_exactly_in_float64_and_finitely_in_float32(df):
    noise = FixedNoise(law="student_t", df=df, device="cpu").fit(np.zeros((2, 1)))
    scale = np.sqrt(df / (df - 2)) if df > 2 else 1.0
    samples = noise.sample(20000, random_state=0)[:, 0]
    assert stats.kstest(samples * scale, stats.t(df).cdf).pvalue > 1e-3
    y = np.linspace(-5, 5, 11)[:, None]
    expected = stats.t(df).logpdf(y[:, 0] * scale) + np.log(scale)
    np.testing.assert_allclose(noise.score_samples(y), expected, rtol=1e-9)
    law = copy.deepcopy(noise.module_).float()
    draws = law.sample(10**6, torch.Generator().manual_seed(0))
    assert torch.isfinite(draws).all() and torch.isfinite(law.log_prob(draws)).all()


@pytest.mark.parametrize("df", [1e-300, 0.05, 0.99])
def test_student_t_df_below_one_is_refused_by_name(df):
    # df=1e-300 drew infinities; df=0.05 reached SciPy inside the generator.
    with pytest.raises(InvalidParameterError, match=r"'df' parameter of FixedNoise"):
        FixedNoise(law="student_t", df=df).fit(np.zeros((2, 1)))


def test_alpha_outside_the_unit_interval_is_refused_by_name():
    # alpha=1e300 diverged with an error that blamed the data.
    with pytest.raises(InvalidParameterError, match=r"'alpha' parameter .*1\.0\]"):
        QuantileNoise(alpha=1e300).fit(np.arange(10.0)[:, None])


def test_interrupting_the_marginal_phase_skips_the_joint_phase(monkeypatch):
    # Without one session around both phases the joint phase ran in full.
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(RowwiseLBFGS, "step", interrupted)
    noise = QuantileNoise(objective="joint", max_iter=10**5, tol=0, random_state=0)
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="interrupted by user"):
        noise.fit(make_funnel(300, random_state=0))
    assert time.perf_counter() - start < 2
    assert noise.n_iter_ == 0 and noise.loss_curve_ == []
    assert np.isfinite(noise.sample(100, random_state=0)).all()


@quiet_convergence
def test_masked_arrays_are_refused_by_name():
    # validate_data drops the mask, so the hidden values were fitted silently.
    X = np.ma.masked_array(np.arange(8.0).reshape(4, 2), mask=[[0, 1]] * 4)
    message = "QuantileNoise does not take masked arrays; pass the unmasked rows"
    with pytest.raises(TypeError, match=message):
        QuantileNoise().fit(X)
    with pytest.raises(TypeError, match="FixedNoise does not take masked arrays"):
        FixedNoise().fit(X)
    noise = QuantileNoise(max_iter=2).fit(X.data)
    for method in (noise.transform, noise.inverse_transform, noise.score_samples):
        with pytest.raises(TypeError, match="X.astype\\(float\\).filled\\(np.nan\\)"):
            method(X)


def zero_inflated(n, rng):
    """90% exact zeros, the rest exponential."""
    return np.where(rng.random(n) < 0.9, 0.0, rng.exponential(size=n))


@pytest.fixture(scope="module")
def zero_inflated_fit():
    rng = np.random.default_rng(0)
    x, x_test = zero_inflated(2000, rng), zero_inflated(20000, rng)
    return QuantileNoise(random_state=0).fit(x[:, None]), x, x_test


def quantile_w2(a, b):
    """W2 between two samples through their quantiles at common midpoints."""
    levels = (np.arange(min(len(a), len(b))) + 0.5) / min(len(a), len(b))
    return np.sqrt(np.mean((np.quantile(a, levels) - np.quantile(b, levels)) ** 2))


def test_a_point_mass_is_sampled_at_its_share_and_the_rest_generalises(
    zero_inflated_fit,
):
    noise, x, x_test = zero_inflated_fit
    np.testing.assert_array_equal(noise.atoms_[0], [0.0])
    share = (x == 0).mean()
    assert noise.atom_masses_[0][0] == share
    samples = noise.sample(100000, random_state=1)[:, 0]
    standard_error = np.sqrt(share * (1 - share) / len(samples))
    assert abs((samples == 0).mean() - share) < 3 * standard_error
    ours = quantile_w2(samples[samples != 0], x_test[x_test != 0])
    own = quantile_w2(x[x != 0], x_test[x_test != 0])
    assert ours <= 1.3 * own


def test_an_atom_holds_an_interval_of_levels_and_scores_its_mass(zero_inflated_fit):
    noise, x, _ = zero_inflated_fit
    mass = noise.atom_masses_[0][0]
    middle = noise.transform([[0.0]])[0, 0]
    lo, hi = middle - mass / 2, middle + mass / 2
    levels = np.linspace(lo + 1e-9, hi - 1e-9, 101)[:, None]
    np.testing.assert_array_equal(noise.inverse_transform(levels), 0.0)
    # Levels just outside the interval belong to the continuous part.
    assert np.all(noise.inverse_transform([[lo - 1e-6], [hi + 1e-6]]) != 0)
    values = np.linspace(0.01, 5, 200)[:, None]
    np.testing.assert_allclose(
        noise.inverse_transform(noise.transform(values)), values, atol=1e-9
    )
    assert noise.score_samples([[0.0]])[0] == pytest.approx(np.log(mass))
    grid = np.linspace(-30, 60, 400001)
    density = np.exp(noise.score_samples(grid[grid != 0][:, None]))
    continuous = integrate.trapezoid(density, grid[grid != 0])
    assert continuous == pytest.approx(1 - mass, abs=1e-3)


@quiet_convergence
def test_atoms_stay_off_continuous_and_rounded_data_and_can_be_turned_off():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(3000, 1))
    rounded = np.round(rng.normal(10, 2, size=(3000, 1)), 1)
    for X in (normal, rounded):
        assert QuantileNoise(max_iter=5).fit(X).atoms_[0].size == 0
    capped = np.minimum(normal, 1.5)
    np.testing.assert_array_equal(
        QuantileNoise(max_iter=5).fit(capped).atoms_[0], [1.5]
    )
    x = zero_inflated(1000, rng)[:, None]
    for atoms in (None, False):
        noise = QuantileNoise(atoms=atoms, max_iter=5).fit(x)
        assert noise.atoms_[0].size == 0 and not noise.module_.has_atoms
