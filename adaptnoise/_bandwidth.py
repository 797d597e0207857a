"""The data's own smoothing scale, which sets the default interpolant noise."""

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sklearn.metrics.pairwise import euclidean_distances

__all__ = ["auto_sigma", "kde_bandwidth"]

# Leave-one-out scores need all pairwise distances of the rows used: a
# thousand rows pin the bandwidth down well and cost a few megabytes.
_MAX_ROWS = 1000


def kde_bandwidth(Z, seed, max_rows=_MAX_ROWS):
    """The bandwidth of an isotropic Gaussian KDE of ``Z`` chosen by likelihood.

    The bandwidth maximises the leave-one-out log-likelihood of at most
    ``max_rows`` rows drawn without replacement, and is then carried to the
    full size ``n`` by the asymptotic rate of the optimal bandwidth,
    ``n^(-1 / (d + 4))``. It is the smoothing scale at which a kernel
    estimate of these rows generalises best: large for a few rows in many
    dimensions, small for many rows with sharp structure.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Rows, in the units the bandwidth is wanted in; repeated rows count once.
    seed : int
        Seeds the choice of rows.
    max_rows : int, default=1000
        Most rows scored.

    Returns
    -------
    bandwidth : float
        Standard deviation of the kernel, between 1e-3 and 10.
    """
    # A repeated row would be its own neighbour at distance 0 and pull the
    # bandwidth to nothing.
    Z = np.unique(Z, axis=0)
    n, d = Z.shape
    m = min(n, max_rows)
    if m < n:
        Z = Z[np.random.default_rng(seed).choice(n, m, replace=False)]
    squared = euclidean_distances(Z, squared=True)
    np.fill_diagonal(squared, np.inf)

    def loss(log_h):
        h2 = np.exp(2 * log_h)
        log_k = logsumexp(-squared / (2 * h2), axis=1) - d / 2 * np.log(h2)
        return -log_k.mean()

    best = minimize_scalar(loss, bounds=(np.log(1e-3), np.log(10)), method="bounded")
    return float(np.exp(best.x) * (m / n) ** (1 / (d + 4)))


def auto_sigma(Z, seed, passes):
    """The default interpolant noise for a fit that makes ``passes`` over ``Z``.

    Half the :func:`kde_bandwidth` of ``Z`` (the flow smooths by itself as
    well) once training revisits every row 200 times or more, where straight
    paths memorise their pairings; nothing at 100 passes or fewer, where they
    do not and the blur would only cost sharpness; linear in between.
    ``Z`` without columns (nothing to blur) gets none.
    """
    if Z.shape[1] == 0:
        return 0.0
    share = min(1.0, max(0.0, passes / 100 - 1))
    return share * kde_bandwidth(Z, seed) / 2 if share > 0 else 0.0
