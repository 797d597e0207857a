"""Fitting a QuantileFunction to data: per-column marginal W2 and joint OT objective.

The columns' marginal fits share no parameter, so they are solved as
independent L-BFGS problems in one batch, each with its own line search and
stopping. Their W2 is evaluated on runs of consecutive order statistics
(:class:`PooledQuantiles`), exact for a quantile function linear on each run,
so that large tables cost about as much per iteration as small ones.

Each function takes ``params``, the estimator's ``get_params(deep=False)``,
and ``name``, the estimator's name for its messages.
"""

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from adaptnoise._torch import as_numpy, as_tensor, make_generator
from adaptnoise._training import minimize
from adaptnoise.coupling import pair
from adaptnoise.noise._lbfgs import RowwiseLBFGS
from adaptnoise.noise._pooled import PooledQuantiles
from adaptnoise.noise._quantile import QuantileFunction, uniform_levels

__all__ = [
    "tail_mass_for",
    "fit_joint",
    "fit_marginals",
    "initial_module",
    "marginal_w2",
    "support",
    "to_data_units",
]

# Levels per spline bin at which the marginal loss is evaluated, at the least:
# more rows are pooled into runs down to about this many levels, fewer get a
# finer grid for the entropy term.
_LEVELS_PER_BIN = 16


def tail_mass_for(n_samples):
    """Mass beyond each edge of a bounded column fitted to ``n_samples`` rows.

    The midpoint levels ``(k - 1/2) / n`` of the W2 fit leave ``1 / (2n)``
    beyond each outermost row; the thin tail takes half of it, so the fit's
    levels all lie in the bulk and the other half fills the margin between
    the outermost row and the edge.
    """
    return 1 / (4 * n_samples)


def initial_module(X_sorted, tails, n_bins, device):
    """The quantile functions, set up from the sorted columns ``X_sorted``."""
    bounded = torch.as_tensor(tails == "bounded", device=device)
    # Logit knots span exactly the midpoint levels of the data; beyond them
    # the spline continues linearly.
    logit_bound = np.log(2 * len(X_sorted) - 1)
    bound = torch.where(bounded, 1.0, logit_bound).to(torch.float64)
    tail_mass = torch.full_like(bound, tail_mass_for(len(X_sorted)))
    module = QuantileFunction(bounded, bound, n_bins, tail_mass).to(device)
    module.initialise(X_sorted)
    return module


def _minimize(step, params, name, **options):
    return minimize(
        step,
        name=name,
        max_iter=params["max_iter"],
        tol=params["tol"],
        n_iter_no_change=params["n_iter_no_change"],
        learning_rate=params["learning_rate_init"],
        verbose=params["verbose"],
        **options,
    )


