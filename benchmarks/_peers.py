"""Peer generators for ``benchmarks/run.py``, behind one small interface.

Every peer is a scikit-learn style estimator with ``fit(X)``,
``sample(n_samples, random_state)`` and, where the model defines a density,
``score_samples(X)`` in the units of ``X``; ``score_samples`` is absent
otherwise. The scikit-learn peers (:class:`GaussianMixtureBIC`,
:class:`KernelDensityCV`) always run. The optional peers (torchcfm,
ForestDiffusion's ForestFlow, zuko's neural spline flow) are not
dependencies of adaptnoise: each is importable only where its package is
installed, which :data:`OPTIONAL_PEERS` records, so the benchmark can skip
the absent ones with a note instead of failing.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from adaptnoise.solvers import odeint

try:
    from torchcfm.conditional_flow_matching import (
        ExactOptimalTransportConditionalFlowMatcher,
    )
except ImportError:
    ExactOptimalTransportConditionalFlowMatcher = None

try:
    from ForestDiffusion import ForestDiffusionModel
except ImportError:
    ForestDiffusionModel = None

try:
    import zuko
except ImportError:
    zuko = None

# Which optional peer needs which package: a peer whose package did not
# import is skipped by the benchmark, with the package named in the note.
OPTIONAL_PEERS = {
    "torchcfm": ExactOptimalTransportConditionalFlowMatcher is not None,
    "ForestDiffusion": ForestDiffusionModel is not None,
    "zuko": zuko is not None,
}

# Candidate KDE bandwidths in standardised units: 0.01 to 3.2, log-spaced.
BANDWIDTHS = tuple(np.logspace(-2, 0.5, 11).round(4).tolist())


class _Standardized(BaseEstimator):
    """Fit on standardised columns and answer in the units of the data.

    Isotropic kernels and the peers' default network widths assume columns
    of similar scale, as our generator arranges for itself internally; this
    gives the peers the same footing. Subclasses implement ``_fit``,
    ``_sample`` and (for a density) ``_score_samples`` on standardised rows.
    """

    def fit(self, X, y=None):
        """Standardise ``X`` and fit the model to it.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Training rows.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self.scaler_ = StandardScaler().fit(X)
        self._fit(self.scaler_.transform(X))
        return self

    def sample(self, n_samples, random_state=None):
        """Draw rows in the units of the training data.

        Parameters
        ----------
        n_samples : int
            Number of rows.
        random_state : int or None, default=None
            Seed of the draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows.
        """
        return self.scaler_.inverse_transform(self._sample(n_samples, random_state))

    def _log_jacobian(self):
        # Standardising divides each column by its scale, which changes
        # densities by the product of the scales.
        return -np.log(self.scaler_.scale_).sum()


class _WithDensity(_Standardized):
    """A standardised peer that defines a density (``_score_samples``)."""

    def score_samples(self, X):
        """Log-density of each row, in the units of the training data.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            Log-densities.
        """
        return self._score_samples(self.scaler_.transform(X)) + self._log_jacobian()


