"""Learned per-coordinate quantile noise, matched to the data in Wasserstein-2."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from adaptnoise._sklearn_compat import Interval, Options, StrOptions, _fit_context
from adaptnoise._torch import as_numpy, as_tensor, resolve_device
from adaptnoise._training import fit_session
from adaptnoise.noise._atoms import ColumnAtoms, continuous_sorted
from adaptnoise.noise._base import BaseNoise
from adaptnoise.noise._fitting import (
    fit_joint,
    fit_marginals,
    initial_module,
    marginal_w2,
    support,
    tail_mass_for,
    to_data_units,
)
from adaptnoise.noise._quantile import choose_tails
from adaptnoise.noise._units import ColumnUnits

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
    n_bins : int or "auto", default="auto"
        Number of spline bins per coordinate, at most 999. ``"auto"`` takes
        the cube root of the number of rows, the rate at which a histogram's
        bins may grow without fitting noise, between 8 and 32 (``n_bins_``):
        a spline with 32 bins on 150 rows follows their gaps and clumps, and
        scores new rows worse than a smoother one.

    tails : {"auto", "logit", "bounded"}, default="auto"
        Input transform of each coordinate. ``"logit"`` gives tails as heavy
        as the data ask for. ``"bounded"`` gives a bulk between two edges
        :math:`a_i < b_i` (``support_``), set five mean spacings of the
        outermost 1% of the rows beyond the data's range, and a thin
        exponential tail beyond each edge that carries mass
        :math:`1 / (4 n)` (``tail_mass_``, half the level mass the fit
        leaves beyond each outermost row) and is as wide as the bulk in the
        spline's input: the density drops by about :math:`\log(4 n)` nats
        at the edge, then falls by one nat per bulk width, so a row that a
        flow carries well beyond an edge scores tens of nats down, not
        thousands. Either way
        the density is positive everywhere, and a row beyond the edges is
        unlikely, not impossible. ``"auto"`` chooses per column:
        ``"bounded"`` when each tail of the data ends at a hard edge, that
        is when its outermost ``k = max(20, n // 100)`` order statistics span
        less than twice the width of the next ``k`` (about 1 for a density
        that stays positive up to an edge, about 6 for a Gaussian tail) and
        there are at least 200 rows; ``"logit"`` otherwise.

    atoms : "auto", False or None, default="auto"
        Point masses of the marginals. With ``"auto"`` a value of a column is
        an atom when it holds at least 5 rows and 1% of them, and at least 5
        times as many as any of the 5 distinct values on either side of it
        (a zero, a cap or a default, but not the repeats of a column rounded
        to some resolution or heaped at round values, whose nearby values
        repeat about as often); constant columns and columns with fewer than
        two other distinct values get none. An atom :math:`a` keeps its share
        :math:`w_a` of the rows, and the spline is fitted to the other rows
        as the continuous part, of share :math:`c = 1 - \sum_a w_a`: the CDF
        is :math:`F(x) = c F_c(x) + \sum_a w_a 1[x \ge a]`. ``False`` or
        ``None`` fit every column as continuous.

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
    n_bins_ : int
        Spline bins per coordinate, ``n_bins`` resolved.
    tails_ : ndarray of str of shape (n_features_in_,)
        The input transform chosen for each coordinate.
    support_ : ndarray of shape (n_features_in_, 2)
        Lower and upper edge of each coordinate's bulk (infinite for logit
        tails); a bounded coordinate has mass ``tail_mass_`` beyond each.
    atoms_ : list of ndarray
        The atoms of each coordinate, increasing (empty where none).
    atom_masses_ : list of ndarray
        Their shares of the training rows.
    tail_mass_ : float
        Mass of each thin tail beyond a bounded coordinate's edge,
        ``1 / (4 n_samples)``, as a share of the continuous part.
    w2_ : ndarray of shape (n_features_in_,)
        Wasserstein-2 distance between the learned and the empirical marginal
        of each training coordinate at the end of fit.
    n_iter_ : int
        Number of optimiser iterations run: those of the marginal fit in
        which a column was still moving, then those of the joint phase.
    loss_curve_ : list of float
        The loss at each iteration, summed over columns in the marginal fit.
    device_, n_features_in_, feature_names_in_
        As in :class:`BaseNoise`.

    See Also
    --------
    sklearn.preprocessing.QuantileTransformer : Fixed (empirical) quantile maps.

    Notes
    -----
    Each column is fitted in units of its own standard deviation (computed
    without overflow or underflow for any finite scale), so the fit, its
    tolerances and ``alpha`` are scale-free; the fitted law is returned in
    data units. The marginal fit evaluates each column's W2 on runs of
    consecutive order statistics, exact for a quantile function linear on
    each run; ``w2_`` is computed on every row.

    With atoms, ``transform`` maps an atom to the middle of its interval of
    levels, ``inverse_transform`` maps every level of that interval to the
    atom, ``sample`` draws it at its share, and ``score_samples`` is the
    log-density with respect to the Lebesgue measure plus a unit mass at
    each atom: the log of the atom's mass at the atom itself, the log of
    :math:`c` times the continuous part's density elsewhere. Both are finite.
    :class:`FlowMatchingGenerator` spreads the atoms of its continuous
    columns over small windows before it fits the noise, so its noise sees
    no atoms.

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
        # Every bin keeps at least a thousandth of the spline's range (its
        # minimum bin width), so at most 999 bins fit in it.
        "n_bins": [Interval(Integral, 1, 999, closed="both"), StrOptions({"auto"})],
        "tails": [StrOptions({"auto", "logit", "bounded"})],
        "atoms": [StrOptions({"auto"}), Options(bool, {False}), None],
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
        n_bins="auto",
        tails="auto",
        atoms="auto",
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
        self.atoms = atoms
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
        """Learn each coordinate's quantile function from ``X``.

        ``X`` needs at least 2 rows; see :meth:`BaseNoise.fit`.
        """
        X = self._validate_input(X, ensure_min_samples=2).astype(np.float64)
        self.device_ = resolve_device(self.device)
        # Fitting in units of each column's own spread makes the fit, its
        # optimisers' steps and the tolerances scale-free, for any finite scale.
        units = ColumnUnits(X)
        atoms = ColumnAtoms(X, units.constant | (self.atoms in (None, False)))
        Xs = units.transform(X)
        X_sorted = np.sort(Xs, axis=0)
        continuous = atoms.continuous_columns(Xs)
        X_fit = continuous_sorted(X_sorted, continuous)
        self.tails_ = self._resolve_tails(X_fit, continuous)
        self.n_bins_ = self._resolve_n_bins(X.shape[0])
        self.module_ = initial_module(X_fit, self.tails_, self.n_bins_, self.device_)
        params, name = self.get_params(deep=False), type(self).__name__
        with fit_session():
            curve, n_iter = fit_marginals(
                self.module_, X_fit, units.constant, params, name
            )
            if atoms.any:
                values, masses = atoms.padded()
                units_values = units.transform(values.T).T
                self.module_.set_atoms(
                    *(as_tensor(a, self.device_) for a in (units_values, masses))
                )
            if self.objective == "joint":
                X_joint = as_tensor(Xs, self.device_)
                joint_curve, joint_iter = fit_joint(self.module_, X_joint, params, name)
                curve, n_iter = curve + joint_curve, n_iter + joint_iter
        self.loss_curve_, self.n_iter_ = curve, n_iter
        self.module_.requires_grad_(False)
        self.w2_ = units.lengths_to_data(marginal_w2(self.module_, X_sorted))
        to_data_units(self.module_, units)
        if atoms.any:
            # The atoms are the data's own values, not their round trip
            # through the fitting units.
            self.module_.set_atoms(
                *(as_tensor(a, self.device_) for a in (values, masses))
            )
        self.atoms_, self.atom_masses_ = atoms.values, atoms.masses
        self.support_ = support(self.module_)
        self.tail_mass_ = tail_mass_for(X.shape[0])
        return self

    def _resolve_n_bins(self, n_samples):
        if self.n_bins == "auto":
            return int(np.clip(round(n_samples ** (1 / 3)), 8, 32))
        return self.n_bins

    def _resolve_tails(self, X_sorted, continuous):
        if self.tails != "auto":
            return np.full(X_sorted.shape[1], self.tails, dtype=object)
        tails = choose_tails(X_sorted)
        # A continuous part's edges are judged on its own rows, not on the
        # resampled ones.
        for j, rows in continuous.items():
            tails[j] = choose_tails(rows[:, None])[0]
        return tails

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
            Levels in [0, 1]; values beyond a bounded coordinate's edges get
            the levels of its thin tails, below ``tail_mass_`` or above
            ``1 - tail_mass_``. The dtype of ``X`` (float32 or float64) is
            kept.
        """
        X, x = self._check(X)
        return as_numpy(self.module_.cdf(x), X.dtype)

    @torch.no_grad()
    def inverse_transform(self, X):
        """Map levels in [0, 1] to the latent through the quantile functions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Levels in [0, 1]; 0 and 1 map to -inf and +inf.

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
