"""The map of sharply shaped continuous columns onto normal scores."""

import numpy as np
import pytest
from scipy import stats

from adaptnoise import FlowMatchingGenerator
from adaptnoise._shapes import ShapeStretch, middle_share

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def crowded(n=400, seed=0):
    """A lognormal column (most rows in a bulk a tenth of its spread wide)
    next to a normal one."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.lognormal(0, 1.5, n), rng.normal(size=n)])


def test_only_a_crowded_column_is_mapped():
    X = crowded()
    assert middle_share(X[:, 0]) < 0.65 < 0.9 < middle_share(X[:, 1])
    stretch = ShapeStretch([0, 1]).fit(X)
    assert stretch.columns_ == [0]
    codes = stretch.transform(X)
    np.testing.assert_array_equal(codes[:, 1], X[:, 1])
    assert stats.kstest(codes[:, 0], "norm").statistic < 0.05


def test_the_map_is_invertible_with_a_density_that_integrates_to_one():
    X = crowded()
    stretch = ShapeStretch([0]).fit(X)
    # Far beyond the data on both sides: the tails go on linearly.
    x = np.linspace(X[:, 0].min() - 50, X[:, 0].max() + 50, 400_001)
    rows = np.column_stack([x, np.zeros_like(x)])
    codes = stretch.transform(rows)
    assert np.all(np.diff(codes[:, 0]) > 0)
    np.testing.assert_allclose(stretch.inverse_transform(codes), rows, atol=1e-9)
    density = stats.norm.pdf(codes[:, 0]) * np.exp(stretch.log_derivative(rows))
    assert np.trapezoid(density, x) == pytest.approx(1, abs=2e-3)


def test_a_value_just_beyond_the_range_keeps_a_density_near_the_edges():
    X = crowded()
    stretch = ShapeStretch([0]).fit(X)
    top = X[:, 0].max()
    rows = np.array([[top, 0.0], [top * 1.2, 0.0]])
    log_density = stats.norm.logpdf(stretch.transform(rows)[:, 0])
    log_density += stretch.log_derivative(rows)
    # A fifth beyond the largest row costs a few nats, not the normal's far
    # tail (12 nats when the line goes on with T's slope at the end).
    assert log_density[0] - log_density[1] < np.log(50)


def test_a_generator_keeps_the_bulk_of_a_crowded_column():
    X = crowded(600)
    model = FlowMatchingGenerator(
        hidden_layer_sizes=(64, 64),
        fourier_features=32,
        max_iter=400,
        n_steps=8,
        random_state=0,
    ).fit(X)
    samples = model.sample(3000, random_state=1)
    assert stats.ks_2samp(samples[:, 0], X[:, 0]).statistic < 0.08
    held_out = crowded(200, seed=1)
    assert np.isfinite(model.score_samples(held_out)).all()
