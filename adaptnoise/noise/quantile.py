"""Learned per-coordinate quantile noise, matched to the data in Wasserstein-2."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import OneToOneFeatureMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from adaptnoise._sklearn_compat import Interval, StrOptions, _fit_context
from adaptnoise._torch import as_numpy, as_tensor, make_generator, resolve_device
from adaptnoise._training import minimize
from adaptnoise.coupling import pair
from adaptnoise.noise._base import BaseNoise
from adaptnoise.noise._lbfgs import RowwiseLBFGS
from adaptnoise.noise._pooled import PooledQuantiles
from adaptnoise.noise._quantile import QuantileFunction, choose_tails, uniform_levels
from adaptnoise.noise._units import ColumnUnits

__all__ = ["QuantileNoise"]

# Levels per spline bin at which the marginal loss is evaluated, at the least:
# more rows are pooled into runs down to about this many levels, fewer get a
# finer grid for the entropy term.
_LEVELS_PER_BIN = 16


class QuantileNoise(OneToOneFeatureMixin, TransformerMixin, BaseNoise):
    r"""Learned product noise whose marginals match the data's in Wasserstein-2.

    Each coordinate :math:`i` gets its own monotone quantile function
    :math:`Q_i`, a rational-quadratic spline behind an input transform, and
    the noise is :math:`(Q_1(U_1), \dots, Q_d(U_d))` with independent uniform
    :math:`U_i`. In one dimension :math:`W_2^2(\mu, \nu) = \int_0^1
    (Q_\mu(s) - Q_\nu(s))^2 ds`, so fitting a coordinate to its data marginal
    is a deterministic least-squares problem: the sorted data
    :math:`x_{(k)}` are matched to :math:`Q_i((k - 1/2)/n)`. Heavy tails and
    compact supports are thereby captured by the noise itself.

    The methods mirror :class:`~sklearn.preprocessing.QuantileTransformer`:
    ``transform`` maps data to (0, 1) through the learned CDF,
    ``inverse_transform`` maps levels in (0, 1) to the latent through
    :math:`Q`, ``sample`` draws :math:`Q(U)` and ``score_samples`` is the
    log-density of the learned product law.

    Parameters
    ----------
    n_bins : int, default=32
        Number of spline bins per coordinate.

    tails : {"auto", "logit", "bounded"}, default="auto"
        Input transform of each coordinate. ``"logit"`` gives an unbounded
        support with tails as heavy as the data ask for; ``"bounded"`` gives a
        compact support :math:`[a_i, b_i]` that is learned too. ``"auto"``
        chooses per column: ``"bounded"`` when both tails of the data end at a
        hard edge, that is when the outermost ``k = max(20, n // 100)`` order
        statistics span less than twice the width of the next ``k`` (about 1
        for a density that stays positive up to an edge, about 6 for a
        Gaussian tail) and there are at least 200 rows; ``"logit"`` otherwise.

    objective : {"marginal", "joint"}, default="marginal"
        ``"marginal"`` fits each coordinate to its data marginal by the 1D W2
        above, deterministically and with full batches. ``"joint"`` (the
        paper's variant) starts there and then fits the product noise to the
        joint data law by minibatch optimal transport with squared cost,
        which lowers the transport cost a flow has to cover.

    alpha : float, default=1e-4
        Weight of the entropy regulariser :math:`-\mathbb{E}[\log S_i'(z)]`
        on the spline's log-derivative, which keeps bins from collapsing,
        against the squared W2 in units of the column's variance; in [0, 1].
        Larger values trade the fit to the data for evenly sloped bins.

    max_iter : int, default=200
        Maximum number of iterations of each phase: L-BFGS for the marginal
        fit, then Adam for ``objective="joint"``. Running out of iterations
        before the stopping rule of ``tol`` is met warns with a
        :class:`~sklearn.exceptions.ConvergenceWarning`.

    tol : float, default=3e-3
        Stopping rule, relative. In the marginal fit each column is its own
        problem and stops once its squared W2 has not improved on its best
        value by at least ``tol`` times its value at the start of the fit (or
        ``1 / n_samples**2``, if larger) for ``n_iter_no_change`` iterations
        in a row; the phase ends when every column has stopped. The joint
        phase stops once its minibatch loss, in units of the columns'
        variances, has not improved by ``tol`` for ``n_iter_no_change``
        iterations.

    n_iter_no_change : int, default=10
        See ``tol``.

    learning_rate_init : float, default=5e-3
        Adam's step size in the joint phase (the marginal phase uses L-BFGS
        with a line search, which needs none).

    batch_size : int, default=256
        Rows per minibatch for ``objective="joint"``; unused otherwise.

    random_state : int, RandomState instance or None, default=None
        Seeds the minibatches of ``objective="joint"``. The marginal fit is
        deterministic.

    verbose : int, default=0
        Print progress lines (iteration, loss, speed) during fit.

    device : str, default="auto"
        Torch device; ``"auto"`` uses CUDA when available.

    Attributes
    ----------
    module_ : NoiseLaw
        The fitted quantile functions as a differentiable torch module, with
        ``sample(n, generator)`` and ``log_prob(y)`` for use inside a flow;
        ``log_prob`` is ``-log Q_i'(F_i(y_i))`` per coordinate.
    tails_ : ndarray of str of shape (n_features_in_,)
        The input transform chosen for each coordinate.
    support_ : ndarray of shape (n_features_in_, 2)
        Lower and upper end of each coordinate's support (infinite for logit
        tails).
    w2_ : ndarray of shape (n_features_in_,)
        Wasserstein-2 distance between the learned and the empirical marginal
        of each training coordinate at the end of fit.
    n_iter_ : int
        Number of optimiser iterations run: those of the marginal fit in
        which a column was still moving, then those of the joint phase.
    loss_curve_ : list of float
        The loss at each iteration, summed over columns in the marginal fit.
    device_ : torch.device
        The device used.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.preprocessing.QuantileTransformer : Fixed (empirical) quantile maps.

    Notes
    -----
    Each column is fitted in units of its own standard deviation (computed
    without overflow or underflow for any finite scale), so the fit, its
    tolerances and ``alpha`` are scale-free; the fitted law is returned in
    data units. The columns' marginal fits share no parameter, and are solved
    as independent L-BFGS problems in one batch, each with its own line
    search and stopping. Their W2 is evaluated on runs of consecutive order
    statistics, exact for a quantile function linear on each run: runs are
    single rows at the extremes and around jumps or kinks of the data, and
    long in the smooth bulk, so that large tables cost about as much per
    iteration as small ones. ``w2_`` is computed on every row.

    A constant column gets a latent concentrated at its value: an identity
    spline scaled to about machine precision of the value, so samples repeat
    the constant and the log-density is very large there and hugely negative
    elsewhere, a finite stand-in for a point mass, which has no density.
    :class:`FlowMatchingGenerator` sets such columns aside instead. An
    integer-valued column is fitted like any other: the latent is continuous
    and spreads each integer's mass between its neighbours.

    References
    ----------
    | Adapting Noise to Data: Generative Flows from 1D Processes
      (Chemseddine, Kornhardt, Duong, Steidl, 2025).
      https://arxiv.org/abs/2510.12636
    | Neural Spline Flows (Durkan et al., 2019). https://arxiv.org/abs/1906.04032

    Examples
    --------
    >>> from adaptnoise import QuantileNoise
    >>> from adaptnoise.datasets import make_funnel
    >>> X = make_funnel(2000, random_state=0)
    >>> noise = QuantileNoise(random_state=0).fit(X)
    >>> noise.tails_
    array(['logit', 'logit'], dtype=object)
    >>> noise.sample(3, random_state=0).shape
    (3, 2)
    >>> U = noise.transform(X)
    >>> bool(abs(noise.inverse_transform(U) - X).max() < 1e-6)
    True
    """

    _parameter_constraints: dict = {
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "tails": [StrOptions({"auto", "logit", "bounded"})],
        "objective": [StrOptions({"marginal", "joint"})],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str],
    }

    def __init__(
        self,
        *,
        n_bins=32,
        tails="auto",
        objective="marginal",
        alpha=1e-4,
        max_iter=200,
        tol=3e-3,
        n_iter_no_change=10,
        learning_rate_init=5e-3,
        batch_size=256,
        random_state=None,
        verbose=0,
        device="auto",
    ):
        self.n_bins = n_bins
        self.tails = tails
        self.objective = objective
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn each coordinate's quantile function from the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; at least 2 rows, no NaN or infinity.
        y : None
            Ignored.

        Returns
        -------
        self : QuantileNoise
            The fitted noise.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        self.device_ = resolve_device(self.device)
        # Fitting in units of each column's own spread makes the fit, its
        # optimisers' steps and the tolerances scale-free, for any finite scale.
        units = ColumnUnits(X.astype(np.float64))
        Xs = units.transform(X.astype(np.float64))
        X_sorted = np.sort(Xs, axis=0)
        self.tails_ = self._resolve_tails(X_sorted)
        self.module_, levels = self._initial_module(X_sorted)
        self.loss_curve_, self.n_iter_ = self._fit_marginals(X_sorted, units.constant)
        if self.objective == "joint":
            loss_curve, n_iter = self._minimize(
                self._joint_step(as_tensor(Xs, self.device_))
            )
            self.loss_curve_ += loss_curve
            self.n_iter_ += n_iter
        self.module_.requires_grad_(False)
        targets = as_tensor(X_sorted, self.device_)
        self.w2_ = units.lengths_to_data(self._marginal_w2(targets, levels))
        self._to_data_units(units)
        self.support_ = self._support()
        return self

    def _resolve_tails(self, X_sorted):
        if self.tails == "auto":
            return choose_tails(X_sorted)
        return np.full(X_sorted.shape[1], self.tails, dtype=object)

    def _initial_module(self, X_sorted):
        n, n_features = X_sorted.shape
        bounded = torch.as_tensor(self.tails_ == "bounded", device=self.device_)
        # Logit knots span exactly the midpoint levels of the data; beyond them
        # the spline continues linearly.
        logit_bound = np.log(2 * n - 1)
        bound = torch.where(bounded, 1.0, logit_bound).to(torch.float64)
        module = QuantileFunction(bounded, bound, self.n_bins).to(self.device_)
        module.initialise(X_sorted)
        levels = (torch.arange(n, dtype=torch.float64, device=self.device_) + 0.5) / n
        return module, levels

    def _minimize(self, step, **options):
        return minimize(
            step,
            name=type(self).__name__,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            learning_rate=self.learning_rate_init,
            verbose=self.verbose,
            **options,
        )

    def _fit_marginals(self, X_sorted, constant):
        """Fit each column to its data marginal, as its own L-BFGS problem.

        The columns' problems are independent, so each stops when it has
        converged; a constant column has nothing to fit and is left as set up.
        """
        optimizer = self._marginal_optimizer(X_sorted, constant)
        # The optimiser stops each column itself; the loop only bounds the
        # iterations, so it runs without a stopping rule of its own.
        loss_curve, n_iter = self._minimize(optimizer.step, early_stopping=False)
        with torch.no_grad():
            self.module_.unpack(optimizer.theta)
        if optimizer.n_active and n_iter == self.max_iter:
            warnings.warn(
                f"{type(self).__name__}: {optimizer.n_active} of "
                f"{self.n_features_in_} columns did not converge within "
                f"max_iter={self.max_iter} iterations (tol={self.tol}, "
                f"n_iter_no_change={self.n_iter_no_change}). Increase max_iter "
                "or tol if the fit is not good enough.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return loss_curve[: optimizer.n_iter], optimizer.n_iter

    def _marginal_optimizer(self, X_sorted, constant):
        n_levels = _LEVELS_PER_BIN * self.n_bins
        data = PooledQuantiles(
            X_sorted, max(1, len(X_sorted) // n_levels), self.device_
        )
        terms = self._marginal_terms(data, n_levels)

        # The optimiser minimises the regularised loss and stops a column when
        # its fit to the data has stopped improving: how precisely the
        # regulariser is optimised does not matter.
        def losses(theta, rows):
            w2, entropy = terms(theta, rows)
            return w2 - self.alpha * entropy, w2

        theta = self.module_.packed().detach().clone()
        every = torch.arange(len(theta), device=theta.device)
        with torch.no_grad():
            # A misfit below 1/n of a standard deviation is finer than n
            # levels resolve, and a fit that starts exact (two rows) needs a
            # scale to stall against too.
            start = terms(theta, every)[0].clamp_min(len(X_sorted) ** -2.0)
        # A bounded column's support is fixed by its initial affine map.
        frozen = torch.zeros_like(theta, dtype=torch.bool)
        frozen[:, -2:] = self.module_.bounded[:, None]
        return RowwiseLBFGS(
            losses,
            theta,
            torch.as_tensor(~constant, device=theta.device),
            tol=self.tol * start,
            n_iter_no_change=self.n_iter_no_change,
            frozen=frozen,
        )

    def _marginal_terms(self, data, n_levels):
        """Each column's squared W2 (in its own units) and its entropy term.

        The entropy term is a quadrature of the spline's mean log-slope over
        the data's levels. With fewer than ``n_levels`` rows it uses a grid
        that fine between the outermost data levels instead: evaluated at
        few points, the term would reward the slopes at those points without
        bound, while on a fine grid it is largest (by Jensen) for an even
        slope between the data, which holds every knot's slope in place.
        """
        module, n_features = self.module_, self.module_.n_features

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

    def _joint_step(self, X):
        n, n_features = X.shape
        batch_size = min(self.batch_size, n)
        generator = make_generator(self.random_state, self.device_)
        optimizer = torch.optim.Adam(
            self.module_.parameters(), lr=self.learning_rate_init
        )

        def step():
            optimizer.zero_grad(set_to_none=True)
            rows = torch.randperm(n, generator=generator, device=X.device)[:batch_size]
            u = uniform_levels(batch_size, n_features, generator, X.device)
            z = self.module_.latent(u)
            y, log_ds = self.module_.forward_latent(z)
            x = X[rows]
            partner = pair(x, y.detach(), method="ot")
            cost = (x - y[partner]).square().mean()
            loss = cost - self.alpha * log_ds.mean()
            loss.backward()
            optimizer.step()
            return loss.item()

        return step

    @torch.no_grad()
    def _to_data_units(self, units):
        shift, log_scale = units.to_data(
            as_numpy(self.module_.shift, np.float64),
            as_numpy(self.module_.log_scale, np.float64),
        )
        self.module_.shift.copy_(as_tensor(shift, self.device_))
        self.module_.log_scale.copy_(as_tensor(log_scale, self.device_))

    @torch.no_grad()
    def _marginal_w2(self, targets, levels):
        y = self.module_(levels[:, None].expand_as(targets))
        return as_numpy((y - targets).square().mean(dim=0).sqrt(), np.float64)

    @torch.no_grad()
    def _support(self):
        edges = torch.stack([-self.module_.bound, self.module_.bound], dim=1)
        ends = self.module_.forward_latent(edges.T)[0].T
        infinite = torch.tensor([-np.inf, np.inf], dtype=ends.dtype, device=ends.device)
        ends = torch.where(self.module_.bounded[:, None], ends, infinite)
        return as_numpy(ends, np.float64)

    def _check(self, X):
        check_is_fitted(self)
        X = self._validate_rows(X)
        return X, as_tensor(X, self.device_)

    @torch.no_grad()
    def transform(self, X):
        """Map data to (0, 1) through the learned CDF :math:`F_i = Q_i^{-1}`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        U : ndarray of shape (n_samples, n_features)
            Levels in [0, 1]; values beyond a bounded support clip to 0 or 1.
            The dtype of ``X`` (float32 or float64) is kept.
        """
        X, x = self._check(X)
        return as_numpy(self.module_.cdf(x), X.dtype)

    @torch.no_grad()
    def inverse_transform(self, X):
        """Map levels in [0, 1] to the latent through the quantile functions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Levels in [0, 1]. For logit tails 0 and 1 map to -inf and +inf.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_features)
            ``Q(X)``, in the dtype of ``X``.
        """
        X, u = self._check(X)
        if X.min() < 0 or X.max() > 1:
            raise ValueError(
                "inverse_transform expects levels in [0, 1]; got values from "
                f"{X.min():g} to {X.max():g}."
            )
        return as_numpy(self.module_(u), X.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
