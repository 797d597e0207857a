"""Tests for adaptnoise.noise._spline."""

import pytest
import torch
from torch.testing import assert_close

from adaptnoise.noise import _spline

FLOOR = 1e-3


def _bound(kind, d, dtype=torch.float64):
    if kind == "scalar":
        return 2.5
    return torch.linspace(0.5, 3.0, d, dtype=dtype)


def _params(d, n_bins, dtype=torch.float64, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape):
        sample = torch.randn(*shape, generator=gen, dtype=dtype)
        return (scale * sample).requires_grad_()

    return draw(d, n_bins), draw(d, n_bins), draw(d, n_bins + 1)


def _spline_knots(d=3, n_bins=8, bound="vector", dtype=torch.float64, seed=0):
    params = _params(d, n_bins, dtype=dtype, seed=seed)
    return params, _spline.knots(*params, _bound(bound, d, dtype))


def _grid(xk, n_points, reach=3.0):
    """Points covering ``reach`` times the knot range, plus every knot."""
    half = xk[:, -1].detach()
    unit = torch.linspace(-reach, reach, n_points, dtype=xk.dtype)
    return torch.cat([unit[:, None] * half, xk.detach().T])


def _random_points(xk, n_points, seed=1):
    gen = torch.Generator().manual_seed(seed)
    half = xk[:, -1].detach()
    sample = torch.randn(n_points, xk.shape[0], generator=gen, dtype=xk.dtype)
    return 1.5 * half * sample


GEOMETRIES = [
    pytest.param(d, n_bins, bound, id=f"d{d}-K{n_bins}-{bound}")
    for d in (1, 3)
    for n_bins in (1, 4, 16)
    for bound in ("scalar", "vector")
]


@pytest.mark.parametrize(("d", "n_bins", "bound"), GEOMETRIES)
def test_knots_span_bound_and_respect_floors(d, n_bins, bound):
    params = _params(d, n_bins, scale=4.0)
    xk, yk, dk = _spline.knots(*params, _bound(bound, d))
    half = torch.as_tensor(_bound(bound, d), dtype=torch.float64).expand(d)
    for k in (xk, yk):
        assert k.shape == (d, n_bins + 1)
        assert torch.equal(k[:, 0], -half)
        assert torch.equal(k[:, -1], half)
        assert (torch.diff(k) >= FLOOR * 2 * half[:, None] * (1 - 1e-9)).all()
    assert dk.shape == (d, n_bins + 1)
    assert (dk >= FLOOR).all()


