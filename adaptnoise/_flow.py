"""The flow estimators' machinery: the fit skeleton, sampling and exact scoring.

As scikit-learn's ``BaseMixture`` holds the loop its mixtures share,
:class:`BaseFlow` holds what a flow estimator does with its parameters; the
public estimators declare the parameters and document them.
"""

import copy
import numbers

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from adaptnoise._bandwidth import auto_sigma
from adaptnoise._base import SamplerMixin, check_n_samples
from adaptnoise._batches import cells, smoothed_columns
from adaptnoise._columns import TableColumns
from adaptnoise._lattice import spread_shares
from adaptnoise._marginals import integrated_rows
from adaptnoise._sklearn_compat import _fit_context, _num_samples, validate_own_params
from adaptnoise._torch import (
    PortableDeviceMixin,
    as_numpy,
    as_tensor,
    make_generator,
    resolve_device,
)
from adaptnoise._training import (
    Seeds,
    auto_max_iter,
    check_split,
    fit_session,
    train_flow,
)
from adaptnoise.nn import VelocityMLP, _check_fourier, _check_sizes
from adaptnoise.noise import QuantileNoise, resolve_noise
from adaptnoise.processes import resolve_process
from adaptnoise.solvers import odeint, odeint_with_logdet
from adaptnoise.tables import TableEncoder, as_table, table_tags

__all__ = ["BaseFlow", "flow_log_prob", "flow_sample"]

# Solver steps of n_steps="auto" (benchmarks/bench_ode_steps.py): the fewest
# at which RK4 sampling matched 100 steps, by the share on the checkerboard's
# squares and the true density of the samples. Scoring, with one divergence
# per step, errs by half as much at 20 steps as with the divergence at every
# stage of 10 steps (twice the divergences), and 10 to 16 steps err by three
# to four times more than 20: the error does not fall steadily below 20.
_AUTO_STEPS = {"sample": 5, "score": 20}
# Levels seen once that stand in for an unseen level when a row is scored:
# each costs a scoring pass of the rows with unseen levels.
_MAX_SUBSTITUTES = 32
# The model's draws that set how nominal columns decode (adaptnoise._levels):
# a share is then off by at most about 0.5 percentage points (one standard
# error) from its training value, below a held-out half's own spread on the
# benchmark's tables, for a fraction of a second of sampling.
_LEVEL_DRAWS = 8192


