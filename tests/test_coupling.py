"""Tests for adaptnoise.coupling: exact OT pairing, Sinkhorn sampling, errors."""

import warnings

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from adaptnoise.coupling import pair


def _batches(n, d, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, d, generator=gen, dtype=dtype)
    x1 = 1.5 * torch.randn(n, d, generator=gen, dtype=dtype) + 0.5
    return x0, x1


def _cost(x0, x1, perm):
    return (x0 - x1[perm]).double().square().sum().item()


@pytest.mark.parametrize("n", [8, 13, 32, 64, 128])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_ot_is_an_optimal_permutation(n, d):
    x0, x1 = _batches(n, d, seed=1000 * n + d)
    perm = pair(x0, x1, method="ot")
    assert perm.dtype == torch.long and perm.shape == (n,)
    assert torch.equal(perm.sort().values, torch.arange(n))
    cost = torch.cdist(x0, x1, compute_mode="donot_use_mm_for_euclid_dist")
    cost = cost.square().numpy()
    weights = np.full(n, 1.0 / n)
    rows, columns = linear_sum_assignment(cost)
    emd_optimum = n * ot.emd2(weights, weights, cost)
    lsa_optimum = cost[rows, columns].sum()
    assert _cost(x0, x1, perm) == pytest.approx(emd_optimum, rel=1e-8)
    assert _cost(x0, x1, perm) == pytest.approx(lsa_optimum, rel=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_ot_never_costs_more_than_independent(seed):
    x0, x1 = _batches(64, 2, seed)
    independent = pair(x0, x1, method="independent")
    assert torch.equal(independent, torch.arange(64))
    assert _cost(x0, x1, pair(x0, x1)) < 0.5 * _cost(x0, x1, independent)


def test_ot_recovers_a_shuffle():
    x0, _ = _batches(50, 3, seed=7)
    shuffle = torch.randperm(50, generator=torch.Generator().manual_seed(7))
    perm = pair(x0, x0[shuffle])
    assert torch.equal(x0[shuffle][perm], x0)


def test_ot_accepts_float32_and_tensors_that_require_grad():
    x0, x1 = _batches(32, 2, seed=3)
    expected = pair(x0, x1)
    perm = pair(x0.float().requires_grad_(), x1.float())
    assert _cost(x0, x1, perm) == pytest.approx(_cost(x0, x1, expected), rel=1e-6)


def test_identical_points_do_not_divide_by_zero():
    x = torch.zeros(4, 2)
    for method in ("ot", "sinkhorn"):
        perm = pair(x, x, method=method, generator=torch.Generator().manual_seed(0))
        assert perm.shape == (4,) and ((perm >= 0) & (perm < 4)).all()


def _mean_sinkhorn_cost(x0, x1, reg, n_draws):
    gen = torch.Generator().manual_seed(0)
    with warnings.catch_warnings():
        # A non-converged plan would make the comparison meaningless.
        warnings.simplefilter("error")
        costs = [
            _cost(x0, x1, pair(x0, x1, "sinkhorn", reg=reg, generator=gen))
            for _ in range(n_draws)
        ]
    return np.mean(costs)


def test_sinkhorn_approaches_exact_ot_as_reg_shrinks():
    x0, x1 = _batches(16, 2, seed=16)
    exact = _cost(x0, x1, pair(x0, x1))
    independent = _cost(x0, x1, pair(x0, x1, "independent"))
    sharp = _mean_sinkhorn_cost(x0, x1, reg=0.01, n_draws=200)
    blurred = _mean_sinkhorn_cost(x0, x1, reg=0.05, n_draws=200)
    assert sharp == pytest.approx(exact, rel=0.1)
    assert sharp < blurred < independent


def test_sinkhorn_is_reproducible_and_leaves_global_rng_alone():
    x0, x1 = _batches(64, 2, seed=5)
    state = torch.get_rng_state()
    first = pair(x0, x1, "sinkhorn", generator=torch.Generator().manual_seed(42))
    second = pair(x0, x1, "sinkhorn", generator=torch.Generator().manual_seed(42))
    other = pair(x0, x1, "sinkhorn", generator=torch.Generator().manual_seed(43))
    unseeded = pair(x0, x1, "sinkhorn")
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)
    assert unseeded.dtype == torch.long and ((unseeded >= 0) & (unseeded < 64)).all()


def test_sinkhorn_samples_with_replacement():
    x0, x1 = _batches(64, 2, seed=6)
    perm = pair(x0, x1, "sinkhorn", reg=0.5, generator=torch.Generator().manual_seed(0))
    assert perm.unique().numel() < 64


def test_sinkhorn_reports_an_underflowed_plan():
    x0, x1 = _batches(8, 2, seed=8)
    with warnings.catch_warnings():
        # POT and NumPy warn about the overflow before pair raises.
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="increase it"):
            pair(x0, x1, "sinkhorn", reg=1e-12)


@pytest.mark.parametrize(
    ("x0", "x1", "kwargs", "match"),
    [
        (torch.zeros(4, 2), torch.zeros(4, 2), {"method": "emd"}, "independent"),
        (torch.zeros(4, 2), torch.zeros(5, 2), {}, "batch size"),
        (torch.zeros(4, 2), torch.zeros(4, 3), {}, "batch size"),
        (torch.zeros(4), torch.zeros(4), {}, "2-D"),
        (torch.zeros(4, 2), torch.zeros(4, 2), {"method": "sinkhorn", "reg": 0}, "reg"),
    ],
)
def test_bad_inputs_raise_value_error(x0, x1, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pair(x0, x1, **kwargs)
