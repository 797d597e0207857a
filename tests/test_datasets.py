"""Tests for adaptnoise.datasets."""

import doctest

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import integrate, stats
from sklearn.utils._param_validation import InvalidParameterError

from adaptnoise import datasets
from adaptnoise.datasets import (
    GAUSSIAN_GRID_MEANS,
    GAUSSIAN_GRID_STD,
    GAUSSIAN_GRID_WEIGHTS,
    log_density,
    make_checkerboard,
    make_funnel,
    make_gaussian_grid,
)

MAKERS = [make_checkerboard, make_gaussian_grid, make_funnel]
NAMES = {
    make_checkerboard: "checkerboard",
    make_gaussian_grid: "gaussian_grid",
    make_funnel: "funnel",
}
N_LARGE = 20_000


def _square_indices(X):
    return np.minimum(np.floor((X + 4.0) / 2.0), 3).astype(int)


def _nearest_mean(X):
    sq_dist = ((X[:, np.newaxis, :] - GAUSSIAN_GRID_MEANS) ** 2).sum(axis=2)
    return sq_dist.argmin(axis=1)


# ---------------------------------------------------------------- generic


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("n_samples", [1, 7, 1000])
def test_shape_and_dtype(make, n_samples):
    X = make(n_samples, random_state=0)
    assert isinstance(X, np.ndarray)
    assert X.shape == (n_samples, 2)
    assert X.dtype == np.float64
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("make", MAKERS)
def test_default_n_samples(make):
    assert make(random_state=0).shape == (1000, 2)


@pytest.mark.parametrize("make", MAKERS)
def test_seeded_reproducibility(make):
    assert_array_equal(make(200, random_state=3), make(200, random_state=3))
    assert not np.array_equal(make(200, random_state=3), make(200, random_state=4))


@pytest.mark.parametrize("make", MAKERS)
def test_random_state_instance_is_used_and_advanced(make):
    rng = np.random.RandomState(11)
    first, second = make(50, random_state=rng), make(50, random_state=rng)
    assert not np.array_equal(first, second)
    assert_array_equal(first, make(50, random_state=np.random.RandomState(11)))


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("as_instance", [False, True])
def test_global_rng_untouched(make, as_instance):
    random_state = np.random.RandomState(0) if as_instance else 0
    np.random.seed(12345)
    before = np.random.get_state()
    X = make(100, random_state=random_state)
    after = np.random.get_state()
    assert before[0] == after[0]
    assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]
    # Re-seeding the global RNG differently must not change seeded output.
    np.random.seed(999)
    assert_array_equal(X, make(100, random_state=0))


@pytest.mark.parametrize("make", MAKERS)
def test_samples_have_finite_log_density(make):
    X = make(2000, random_state=0)
    assert np.all(np.isfinite(log_density(NAMES[make], X)))


# ------------------------------------------------------------ checkerboard


def test_checkerboard_points_on_occupied_squares():
    X = make_checkerboard(N_LARGE, random_state=0)
    assert np.all(np.abs(X) <= 4.0)
    squares = _square_indices(X)
    assert np.all(squares.sum(axis=1) % 2 == 0)


@pytest.mark.parametrize("column", [0, 1])
def test_checkerboard_marginals_uniform(column):
    X = make_checkerboard(N_LARGE, random_state=1)
    result = stats.kstest(X[:, column], stats.uniform(loc=-4.0, scale=8.0).cdf)
    assert result.pvalue > 1e-3


def test_checkerboard_squares_equally_likely():
    X = make_checkerboard(N_LARGE, random_state=2)
    squares = _square_indices(X)
    codes = 4 * squares[:, 0] + squares[:, 1]
    occupied, counts = np.unique(codes, return_counts=True)
    expected = [4 * i + j for i in range(4) for j in range(4) if (i + j) % 2 == 0]
    assert_array_equal(occupied, expected)
    assert_allclose(counts / N_LARGE, 1 / 8, atol=4 * np.sqrt(1 / 8 * 7 / 8 / N_LARGE))
    assert stats.chisquare(counts).pvalue > 1e-3


def test_checkerboard_log_density_values_and_boundaries():
    inside = np.log(1 / 32)
    points = [
        [-3.0, -3.0],  # square (0, 0): occupied
        [-1.0, -3.0],  # square (1, 0): empty
        [-4.0, -4.0],  # closed lower-left corner of the board
        [4.0, 4.0],  # closed outer corner, square (3, 3)
        [4.0, 0.5],  # outer edge of square (3, 2): empty
        [4.0, -0.5],  # outer edge of square (3, 1): occupied
        [-2.0, -2.0],  # lower-left corner of square (1, 1): occupied
        [-2.0, -2.5],  # lower edge x = -2 belongs to square (1, 0): empty
        [4.0 + 1e-12, 3.0],  # just off the board
        [-5.0, -3.0],
    ]
    expected = [inside, -np.inf, inside, inside, -np.inf, inside, inside, -np.inf]
    expected += [-np.inf, -np.inf]
    assert_array_equal(log_density("checkerboard", points), expected)