class BaseFlow(PortableDeviceMixin, SamplerMixin, DensityMixin, BaseEstimator):
    """Fit, sample and score a flow from its estimator's parameters.

    Subclasses declare the parameters of :class:`FlowMatchingGenerator`
    (``noise``, ``process``, the network's, the training's and the
    solver's) in ``__init__`` and ``_parameter_constraints``.
    """

    def fit(self, X, y=None):
        """Fit the noise, train the velocity by flow matching, then fix how
        nominal columns decode from the model's own draws.

        Every parameter is checked before any work. A fit that fails, or that
        Ctrl-C stops before the flow's training, leaves the estimator
        unfitted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to learn from: at least 2, all finite.
        y : None
            Not used; present for the scikit-learn API.

        Returns
        -------
        self : FlowMatchingGenerator
            The fitted model.
        """
        try:
            return self._fit(X)
        except BaseException:
            self._forget_fit()
            raise

    @_fit_context(prefer_skip_nested_validation=False)
    def _fit(self, X):
        warm = self.warm_start and hasattr(self, "velocity_")
        X = as_table(X, type(self).__name__)
        validate_data(self, X, skip_check_array=True, reset=not warm)
        n_samples = _check_n_rows(X, type(self).__name__)
        seeds = Seeds.draw(self.random_state)
        process, noise = self._check_parameters(n_samples, seeds)
        device = resolve_device(self.device)
        with fit_session() as session:
            if warm:
                columns, noise, velocity = self.columns_, self.noise_, self.velocity_
                process = self.process_
            else:
                columns = TableColumns(self._encoder(), self.whiten)
                columns.fit(X, seeds.filling)
            rows = columns.training_rows(X, seeds.filling)
            widths, atoms = columns.dequantisation_widths(), columns.atom_cells()
            shares = columns.share_cells(rows)
            spread = _dequantise(rows, widths, atoms, shares, seeds)
            nominal = columns.nominal_columns()
            smoothed = smoothed_columns(nominal, atoms) > 0
            params = self._training_params(spread[:, smoothed], seeds)
            if not warm:
                noise = self._fit_noise(noise, spread, device)
                if session.interrupted:
                    raise KeyboardInterrupt
                velocity = self._initial_velocity(rows.shape[1], seeds, device)
            law = self._terminal_law(process, noise, rows.shape[1], device)
            velocity, curves = train_flow(
                velocity,
                process,
                law,
                as_tensor(rows, device, torch.float32),
                seeds,
                params,
                as_tensor(widths, device, torch.float32),
                None if atoms is None else _float32_cells(atoms, device),
                torch.as_tensor(nominal, device=device) if nominal.any() else None,
                None if shares is None else _torch_shares(shares, device),
            )
        if self.noise_training == "joint":
            noise.module_.load_state_dict(_float64_state(law))
        self._store(warm, columns, process, noise, velocity, device, curves)
        self.sigma_ = params["sigma"]
        if columns.nominal_groups():
            draws = self._sample_chunk(
                _LEVEL_DRAWS,
                make_generator(seeds.levels, device),
                self._n_steps("sample"),
            )
            columns.calibrate_levels(rows, draws)
        return self

    def _training_params(self, rows, seeds):
        """The parameters training reads, ``"auto"`` ones resolved for ``rows``.

        ``rows`` are the training rows' columns that ``sigma`` blurs (all
        but nominal ones and those with atoms), whose spread alone sets
        ``sigma="auto"``.
        """
        params = self.get_params(deep=False)
        n_samples, batch_size = rows.shape[0], params["batch_size"]
        if params["max_iter"] == "auto":
            params["max_iter"] = auto_max_iter(n_samples, batch_size)
        if params["sigma"] == "auto":
            passes = params["max_iter"] * min(batch_size, n_samples) / n_samples
            params["sigma"] = auto_sigma(rows, seeds.noise, passes)
        return params

    def _encoder(self):
        return TableEncoder(
            categorical_features=self.categorical_features,
            categorical_encoding=self.categorical_encoding,
            discrete_features=self.discrete_features,
            bounds=self.bounds,
        )

    def set_params(self, **params):
        """Set parameters; ``noise__*`` and ``process__*`` work with names too.

        A nested parameter of a ``noise`` or ``process`` given by name first
        replaces the name by the estimator it stands for, as ``fit`` would
        resolve it, so grid searches over ``noise__n_bins`` need no estimator
        written out.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : FlowMatchingGenerator
            This estimator.
        """
        for name, resolve in (("noise", resolve_noise), ("process", resolve_process)):
            nested = any(key.startswith(f"{name}__") for key in params)
            value = params.get(name, getattr(self, name))
            if nested and isinstance(value, str):
                params[name] = resolve(value)
        return super().set_params(**params)

    def _check_parameters(self, n_samples, seeds):
        """Resolve the process and the noise and check every invariant."""
        process = resolve_process(self.process)
        validate_own_params(process)
        noise = None
        if process.uses_noise:
            noise = resolve_noise(self.noise, seeds.noise)
            validate_own_params(noise)
        if self.coupling != "independent" and not process.deterministic:
            raise ValueError(
                f"coupling={self.coupling!r} cannot be used with "
                f"{type(process).__name__}: its paths are not a deterministic "
                "function of their ends; use coupling='independent'."
            )
        if self.noise_training == "joint" and not isinstance(noise, QuantileNoise):
            raise ValueError(
                "noise_training='joint' trains a learned noise and needs "
                "noise='quantile' or a QuantileNoise with a process that uses it; "
                f"got noise={self.noise!r}, process={self.process!r}."
            )
        hidden = tuple(np.atleast_1d(self.hidden_layer_sizes))
        _check_sizes(
            self.n_features_in_,
            hidden,
            self.time_embedding_dim,
            "silu",
            self.fourier_features,
        )
        _check_fourier(self.fourier_features, self.fourier_scale)
        if self.n_steps != "auto":
            check_n_samples(self.n_steps, name="n_steps")
        check_split(self.early_stopping, self.validation_fraction, n_samples)
        return process, noise

    def _fit_noise(self, noise, Xs, device):
        if noise is None:
            return None
        if "device" in noise.get_params():
            noise.set_params(device=str(device))
        noise.fit(Xs)
        noise.module_.to(device)
        return noise

    def _initial_velocity(self, n_features, seeds, device):
        velocity = VelocityMLP(
            n_features,
            tuple(np.atleast_1d(self.hidden_layer_sizes)),
            self.time_embedding_dim,
            fourier_features=self.fourier_features,
            fourier_scale=self.fourier_scale,
            generator=torch.Generator().manual_seed(seeds.network),
        )
        return velocity.to(device).requires_grad_(False)

    @staticmethod
    def _terminal_law(process, noise, n_features, device):
        """The float32 copy of the law the paths end in, which training uses."""
        law = process.terminal_law(n_features) if noise is None else noise.module_
        return copy.deepcopy(law).to(device).float()

    def _store(self, warm, columns, process, noise, velocity, device, curves):
        loss_curve, n_iter, validation_curve = curves
        if warm:
            loss_curve = self.loss_curve_ + loss_curve
            validation_curve = self.validation_loss_curve_ + validation_curve
            n_iter += self.n_iter_
        self.columns_, self.process_, self.noise_ = columns, process, noise
        self.velocity_, self.device_ = velocity, device
        self.loss_curve_, self.validation_loss_curve_ = loss_curve, validation_curve
        self.n_iter_ = n_iter

    def _forget_fit(self):
        for name in [key for key in vars(self) if key.endswith("_")]:
            if not name.startswith("__"):
                delattr(self, name)

    @property
    def encoder_(self):
        return self.columns_.encoder

    @property
    def mean_(self):
        return self.columns_.standardiser.mean_

    @property
    def scale_(self):
        return self.columns_.standardiser.scale_

    @property
    def constant_features_(self):
        return self.columns_.encoder.kinds_ == "constant"

    @torch.no_grad()
    def sample(self, n_samples=1, random_state=None, n_steps=None):
        """Generate rows by integrating the flow from noise (t=1) to data (t=0).

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows.
        random_state : int, RandomState instance or None, default=None
            An int gives the same rows on every call; ``None`` draws fresh
            rows each call, from the operating system's entropy, without
            touching NumPy's or torch's global generators.
        n_steps : int or None, default=None
            Solver steps; ``None`` uses the estimator's ``n_steps`` (5 steps
            for ``"auto"``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            Samples in the units of the training data, float64.
        """
        check_is_fitted(self)
        n_steps = self._n_steps("sample") if n_steps is None else n_steps
        check_n_samples(n_steps, name="n_steps")
        return self._sample(n_samples, random_state, n_steps=n_steps)

    # The ODE's steps report progress, so a single long chunk is not silent.
    _progress_within_chunks = True

    def _sample_chunk(self, n_samples, generator, n_steps, progress=None):
        x = flow_sample(
            self.velocity_,
            self._law(),
            n_samples,
            generator,
            n_steps,
            self.solver,
            progress,
        )
        return as_numpy(x, np.float64)

    def _decode(self, samples):
        return self.columns_.inverse_transform(samples)

    def decode(self, Z):
        """Map rows from the flow's space back to the training data's.

        The noise (``noise_``) and the velocity (``velocity_``) live in the
        space of the encoded columns, standardised and, with ``whiten``,
        decorrelated. This is the way back that :meth:`sample` takes: for
        drawing a flow's paths or its noise in the units of the data.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_flow_features)
            Rows in the flow's space.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, n_features_in_)
            The rows in the training container, units and dtypes, with the
            ``bounds`` applied.
        """
        check_is_fitted(self)
        return self._decode(np.asarray(Z, dtype=np.float64))

    def score_samples(self, X):
        """Exact log-likelihood of each row under the flow.

        The probability-flow ODE is integrated from the data (t=0) to the
        noise (t=1) together with the divergence of the velocity:
        ``log p(x) = log p_noise(x_1) + int_0^1 div v(t, x_t) dt``, corrected
        for the standardisation. Rows are scored independently, so a row's
        score does not depend on the rest of the batch. Rows whose end point
        falls outside a compact noise support (``noise="uniform"``, the Kac
        and uniform processes) score ``-inf``; so do rows that differ from a
        constant column's value, as a point mass has no density. The learned
        noise's density is positive everywhere.

        A category level unseen during fit stands for all unseen levels,
        whose chance Good and Turing estimate by the share of the levels
        seen once: the row scores the sum of its densities with each level
        seen once in its place (estimated from 32 of them, evenly spread in
        level order, when there are more). When no level was seen once, a
        new level gets one row's share, spread as the levels seen least
        often are.

        A missing value in a column that had missing values during fit is
        scored through the column's missing indicator. One in a column that
        had none is integrated out: the row scores the likelihood of its
        other values, the joint density with that column integrated (summed
        for a discrete column) over the column's training range by a
        quadrature fixed at fit time, at most 33 nodes for one column and a
        product grid of at most 512 for several, each node a score of the
        row (see ``adaptnoise/_marginals.py``). A column of at most 32 codes
        is summed exactly; a continuous one is accurate when the row's
        conditional law is smooth on the scale of 1/32 of the column's
        spread. A row with every value missing scores 0, the log of the
        whole density's integral.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Rows in the units of the training data.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            The log-density of each row in those units, float64.
        """
        check_is_fitted(self)
        X = as_table(X, type(self).__name__)
        validate_data(self, X, skip_check_array=True, reset=False)
        unexpected = self.columns_.encoder._unexpected_missing(X)
        if unexpected.any():
            return self._scores_integrating(X, unexpected)
        return self._known_scores(X)

    def _known_scores(self, X):
        """Scores of rows with no value missing where fit saw none."""
        unseen = self.columns_.encoder._unseen_levels(X)
        if not unseen.any():
            return self._table_scores(X)
        return self._scores_with_unseen(X, unseen)

    def _scores_integrating(self, X, unexpected):
        """Scores of rows with columns to integrate out (see
        :mod:`adaptnoise._marginals`); a row with every column missing
        integrates the whole density, 1."""
        scores = np.zeros(_num_samples(X))
        patterns, group = np.unique(unexpected, axis=0, return_inverse=True)
        for k, pattern in enumerate(patterns):
            rows = np.flatnonzero(group.ravel() == k)
            if pattern.all():
                continue
            if not pattern.any():
                scores[rows] = self._known_scores(_take(X, rows))
                continue
            table, log_weights = integrated_rows(
                _take(X, rows),
                np.flatnonzero(pattern),
                self.columns_.margins_,
                self.columns_.encoder._codecs,
            )
            draws = self._known_scores(table).reshape(rows.size, -1)
            scores[rows] = logsumexp(draws + log_weights, axis=1)
        return scores

    def _table_scores(self, X):
        scores = super().score_samples(X) + self.columns_.log_jacobian(X)
        return np.where(self.columns_.off_constants(X), -np.inf, scores)

    def _scores_with_unseen(self, X, unseen):
        """Scores of rows some of whose category levels were never seen.

        An unseen level stands for every unseen one, whose chance Good and
        Turing estimate by the share of the levels seen once (or one row's
        share when none was); the rest of the row is taken to follow the
        levels seen least often. Its density is then a weighted sum over
        those levels of the row's density with that level, estimated from
        at most ``_MAX_SUBSTITUTES`` of them evenly spread.
        """
        rare = self.columns_.encoder._rare_levels()
        rows = np.flatnonzero(unseen.any(axis=1))
        columns = np.flatnonzero(unseen.any(axis=0))
        levels = {j: rare[j][0] for j in columns}
        n_draws = min(_MAX_SUBSTITUTES, max(len(levels[j]) for j in columns))
        log_sums = [np.log(len(levels[j])) + rare[j][1] for j in columns]
        hit = unseen[np.ix_(rows, columns)]
        log_weight = np.where(hit, log_sums, 0.0).sum(axis=1) - np.log(n_draws)
        draws = []
        for i in range(n_draws):
            substitutes = {
                j: found[i * len(found) // n_draws] for j, found in levels.items()
            }
            draws.append(self._table_scores(_substituted(X, rows, unseen, substitutes)))
        scores = np.empty(_num_samples(X))
        scores[rows] = logsumexp(np.stack(draws), axis=0) + log_weight
        others = np.setdiff1d(np.arange(scores.size), rows)
        if others.size:
            scores[others] = self._table_scores(_take(X, others))
        return scores

    def _validate_rows(self, X):
        X = as_table(X, type(self).__name__)
        validate_data(self, X, skip_check_array=True, reset=False)
        return self.columns_.transform(X)

    def _score_chunk(self, rows, progress=None):
        log_p = flow_log_prob(
            self.velocity_,
            self._law(),
            as_tensor(rows, self.device_),
            self._n_steps("score"),
            self.solver,
            self.divergence,
            progress,
        )
        return as_numpy(log_p, np.float64) + self.columns_.log_det()

    def _n_steps(self, task):
        if self.n_steps == "auto":
            return _AUTO_STEPS[task]
        return self.n_steps

    def __sklearn_tags__(self):
        return table_tags(super().__sklearn_tags__())

    def _law(self):
        if self.noise_ is not None:
            return self.noise_.module_
        n_features = self.columns_.standardiser.n_varying_
        return self.process_.terminal_law(n_features).to(self.device_)


def _take(X, rows):
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _substituted(X, rows, unseen, substitutes):
    """The rows ``rows`` of ``X``, each unseen level replaced by its column's
    substitute."""
    table = _take(X, rows).copy()
    for j, level in substitutes.items():
        hit = unseen[rows, j]
        if hasattr(table, "iloc"):
            column = table.iloc[:, j].to_numpy(dtype=object, copy=True)
            column[hit] = level
            table.isetitem(j, column)
        else:
            if table.dtype != object and not isinstance(level, numbers.Number):
                table = table.astype(object)
            table[hit, j] = level
    return table


def _check_n_rows(X, name):
    n_samples = _num_samples(X)
    if n_samples < 2:
        raise ValueError(
            f"Found array with {n_samples} sample(s) while a minimum of 2 is "
            f"required by {name}."
        )
    return n_samples


def _dequantise(rows, widths, atoms, shares, seeds):
    """One uniform draw within each lattice cell and atom window, for the noise."""
    rng = np.random.default_rng(seeds.filling)
    width, centre = cells(rows, widths, atoms)
    u = rng.random(rows.shape)
    spread = rows + centre + (u - 0.5) * width
    return spread if shares is None else spread_shares(spread, shares, u)


def _torch_shares(shares, device):
    """The stretched columns' cells for training: levels in float64."""
    places, low, width, mean, scale = shares
    return (
        torch.as_tensor(places, device=device),
        as_tensor(low, device, torch.float64),
        as_tensor(width, device, torch.float64),
        as_tensor(mean, device, torch.float32),
        as_tensor(scale, device, torch.float32),
    )


def _float32_cells(atoms, device):
    """The atom cells for the float32 training rows: atoms as those rows hold them."""
    return tuple(as_tensor(a, device, torch.float32) for a in atoms)


def _float64_state(module):
    return {
        key: value.double() if value.is_floating_point() else value
        for key, value in module.state_dict().items()
    }


@torch.no_grad()
def flow_sample(velocity, law, n_samples, generator, n_steps, solver, progress=None):
    """Rows of the flow: noise draws carried from t=1 back to the data at t=0.

    ``progress``, if given, is called with the fraction of the solve done.
    """
    z = law.sample(n_samples, generator)
    return odeint(velocity, z.float(), 1.0, 0.0, n_steps, solver, callback=progress)[0]


def flow_log_prob(
    velocity,
    law,
    x,
    n_steps,
    solver,
    divergence,
    progress=None,
    quadrature="midpoint",
):
    """Log-density of each row of ``x`` under the flow, in float64.

    ``log p(x) = log p_noise(x_1) + int_0^1 div v(t, x_t) dt``, integrated
    from the data (t=0) to the noise (t=1) with a fixed-step solver, so a
    row's value does not depend on the rest of the batch: an adaptive solver
    (``"dopri5"``) is replaced by ``"rk4"``. The divergence, the costly part,
    is taken once per step, at its midpoint, unless ``quadrature="stages"``
    (see :func:`~adaptnoise.solvers.odeint_with_logdet`). Hutchinson probes
    are seeded alike on every call. ``progress``, if given, is called with the fraction
    of the solve done.
    """
    method = "rk4" if solver == "dopri5" else solver
    z, delta = odeint_with_logdet(
        copy.deepcopy(velocity).double(),
        x,
        0.0,
        1.0,
        n_steps,
        method,
        divergence,
        torch.Generator(device=x.device).manual_seed(0),
        callback=progress,
        quadrature=quadrature,
    )
    with torch.no_grad():
        return law.log_prob(z).sum(1) + delta