class GaussianMixtureBIC(_WithDensity):
    """Full-covariance Gaussian mixture whose size is chosen by BIC.

    Parameters
    ----------
    n_components : tuple of int, default=(1, 2, 4, 8, 16, 32)
        Candidate numbers of components; those above a tenth of the training
        rows are not tried, as their covariances would rest on a handful of
        rows each.
    random_state : int, default=0
        Seeds the k-means initialisation of every candidate.
    """

    def __init__(self, n_components=(1, 2, 4, 8, 16, 32), random_state=0):
        self.n_components = n_components
        self.random_state = random_state

    def _fit(self, X):
        candidates = [k for k in self.n_components if k <= max(1, len(X) // 10)]
        fits = [
            GaussianMixture(
                k, covariance_type="full", random_state=self.random_state
            ).fit(X)
            for k in candidates
        ]
        self.bic_ = {k: fit.bic(X) for k, fit in zip(candidates, fits, strict=True)}
        self.mixture_ = fits[int(np.argmin(list(self.bic_.values())))]

    def _sample(self, n_samples, random_state):
        # GaussianMixture.sample draws from its own random_state and returns
        # the rows grouped by component, so a prefix would not be a sample of
        # the mixture: reseed it and shuffle.
        self.mixture_.set_params(random_state=random_state)
        rows, _ = self.mixture_.sample(n_samples)
        return check_random_state(random_state).permutation(rows)

    def _score_samples(self, X):
        return self.mixture_.score_samples(X)


class KernelDensityCV(_WithDensity):
    """Gaussian kernel density with the bandwidth chosen by cross-validation.

    Parameters
    ----------
    bandwidths : tuple of float, default=BANDWIDTHS
        Candidate bandwidths in standardised units, ranked by the held-out
        log-likelihood of :class:`~sklearn.model_selection.GridSearchCV`.
    cv : int, default=3
        Folds of the search.
    max_search_rows : int, default=5000
        The search runs on at most this many training rows (a fixed random
        subset) and the chosen bandwidth is then fitted to all of them: at
        large bandwidths the kernel sums cost quadratically in the rows, and
        the search on 20000 rows took 90 CPU seconds. The bandwidth best for
        fewer rows is somewhat larger than the best for all.
    rtol : float, default=1e-4
        Relative tolerance of the tree's kernel sums, which makes them
        faster than exact ones for no visible change.
    random_state : int, default=0
        Picks the search's subset.
    """

    def __init__(
        self,
        bandwidths=BANDWIDTHS,
        cv=3,
        max_search_rows=5000,
        rtol=1e-4,
        random_state=0,
    ):
        self.bandwidths = bandwidths
        self.cv = cv
        self.max_search_rows = max_search_rows
        self.rtol = rtol
        self.random_state = random_state

    def _fit(self, X):
        rows = check_random_state(self.random_state).permutation(len(X))
        search = GridSearchCV(
            KernelDensity(rtol=self.rtol),
            {"bandwidth": list(self.bandwidths)},
            cv=self.cv,
        ).fit(X[rows[: self.max_search_rows]])
        self.bandwidth_ = search.best_params_["bandwidth"]
        self.kde_ = KernelDensity(bandwidth=self.bandwidth_, rtol=self.rtol).fit(X)

    def _sample(self, n_samples, random_state):
        return self.kde_.sample(n_samples, random_state=random_state)

    def _score_samples(self, X):
        return self.kde_.score_samples(X)


def _velocity_mlp(n_features, hidden_layer_sizes):
    """A plain SiLU network ``v(t, x)`` with the time as an extra input."""
    widths = (n_features + 1, *hidden_layer_sizes)
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.SiLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(widths[-1], n_features))


def _batches(X, max_iter, batch_size, generator):
    """``max_iter`` minibatches of rows of ``X`` drawn with replacement."""
    for _ in range(max_iter):
        yield X[torch.randint(len(X), (min(batch_size, len(X)),), generator=generator)]


class TorchCFM(_Standardized):
    """OT conditional flow matching by torchcfm (Tong et al.), Gaussian noise.

    torchcfm supplies the minibatch OT pairing and the regression target; the
    network mirrors our generator's width and is integrated with the same
    fixed-step RK4 solver, so the two differ in their training code only.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 256, 256)
        Widths of the velocity network.
    max_iter : int, default=5000
        Adam steps.
    batch_size : int, default=256
        Rows per minibatch.
    learning_rate : float, default=1e-3
        Adam's step size.
    n_steps : int, default=20
        RK4 steps when sampling.
    random_state : int, default=0
        Seeds the network, the minibatches and the noise.
    """

    def __init__(
        self,
        hidden_layer_sizes=(256, 256, 256),
        max_iter=5000,
        batch_size=256,
        learning_rate=1e-3,
        n_steps=20,
        random_state=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_steps = n_steps
        self.random_state = random_state

    def _fit(self, X):
        generator = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng():
            # torchcfm draws times and pairings from torch's global generator.
            torch.manual_seed(self.random_state)
            self.net_ = _velocity_mlp(X.shape[1], self.hidden_layer_sizes)
            matcher = ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)
            optimizer = torch.optim.Adam(self.net_.parameters(), self.learning_rate)
            data = torch.as_tensor(X, dtype=torch.float32)
            for x1 in _batches(data, self.max_iter, self.batch_size, generator):
                x0 = torch.randn(x1.shape, generator=generator)
                t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
                loss = (self.net_(torch.cat([xt, t[:, None]], 1)) - ut).square()
                optimizer.zero_grad()
                loss.mean().backward()
                optimizer.step()
        self.n_velocity_evaluations_ = 4 * self.n_steps  # RK4: 4 per step

    def _velocity(self, t, x):
        return self.net_(torch.cat([x, t[:, None]], 1))

    @torch.no_grad()
    def _sample(self, n_samples, random_state):
        generator = torch.Generator().manual_seed(random_state)
        z = torch.randn(n_samples, self.scaler_.n_features_in_, generator=generator)
        # torchcfm's time runs from noise (t=0) to data (t=1).
        x, _ = odeint(self._velocity, z, 0.0, 1.0, self.n_steps, "rk4")
        return x.double().numpy()


class ForestFlow(BaseEstimator):
    """ForestDiffusion's flow with gradient-boosted trees (no density).

    ForestDiffusion scales the data itself and fits its trees in the
    constructor of ``ForestDiffusionModel``.

    Parameters
    ----------
    n_t : int, default=50
        Noise levels (and Euler steps when sampling).
    max_duplicated_rows : int, default=200000
        ``duplicate_K`` (copies of each row with fresh noise, 100 by default
        in ForestDiffusion) is lowered so that the copies stay below this
        many rows: 100 copies of 20000 rows would not fit the time budget.
    n_jobs : int, default=2
        Parallel tree fits.
    random_state : int, default=0
        ForestDiffusion's seed.
    """

    def __init__(self, n_t=50, max_duplicated_rows=200000, n_jobs=2, random_state=0):
        self.n_t = n_t
        self.max_duplicated_rows = max_duplicated_rows
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit the trees (see the class docstring); ``y`` is ignored."""
        self.duplicate_k_ = int(np.clip(self.max_duplicated_rows // len(X), 1, 100))
        self.model_ = ForestDiffusionModel(
            X,
            n_t=self.n_t,
            duplicate_K=self.duplicate_k_,
            diffusion_type="flow",
            n_jobs=self.n_jobs,
            seed=self.random_state,
        )
        return self

    def sample(self, n_samples, random_state=None):
        """Draw ``n_samples`` rows, seeding NumPy's global generator.

        ForestDiffusion draws its noise from NumPy's global state, so that is
        the only way to make its samples reproducible.
        """
        np.random.seed(random_state)  # noqa: NPY002
        return self.model_.generate(batch_size=n_samples)


class ZukoNSF(_WithDensity):
    """zuko's neural spline flow (Durkan et al.) trained by maximum likelihood.

    Parameters
    ----------
    transforms : int, default=3
        Autoregressive spline transforms.
    hidden_features : tuple of int, default=(128, 128)
        Widths of each transform's conditioner network.
    max_iter : int, default=5000
        Adam steps.
    batch_size : int, default=256
        Rows per minibatch.
    learning_rate : float, default=1e-3
        Adam's step size.
    random_state : int, default=0
        Seeds the network and the minibatches.
    """

    def __init__(
        self,
        transforms=3,
        hidden_features=(128, 128),
        max_iter=5000,
        batch_size=256,
        learning_rate=1e-3,
        random_state=0,
    ):
        self.transforms = transforms
        self.hidden_features = hidden_features
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _fit(self, X):
        generator = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            self.flow_ = zuko.flows.NSF(
                X.shape[1],
                transforms=self.transforms,
                hidden_features=list(self.hidden_features),
            )
        optimizer = torch.optim.Adam(self.flow_.parameters(), self.learning_rate)
        data = torch.as_tensor(X, dtype=torch.float32)
        for batch in _batches(data, self.max_iter, self.batch_size, generator):
            loss = -self.flow_().log_prob(batch).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def _sample(self, n_samples, random_state):
        with torch.random.fork_rng():
            # zuko's distributions draw from torch's global generator.
            torch.manual_seed(random_state)
            return self.flow_().sample((n_samples,)).double().numpy()

    @torch.no_grad()
    def _score_samples(self, X):
        return self.flow_().log_prob(torch.as_tensor(X, dtype=torch.float32)).numpy()