@pytest.mark.parametrize(("d", "n_bins", "bound"), GEOMETRIES)
def test_unconstrained_round_trips_knots(d, n_bins, bound):
    params = _params(d, n_bins, scale=2.0)
    knots = _spline.knots(*params, _bound(bound, d))
    recovered = _spline.knots(*_spline.unconstrained(*knots), _bound(bound, d))
    for expected, actual in zip(knots, recovered, strict=True):
        assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def test_unconstrained_is_finite_for_degenerate_knots():
    xk = torch.tensor([[-1.0, -1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    yk = torch.tensor([[-1.0, 0.5, 0.5, 1.0, 1.0]], dtype=torch.float64)
    dk = torch.tensor([[0.0, 1e-9, 1.0, 50.0, 1e4]], dtype=torch.float64)
    params = _spline.unconstrained(xk, yk, dk)
    assert all(torch.isfinite(p).all() for p in params)
    new_xk, new_yk, new_dk = _spline.knots(*params, 1.0)
    # Collapsed bins come back at (just above) the floor, the rest nearly intact.
    for old, new in ((xk, new_xk), (yk, new_yk)):
        assert (torch.diff(new) >= 2 * FLOOR * (1 - 1e-9)).all()
        assert_close(new, old, rtol=0, atol=0.01)
    assert (new_dk[:, :2] > FLOOR).all()
    assert_close(new_dk[:, 2:], dk[:, 2:], rtol=1e-12, atol=0)


@pytest.mark.parametrize("n_bins", [1, 4, 16])
def test_forward_is_strictly_increasing(n_bins):
    _, knots = _spline_knots(n_bins=n_bins)
    far = torch.tensor([[-1e6], [1e6]], dtype=torch.float64).expand(-1, 3)
    x = torch.cat([_grid(knots[0], 10_001), far]).sort(dim=0).values
    y, _ = _spline.forward(x, *knots)
    assert (torch.diff(y, dim=0) > 0).all()


@pytest.mark.parametrize("n_bins", [1, 4, 16])
def test_inverse_undoes_forward(n_bins):
    _, knots = _spline_knots(n_bins=n_bins)
    far = torch.linspace(-1e6, 1e6, 2001, dtype=torch.float64)[:, None].expand(-1, 3)
    x = torch.cat([far, _grid(knots[0], 2001), _random_points(knots[0], 5000)])
    y, _ = _spline.forward(x, *knots)
    x_back, _ = _spline.inverse(y, *knots)
    assert_close(x_back, x, rtol=1e-10, atol=1e-12)

    y_back, _ = _spline.forward(_spline.inverse(x, *knots)[0], *knots)
    assert_close(y_back, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_bins", [1, 4, 16])
def test_logabsdet_matches_autograd(n_bins):
    _, knots = _spline_knots(n_bins=n_bins)
    knots = [k.detach() for k in knots]
    x = torch.cat([_grid(knots[0], 2001), _random_points(knots[0], 2000)])
    x.requires_grad_()
    y, logabsdet = _spline.forward(x, *knots)
    (slope,) = torch.autograd.grad(y.sum(), x)
    assert_close(logabsdet, torch.log(slope), rtol=0, atol=1e-8)

    _, inverse_logabsdet = _spline.inverse(y.detach(), *knots)
    assert_close(inverse_logabsdet, -logabsdet.detach(), rtol=0, atol=1e-8)


def test_inverse_logabsdet_matches_autograd():
    _, knots = _spline_knots(n_bins=16)
    knots = [k.detach() for k in knots]
    y = torch.cat([_grid(knots[1], 2001), _random_points(knots[1], 2000)])
    y.requires_grad_()
    x, logabsdet = _spline.inverse(y, *knots)
    (slope,) = torch.autograd.grad(x.sum(), y)
    assert_close(logabsdet, torch.log(slope), rtol=0, atol=1e-8)


def test_inverse_is_accurate_in_steep_bins():
    # A flat bin ending in a very steep knot: the textbook root formula loses
    # most float32 digits near the top of such a bin.
    knots64 = (
        torch.tensor([[-1.0, 0.99, 1.0]], dtype=torch.float64),
        torch.tensor([[-1.0, -0.99, 1.0]], dtype=torch.float64),
        torch.tensor([[1.0, 1e4, 1.0]], dtype=torch.float64),
    )
    knots32 = [k.float() for k in knots64]
    x = torch.linspace(0.9, 0.99, 1001, dtype=torch.float32)[:, None]
    y, _ = _spline.forward(x, *knots32)
    expected, _ = _spline.inverse(y.double(), *knots64)
    actual, _ = _spline.inverse(y, *knots32)
    assert_close(actual.double(), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("transform", [_spline.forward, _spline.inverse])
def test_gradients_match_finite_differences(transform):
    params = _params(2, 3, seed=3)
    gen = torch.Generator().manual_seed(4)
    points = 2.0 * torch.randn(6, 2, generator=gen, dtype=torch.float64)
    points = torch.cat([points, torch.tensor([[-7.0, 9.0]], dtype=torch.float64)])

    def evaluate(points, *params):
        return transform(points, *_spline.knots(*params, torch.tensor([1.0, 2.0])))

    inputs = (points.requires_grad_(), *params)
    assert torch.autograd.gradcheck(evaluate, inputs, fast_mode=True)


def test_derivative_is_continuous_at_the_boundary():
    _, knots = _spline_knots(n_bins=6)
    half = knots[0][:, -1].detach()
    step = 1e-6
    for edge in (-half, half):
        points = torch.stack([edge - step, edge, edge + step])
        y, _ = _spline.forward(points, *knots)
        y = y.detach()
        left = (y[1] - y[0]) / step
        right = (y[2] - y[1]) / step
        assert_close(left, right, rtol=1e-4, atol=0)


def test_zero_parameters_with_unit_slopes_give_identity():
    d, n_bins = 3, 8
    flat = torch.linspace(-2.0, 2.0, n_bins + 1, dtype=torch.float64).expand(d, -1)
    params = _spline.unconstrained(flat, flat, torch.ones_like(flat))
    assert_close(params[0], torch.zeros(d, n_bins, dtype=torch.float64))
    assert_close(params[1], torch.zeros(d, n_bins, dtype=torch.float64))
    knots = _spline.knots(*params, 2.0)
    assert_close(knots[2], torch.ones_like(flat), rtol=1e-14, atol=0)

    x = torch.cat([_grid(knots[0], 1001), _random_points(knots[0], 1000)])
    y, logabsdet = _spline.forward(x, *knots)
    assert_close(y, x, rtol=1e-12, atol=1e-12)
    assert_close(logabsdet, torch.zeros_like(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "extreme"), [(torch.float64, 1e30), (torch.float32, 1e6)]
)
def test_values_and_gradients_are_finite(dtype, extreme):
    params, knots = _spline_knots(n_bins=5, dtype=dtype)
    specials = torch.tensor([-extreme, -1e6, 0.0, 1e6, extreme], dtype=dtype)
    on_knots = [k.detach().T for k in knots[:2]]
    points = torch.cat([specials[:, None].expand(-1, 3), *on_knots])
    for transform in (_spline.forward, _spline.inverse):
        start = points.clone().requires_grad_()
        out, logabsdet = transform(start, *knots)
        assert torch.isfinite(out).all()
        assert torch.isfinite(logabsdet).all()
        loss = out.sum() + logabsdet.sum()
        grads = torch.autograd.grad(loss, [start, *params], retain_graph=True)
        for grad in grads:
            assert torch.isfinite(grad).all()
        assert all((grad != 0).any() for grad in grads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_preserved(dtype):
    _, knots = _spline_knots(dtype=dtype)
    x = _random_points(knots[0], 100)
    for transform in (_spline.forward, _spline.inverse):
        out, logabsdet = transform(x, *knots)
        assert out.dtype == dtype
        assert logabsdet.dtype == dtype
        assert out.shape == logabsdet.shape == x.shape
    assert all(p.dtype == dtype for p in _spline.unconstrained(*knots))


def test_float32_round_trip_is_accurate():
    _, knots = _spline_knots(n_bins=16, dtype=torch.float32)
    x = torch.cat([_grid(knots[0], 2001), _random_points(knots[0], 2000)])
    y, logabsdet = _spline.forward(x, *knots)
    x_back, inverse_logabsdet = _spline.inverse(y, *knots)
    assert_close(x_back, x, rtol=1e-4, atol=1e-4)
    assert_close(inverse_logabsdet, -logabsdet, rtol=0, atol=1e-3)


def test_too_many_bins_for_the_floor_is_rejected():
    params = _params(1, 1000)
    with pytest.raises(ValueError, match="do not fit"):
        _spline.knots(*params, 1.0)
