import numpy as np
import pytest
from scipy import stats

from adaptnoise._lattice import LatticeStretch, spread_shares


def heaped(n=5000, seed=0):
    """Integer years, a third of them at 12, and a second column left alone."""
    rng = np.random.default_rng(seed)
    years = np.where(rng.random(n) < 0.35, 12, rng.integers(6, 19, n))
    return np.column_stack([years, rng.normal(size=n)]).astype(np.float64)


def test_dequantised_rows_have_a_normal_marginal_whatever_the_heap():
    X = heaped()
    stretch = LatticeStretch([0]).fit(X)
    low, width = stretch.share_cells(X)
    u = np.random.default_rng(1).random(X.shape)
    spread = spread_shares(stretch.transform(X), ([0], low, width, 0.0, 1.0), u)
    assert stats.kstest(spread[:, 0], "norm").statistic < 0.02
    # Each row stays within its own cell, and the other column passes through.
    np.testing.assert_array_equal(
        np.floor(stretch.inverse_transform(spread)[:, 0] + 0.5), X[:, 0]
    )
    np.testing.assert_array_equal(spread[:, 1], X[:, 1])


def test_a_values_derivative_times_the_density_at_its_code_is_its_share():
    X = heaped()
    stretch = LatticeStretch([0]).fit(X)
    levels, counts = np.unique(X[:, 0], return_counts=True)
    rows = np.column_stack([levels, np.zeros_like(levels)])
    codes = stretch.transform(rows)
    np.testing.assert_allclose(stretch.inverse_transform(codes), rows, atol=1e-9)
    # The standard normal's mass over a cell, read at the cell's middle
    # level, as a flow's density at a value's code is read.
    mass = np.exp(stretch.log_derivative(rows)) * stats.norm.pdf(codes[:, 0])
    np.testing.assert_allclose(mass, counts / counts.sum(), rtol=0.15)
    assert mass[levels == 12][0] == pytest.approx((X[:, 0] == 12).mean(), rel=0.15)


def test_values_beyond_the_range_go_on_linearly():
    values = np.array([0.0] * 5 + [1.0] * 2 + [2.0] * 3)[:, None]
    stretch = LatticeStretch([0]).fit(values)
    x = np.array([[-1e17], [-5.0], [-0.5], [2.5], [7.0], [1e17]])
    codes = stretch.transform(x)
    assert np.all(np.diff(codes[:, 0]) > 0)
    np.testing.assert_allclose(stretch.inverse_transform(codes)[1:-1], x[1:-1])
    slopes = np.exp(stretch.log_derivative(x))
    assert np.isfinite(slopes).all()
    assert slopes[0] == slopes[1] and slopes[-1] == slopes[-2]
    # The continuation has the slope of T at the ends.
    step = 1e-6
    inner = stretch.transform(np.array([[-0.5 + step], [2.5 - step]]))[:, 0]
    np.testing.assert_allclose(
        [(inner[0] - codes[2, 0]) / step, (codes[3, 0] - inner[1]) / step],
        [slopes[1], slopes[-1]],
        rtol=1e-4,
    )


def test_a_column_with_unseen_values_inside_its_range_is_left_alone():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 1.0], [3.0, 1.0]])
    stretch = LatticeStretch([0, 1]).fit(X)
    assert stretch.columns_ == [1]
    np.testing.assert_array_equal(stretch.transform(X)[:, 0], X[:, 0])
    # Two values of equal share: codes symmetric about 0.
    codes = stretch.transform(X)[:, 1]
    assert codes[0] == pytest.approx(-codes[2]) and codes[0] < 0


def test_a_long_tailed_count_with_gaps_goes_through_its_quantiles():
    # Sales counts: most rows a few dozen, a tail to the thousands, and most
    # values in the range never seen.
    rng = np.random.default_rng(0)
    counts = np.round(rng.lognormal(3, 1.2, 2000))
    X = np.column_stack([counts, rng.normal(size=counts.size)])
    stretch = LatticeStretch([0]).fit(X)
    assert stretch.columns_ == [0]
    low, width = stretch.share_cells(X)
    assert np.all(width > 0)
    u = np.random.default_rng(1).random(X.shape)
    spread = spread_shares(stretch.transform(X), ([0], low, width, 0.0, 1.0), u)
    assert stats.kstest(spread[:, 0], "norm").statistic < 0.03
    np.testing.assert_array_equal(
        np.floor(stretch.inverse_transform(spread)[:, 0] + 0.5), X[:, 0]
    )
    # A value's mass is the normal's over its cell's levels: over every
    # integer of the range (seen or not) the masses sum to one.
    values = np.arange(counts.min() - 50, counts.max() + 50)
    rows = np.column_stack([values, np.zeros_like(values)])
    low, width = stretch.share_cells(rows)
    inside = (values >= counts.min()) & (values <= counts.max())
    assert width[inside, 0].sum() == pytest.approx(1, abs=2e-3)