def test_checkerboard_log_density_integrates_to_one():
    # Cell midpoints of a grid aligned with the squares never hit an edge, so
    # the Riemann sum is exact up to rounding.
    h = 0.01
    centres = np.arange(-5.0 + h / 2, 5.0, h)
    xx, yy = np.meshgrid(centres, centres)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    total = np.exp(log_density("checkerboard", points)).sum() * h**2
    assert total == pytest.approx(1.0, abs=1e-10)


# ----------------------------------------------------------- gaussian grid


def test_gaussian_grid_constants():
    assert GAUSSIAN_GRID_MEANS.shape == (9, 2)
    assert_array_equal(GAUSSIAN_GRID_MEANS[:3], [[-3, -3], [-3, 0], [-3, 3]])
    assert_array_equal(GAUSSIAN_GRID_MEANS[4], [0, 0])
    assert GAUSSIAN_GRID_STD == 0.25
    assert sum(GAUSSIAN_GRID_WEIGHTS) == pytest.approx(1.0)
    assert min(GAUSSIAN_GRID_WEIGHTS) == 0.01
    with pytest.raises(ValueError):
        GAUSSIAN_GRID_MEANS[0, 0] = 1.0


def test_gaussian_grid_mode_frequencies_match_weights():
    X = make_gaussian_grid(N_LARGE, random_state=0)
    freqs = np.bincount(_nearest_mean(X), minlength=9) / N_LARGE
    total_variation = 0.5 * np.abs(freqs - GAUSSIAN_GRID_WEIGHTS).sum()
    assert total_variation < 0.02
    assert freqs[0] > 0  # the hard 0.01 mode is represented


def test_gaussian_grid_within_mode_spread():
    X = make_gaussian_grid(N_LARGE, random_state=1)
    residuals = X - GAUSSIAN_GRID_MEANS[_nearest_mean(X)]
    assert_allclose(residuals.std(axis=0), GAUSSIAN_GRID_STD, rtol=0.03)
    assert stats.kstest(residuals[:, 0] / GAUSSIAN_GRID_STD, "norm").pvalue > 1e-3


def test_gaussian_grid_log_density_integrates_to_one():
    h = 0.02
    centres = np.arange(-5.5, 5.5 + h / 2, h)
    xx, yy = np.meshgrid(centres, centres)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    total = np.exp(log_density("gaussian_grid", points)).sum() * h**2
    assert total == pytest.approx(1.0, abs=1e-4)


def test_gaussian_grid_log_density_matches_scipy():
    rng = np.random.RandomState(0)
    points = rng.uniform(-4.5, 4.5, size=(200, 2))
    density = sum(
        w * stats.multivariate_normal(m, GAUSSIAN_GRID_STD**2).pdf(points)
        for w, m in zip(GAUSSIAN_GRID_WEIGHTS, GAUSSIAN_GRID_MEANS, strict=True)
    )
    near_modes = density > 1e-200  # keep np.log(density) finite
    assert_allclose(
        log_density("gaussian_grid", points)[near_modes],
        np.log(density[near_modes]),
        rtol=1e-10,
    )


@pytest.mark.parametrize("k", range(9))
def test_gaussian_grid_log_density_single_mode(k):
    # Neighbouring means lie 12 standard deviations away, so near a mean the
    # mixture is its own component to within exp(-60) relative error.
    mean = GAUSSIAN_GRID_MEANS[k]
    points = mean + np.array([[0.0, 0.0], [0.1, -0.2], [-0.3, 0.05]])
    component = stats.multivariate_normal(mean, GAUSSIAN_GRID_STD**2 * np.eye(2))
    expected = np.log(GAUSSIAN_GRID_WEIGHTS[k]) + component.logpdf(points)
    assert_allclose(log_density("gaussian_grid", points), expected, rtol=1e-12)


# ------------------------------------------------------------------ funnel


def test_funnel_x1_moments():
    x1 = make_funnel(N_LARGE, random_state=0)[:, 0]
    assert abs(x1.mean()) < 4 * 3.0 / np.sqrt(N_LARGE)
    assert abs(x1.var(ddof=1) - 9.0) < 4 * 9.0 * np.sqrt(2 / (N_LARGE - 1))


