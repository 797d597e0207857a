"""Minibatch couplings that pair data rows with noise rows for flow matching."""

import numpy as np
import ot
import torch
from scipy.optimize import linear_sum_assignment

from adaptnoise._torch import make_generator

__all__ = ["pair"]

_METHODS = ("independent", "ot", "sinkhorn")


def pair(x0, x1, method="ot", reg=0.05, generator=None):
    """Choose a partner in ``x1`` for every row of ``x0``.

    Parameters
    ----------
    x0 : torch.Tensor of shape (n_samples, n_features)
        Data batch, the end of the flow at t=0.
    x1 : torch.Tensor of shape (n_samples, n_features)
        Noise batch, the end of the flow at t=1.
    method : {"ot", "sinkhorn", "independent"}, default="ot"
        ``"independent"`` keeps the given order, which is already an
        independent coupling when the two batches are independent draws.
        ``"ot"`` is the exact optimal transport plan for the squared Euclidean
        cost; between two uniform batches of equal size it is a permutation,
        found by :func:`scipy.optimize.linear_sum_assignment`, which is faster
        than :func:`ot.emd` here and returns the same optimum.
        ``"sinkhorn"`` solves the entropic problem with :func:`ot.sinkhorn`
        and draws each row's partner from its row of the plan. Rows are drawn
        independently, so a noise row may be chosen several times and another
        not at all: sampling with replacement, as TorchCFM's ``OTPlanSampler``
        does (which draws whole pairs from the plan rather than conditioning
        on the data rows).
    reg : float, default=0.05
        Entropic regularisation of ``"sinkhorn"``, relative to the cost divided
        by its maximum, as in TorchCFM. That scale makes the default plan
        markedly blurred at usual batch sizes; much smaller values need more
        than POT's 1000 iterations, and POT warns when they do not converge.
        Ignored by the other methods.
    generator : torch.Generator or None, default=None
        Source of the ``"sinkhorn"`` draws. ``None`` seeds a fresh generator
        from the operating system, leaving torch's global generator untouched.

    Returns
    -------
    perm : torch.LongTensor of shape (n_samples,)
        Indices on the device of ``x0`` such that ``x1[perm]`` is row by row
        the partner of ``x0``. A permutation except for ``"sinkhorn"``.

    Raises
    ------
    ValueError
        If ``method`` is unknown, the batches are not 2-D with equal shapes, or
        ``reg`` is not positive for ``"sinkhorn"``.

    Examples
    --------
    >>> import torch
    >>> pair(torch.tensor([[0.0], [1.0]]), torch.tensor([[1.1], [-0.1]]))
    tensor([1, 0])
    """
    _check_inputs(x0, x1, method, reg)
    if method == "independent":
        return torch.arange(x0.shape[0], device=x0.device)
    # One host copy: POT's and SciPy's NumPy solvers beat POT's torch backend
    # several times over at minibatch sizes.
    cost = _normalised_cost(x0, x1).cpu().numpy()
    if method == "ot":
        _, columns = linear_sum_assignment(cost)
        return torch.as_tensor(columns, dtype=torch.long, device=x0.device)
    return _sinkhorn_partners(cost, reg, generator, x0.device)


def _check_inputs(x0, x1, method, reg):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if x0.ndim != 2 or x1.ndim != 2:
        raise ValueError(
            f"x0 and x1 must be 2-D; got shapes {tuple(x0.shape)} and "
            f"{tuple(x1.shape)}."
        )
    if x0.shape != x1.shape:
        raise ValueError(
            "x0 and x1 must have the same batch size and number of features; "
            f"got shapes {tuple(x0.shape)} and {tuple(x1.shape)}."
        )
    if method == "sinkhorn" and not reg > 0:
        raise ValueError(f"reg must be positive; got {reg!r}.")


@torch.no_grad()
def _normalised_cost(x0, x1):
    # Float64 and direct differences (not the matmul expansion, which cancels
    # badly for close points) keep near-ties resolvable. Scaling by the maximum
    # only conditions the solvers, as the optimal plan is scale invariant, and
    # gives reg its scale.
    distance = torch.cdist(
        x0.double(), x1.double(), compute_mode="donot_use_mm_for_euclid_dist"
    )
    cost = distance.square()
    return cost / cost.max().clamp_min(torch.finfo(cost.dtype).tiny)


def _sinkhorn_partners(cost, reg, generator, device):
    if generator is None:
        generator = make_generator(None, device)
    n = cost.shape[0]
    weights = np.full(n, 1.0 / n)
    plan = torch.as_tensor(ot.sinkhorn(weights, weights, cost, reg))
    if not (torch.isfinite(plan).all() and (plan.sum(dim=1) > 0).all()):
        raise ValueError(f"The Sinkhorn plan underflowed at reg={reg!r}; increase it.")
    plan = plan.to(generator.device)
    return torch.multinomial(plan, 1, generator=generator).squeeze(1).to(device)