def fit_marginals(module, X_sorted, constant, params, name):
    """Fit each column to its data marginal, as its own L-BFGS problem.

    The columns' problems are independent, so each stops when it has
    converged; a constant column has nothing to fit and is left as set up.
    Returns the loss curve and the number of iterations in which a column
    moved.
    """
    optimizer = _marginal_optimizer(module, X_sorted, constant, params)
    # The optimiser stops each column itself; the loop only bounds the
    # iterations, so it runs without a stopping rule of its own.
    loss_curve, n_iter = _minimize(optimizer.step, params, name, early_stopping=False)
    with torch.no_grad():
        module.unpack(optimizer.theta)
    if optimizer.n_active and n_iter == params["max_iter"]:
        warnings.warn(
            f"{name}: {optimizer.n_active} of {module.n_features} columns did "
            f"not converge within max_iter={params['max_iter']} iterations "
            f"(tol={params['tol']}, n_iter_no_change={params['n_iter_no_change']})"
            ". Increase max_iter or tol if the fit is not good enough.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return loss_curve[: optimizer.n_iter], optimizer.n_iter


def _marginal_optimizer(module, X_sorted, constant, params):
    n_levels = _LEVELS_PER_BIN * module.widths.shape[1]
    data = PooledQuantiles(
        X_sorted, max(1, len(X_sorted) // n_levels), module.bound.device
    )
    terms = _marginal_terms(module, data, n_levels)
    alpha = params["alpha"]

    # The optimiser minimises the regularised loss and stops a column when
    # its fit to the data has stopped improving: how precisely the
    # regulariser is optimised does not matter.
    def losses(theta, rows):
        w2, entropy = terms(theta, rows)
        return w2 - alpha * entropy, w2

    theta = module.packed().detach().clone()
    every = torch.arange(len(theta), device=theta.device)
    with torch.no_grad():
        # A misfit below 1/n of a standard deviation is finer than n
        # levels resolve, and a fit that starts exact (two rows) needs a
        # scale to stall against too.
        start = terms(theta, every)[0].clamp_min(len(X_sorted) ** -2.0)
    # A bounded column's support is fixed by its initial affine map.
    frozen = torch.zeros_like(theta, dtype=torch.bool)
    frozen[:, -2:] = module.bounded[:, None]
    return RowwiseLBFGS(
        losses,
        theta,
        torch.as_tensor(~constant, device=theta.device),
        tol=params["tol"] * start,
        n_iter_no_change=params["n_iter_no_change"],
        frozen=frozen,
    )


def _marginal_terms(module, data, n_levels):
    """Each column's squared W2 (in its own units) and its entropy term.

    The entropy term is a quadrature of the spline's mean log-slope over
    the data's levels. With fewer than ``n_levels`` rows it uses a grid
    that fine between the outermost data levels instead: evaluated at
    few points, the term would reward the slopes at those points without
    bound, while on a fine grid it is largest (by Jensen) for an even
    slope between the data, which holds every knot's slope in place.
    """
    n_features = module.n_features

    def latent(levels):
        z = module.latent(levels)
        return z, module.log_dz_du(z)

    z, log_dz_du = latent(data.levels)
    n_runs, weights, at = len(z), data.weights, slice(None)
    if data.n_samples < n_levels:
        lo, hi = 0.5 / data.n_samples, 1 - 0.5 / data.n_samples
        grid = torch.linspace(lo, hi, n_levels, dtype=z.dtype, device=z.device)
        # One spline evaluation serves both: the data's levels, then the grid.
        z = torch.cat([z, latent(grid[:, None].expand(n_levels, n_features))[0]])
        weights, at = torch.full_like(z[n_runs:], 1 / n_levels), slice(n_runs, None)

    def terms(theta, rows):
        columns = slice(None) if len(rows) == n_features else rows
        q, log_ds = module.forward_packed(theta, z[:, columns], rows)
        log_slope = theta[:, -2] + log_ds[:n_runs] + log_dz_du[:, columns]
        w2 = data.squared_w2(q[:n_runs], log_slope, columns)
        return w2, (weights[:, columns] * log_ds[at]).sum(0)

    return terms


def fit_joint(module, X, params, name):
    """Fit the product law to the joint law of the rows ``X`` (a tensor).

    Adam on minibatches matched to as many noise draws by optimal transport
    with squared cost. Returns the loss curve and the number of steps.
    """
    return _minimize(_joint_step(module, X, params), params, name)


def _joint_step(module, X, params):
    n, n_features = X.shape
    batch_size = min(params["batch_size"], n)
    alpha = params["alpha"]
    generator = make_generator(params["random_state"], X.device)
    optimizer = torch.optim.Adam(module.parameters(), lr=params["learning_rate_init"])

    def step():
        optimizer.zero_grad(set_to_none=True)
        rows = torch.randperm(n, generator=generator, device=X.device)[:batch_size]
        u = uniform_levels(batch_size, n_features, generator, X.device)
        y, log_ds = module.draw(u)
        x = X[rows]
        partner = pair(x, y.detach(), method="ot")
        cost = (x - y[partner]).square().mean()
        loss = cost - alpha * log_ds.mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


@torch.no_grad()
def to_data_units(module, units):
    """Rescale ``module``, fitted in the units of ``units``, to data units."""
    shift, log_scale = units.to_data(
        as_numpy(module.shift, np.float64), as_numpy(module.log_scale, np.float64)
    )
    module.shift.copy_(as_tensor(shift, module.bound.device))
    module.log_scale.copy_(as_tensor(log_scale, module.bound.device))


@torch.no_grad()
def marginal_w2(module, X_sorted):
    """The W2 distance of each column's law to its sorted data ``X_sorted``."""
    targets = as_tensor(X_sorted, module.bound.device)
    n = len(targets)
    levels = (torch.arange(n, dtype=torch.float64, device=targets.device) + 0.5) / n
    y = module(levels[:, None].expand_as(targets))
    return as_numpy((y - targets).square().mean(dim=0).sqrt(), np.float64)


@torch.no_grad()
def support(module):
    """Lower and upper end of each column's support, infinite for logit tails."""
    edges = torch.stack([-module.bound, module.bound], dim=1)
    ends = module.forward_latent(edges.T)[0].T
    infinite = torch.tensor([-np.inf, np.inf], dtype=ends.dtype, device=ends.device)
    ends = torch.where(module.bounded[:, None], ends, infinite)
    return as_numpy(ends, np.float64)
