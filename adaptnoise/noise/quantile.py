"""Learned per-coordinate quantile noise, matched to the data in Wasserstein-2."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from adaptnoise._sklearn_compat import Interval, StrOptions, _fit_context
from adaptnoise._torch import as_numpy, as_tensor, make_generator, resolve_device
from adaptnoise._training import minimize
from adaptnoise.coupling import pair
from adaptnoise.noise._base import BaseNoise
from adaptnoise.noise._quantile import QuantileFunction, choose_tails, uniform_levels

__all__ = ["QuantileNoise"]


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
        ``"marginal"`` fits each coordinate to its data marginal by the exact
        1D W2 above, deterministically and with full batches. ``"joint"``
        (the paper's variant) starts there and then fits the product noise to
        the joint data law by minibatch optimal transport with squared cost,
        which lowers the transport cost a flow has to cover.

    alpha : float, default=1e-4
        Weight of the entropy regulariser :math:`-\mathbb{E}[\log S_i'(z)]`
        on the spline's log-derivative, which keeps bins from collapsing.

    max_iter : int, default=200
        Maximum number of iterations of each phase: L-BFGS for the marginal
        fit, then Adam for ``objective="joint"``.

    tol : float, default=1e-5
        Training stops when the loss has not improved on its best value by at
        least ``tol`` for ``n_iter_no_change`` iterations in a row. The loss
        is the sum over columns of the squared W2 in units of the column's
        variance, so ``tol`` is scale-free.

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
        Number of optimiser iterations run.
    loss_curve_ : list of float
        The loss at each iteration.
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
        "alpha": [Interval(Real, 0, None, closed="left")],
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
        tol=1e-5,
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
        X_sorted = np.sort(X.astype(np.float64), axis=0)
        self.tails_ = self._resolve_tails(X_sorted)
        self.module_, levels = self._initial_module(X_sorted)
        targets = as_tensor(X_sorted, self.device_)
        std = targets.std(dim=0)
        scale = torch.where(std > 0, std, 1.0)
        self.loss_curve_, self.n_iter_ = self._minimize(
            self._marginal_step(targets, levels, scale)
        )
        if self.objective == "joint":
            X = as_tensor(X, self.device_)
            loss_curve, n_iter = self._minimize(self._joint_step(X, scale))
            self.loss_curve_ += loss_curve
            self.n_iter_ += n_iter
        self.module_.requires_grad_(False)
        self.w2_ = self._marginal_w2(targets, levels)
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

    def _minimize(self, step):
        return minimize(
            step,
            name=type(self).__name__,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            learning_rate=self.learning_rate_init,
            verbose=self.verbose,
        )

    def _marginal_step(self, targets, levels, scale):
        # A deterministic, smooth least-squares problem over a few hundred
        # parameters: L-BFGS converges in far fewer passes over the data than
        # Adam, and the passes are what cost.
        z = self.module_.latent(levels[:, None].expand_as(targets))
        optimizer = torch.optim.LBFGS(
            self.module_.parameters(),
            max_iter=1,
            max_eval=25,
            tolerance_grad=0,
            tolerance_change=0,
            line_search_fn="strong_wolfe",
        )

        def closure():
            optimizer.zero_grad(set_to_none=True)
            y, log_ds = self.module_.forward_latent(z)
            # Summed over columns, so that tol applies to each column's
            # progress rather than to its share of an average.
            w2 = ((y - targets) / scale).square().mean(0).sum()
            loss = w2 - self.alpha * log_ds.mean(0).sum()
            loss.backward()
            return loss

        def step():
            return optimizer.step(closure).item()

        return step

    def _joint_step(self, X, scale):
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
            x = X[rows] / scale
            partner = pair(x, (y / scale).detach(), method="ot")
            cost = (x - y[partner] / scale).square().mean()
            loss = cost - self.alpha * log_ds.mean()
            loss.backward()
            optimizer.step()
            return loss.item()

        return step

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