def test_funnel_x2_standardized_is_standard_normal():
    X = make_funnel(N_LARGE, random_state=1)
    z = X[:, 1] / np.exp(X[:, 0] / 2)
    assert stats.kstest(z, "norm").pvalue > 1e-3


@pytest.mark.parametrize("x1", [-6.0, -2.0, 0.0, 1.5, 5.0])
def test_funnel_log_density_marginalizes_to_x1_density(x1):
    scale = np.exp(x1 / 2)

    def density(x2):
        return np.exp(log_density("funnel", [[x1, x2]])[0])

    marginal, _ = integrate.quad(
        density, -12 * scale, 12 * scale, points=[0.0], epsabs=1e-12, epsrel=1e-10
    )
    assert marginal == pytest.approx(stats.norm(0, 3).pdf(x1), abs=1e-6, rel=1e-8)


def test_funnel_log_density_closed_form():
    rng = np.random.RandomState(0)
    X = make_funnel(100, random_state=rng)
    expected = stats.norm(0, 3).logpdf(X[:, 0]) + stats.norm(
        0, np.exp(X[:, 0] / 2)
    ).logpdf(X[:, 1])
    assert_allclose(log_density("funnel", X), expected, rtol=1e-12)


def test_funnel_log_density_extreme_neck_is_finite():
    # exp(-x1) overflows here; the value at x2 = 0 must still be exact.
    log_p = log_density("funnel", [[-2000.0, 0.0], [-2000.0, 1.0]])
    expected = -0.5 * (2000 / 3) ** 2 + 1000 - np.log(3) - np.log(2 * np.pi)
    assert log_p[0] == pytest.approx(expected, rel=1e-12)
    assert log_p[1] == -np.inf


# ------------------------------------------------------------- validation


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("n_samples", [0, -1, 2.5, "10", None])
def test_bad_n_samples(make, n_samples):
    with pytest.raises(InvalidParameterError, match="n_samples") as excinfo:
        make(n_samples, random_state=0)
    assert isinstance(excinfo.value, ValueError)
    assert repr(n_samples) in str(excinfo.value)


@pytest.mark.parametrize("make", MAKERS)
def test_bad_random_state(make):
    with pytest.raises(InvalidParameterError, match="random_state"):
        make(10, random_state="seed")


@pytest.mark.parametrize("make", MAKERS)
def test_numpy_integer_n_samples_accepted(make):
    assert make(np.int64(5), random_state=0).shape == (5, 2)


def test_log_density_unknown_name():
    with pytest.raises(ValueError, match="name") as excinfo:
        log_density("moons", np.zeros((3, 2)))
    message = str(excinfo.value)
    assert "'moons'" in message
    for valid in ("checkerboard", "gaussian_grid", "funnel"):
        assert valid in message


@pytest.mark.parametrize("name", ["checkerboard", "gaussian_grid", "funnel"])
def test_log_density_wrong_number_of_columns(name):
    with pytest.raises(ValueError, match=r"2 columns.*\(4, 3\)"):
        log_density(name, np.zeros((4, 3)))


@pytest.mark.parametrize("name", ["checkerboard", "gaussian_grid", "funnel"])
def test_log_density_rejects_1d_and_nonfinite(name):
    with pytest.raises(ValueError, match="2D array"):
        log_density(name, np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        log_density(name, [[0.0, np.nan]])


@pytest.mark.parametrize("name", ["checkerboard", "gaussian_grid", "funnel"])
def test_log_density_output(name):
    log_p = log_density(name, [[0.5, 0.5], [1, 2], [-1, -2.5]])
    assert log_p.shape == (3,)
    assert log_p.dtype == np.float64


def test_docstring_examples():
    result = doctest.testmod(
        datasets, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_load_penguins_has_the_kinds_of_a_real_table():
    pd = pytest.importorskip("pandas")
    penguins = datasets.load_penguins()
    assert penguins.shape == (344, 8)
    assert penguins.dtypes.astype(str).to_dict() == {
        "species": "category",
        "island": "category",
        "bill_length_mm": "float64",
        "bill_depth_mm": "float64",
        "flipper_length_mm": "Int64",
        "body_mass_g": "Int64",
        "sex": "category",
        "year": "int64",
    }
    assert penguins.isna().sum().to_dict() == {
        "species": 0,
        "island": 0,
        "bill_length_mm": 2,
        "bill_depth_mm": 2,
        "flipper_length_mm": 2,
        "body_mass_g": 2,
        "sex": 11,
        "year": 0,
    }
    # Gentoo penguins were measured on Biscoe only: the table's own structure.
    gentoo = penguins[penguins["species"] == "Gentoo"]
    assert set(gentoo["island"]) == {"Biscoe"} and len(gentoo) == 124
    assert isinstance(penguins, pd.DataFrame)
