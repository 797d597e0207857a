"""Sample-quality measures that compare generated rows with held-out data.

Every function takes two samples as arrays of shape ``(n_samples, n_features)``
with the same number of columns, the generated one first and the reference
(held-out data) second, and validates them with
:func:`~sklearn.utils.check_array`: NaN, infinity, sparse matrices, strings
and complex numbers are refused with a ``ValueError`` or ``TypeError`` that
names the problem. :func:`make_sample_scorer` turns any of the scalar ones
into a scorer for ``GridSearchCV(..., scoring=...)``, which ranks generators
by sample quality where log-likelihoods are ``-inf`` or not comparable.
"""

from numbers import Integral, Real

import numpy as np
import ot
from scipy import stats
from scipy.spatial.distance import cdist, pdist
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_array

from adaptnoise._sklearn_compat import Interval, StrOptions, validate_params

__all__ = [
    "classifier_two_sample_auc",
    "column_wasserstein_distances",
    "distance_to_closest_record_ratio",
    "energy_distance",
    "energy_scorer",
    "make_sample_scorer",
    "maximum_mean_discrepancy",
    "sliced_wasserstein_distance",
    "sliced_wasserstein_scorer",
    "tail_quantile_errors",
]

# Sparse matrices pass parameter validation so that check_array, not a
# generic "must be an array-like", tells the user that dense data is required.
_SAMPLE = ["array-like", "sparse matrix"]


def _check_samples(min_samples=1, **samples):
    """Validate named samples and require the same number of columns in each."""
    arrays = [
        check_array(value, ensure_min_samples=min_samples, input_name=name)
        for name, value in samples.items()
    ]
    widths = {name: array.shape[1] for name, array in zip(samples, arrays, strict=True)}
    if len(set(widths.values())) > 1:
        counts = ", ".join(f"{name} has {width}" for name, width in widths.items())
        raise ValueError(f"The samples must have the same number of columns; {counts}.")
    return arrays


def _rescale(*samples):
    """Rescale samples by one power of two; return its exponent and the samples.

    The exponent ``e`` brings the largest magnitude into [0.5, 1); the samples
    come back times ``2**-e``. Squared distances between rows near 1e200
    overflow and those between rows near 1e-200 underflow. Multiplying by a
    power of two is exact, so undoing it through a metric's homogeneity gives,
    on ordinary data, the very value that the unscaled computation would.
    """
    largest = max(np.abs(sample).max() for sample in samples)
    exponent = int(np.frexp(largest)[1])
    return exponent, [np.ldexp(sample, -exponent) for sample in samples]


@validate_params(
    {"X": _SAMPLE, "Y": _SAMPLE},
    prefer_skip_nested_validation=True,
)
def energy_distance(X, Y):
    r"""Energy distance between two samples (Székely and Rizzo).

    :math:`2 E|X - Y| - E|X - X'| - E|Y - Y'|` with Euclidean norms; zero
    exactly when the two laws agree. Memory grows as ``len(X) * len(Y)``:
    subsample to a few thousand rows.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples_X, n_features), (n_samples_Y, n_features)
        The two samples, at least 2 rows each.

    Returns
    -------
    distance : float
        The (squared-distance-like) energy distance, with U-statistics for the
        within-sample terms, so it is unbiased and may be slightly negative.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.normal(size=(500, 2)), rng.normal(1.0, 1.0, size=(500, 2))
    >>> energy_distance(X, Y) > energy_distance(X, rng.normal(size=(500, 2)))
    True
    """
    X, Y = _check_samples(2, X=X, Y=Y)
    exponent, (X, Y) = _rescale(X, Y)
    between = cdist(X, Y).mean()
    # Homogeneous of degree 1: scaling the data scales the distance.
    return float(np.ldexp(2 * between - _within(X) - _within(Y), exponent))


def _within(X):
    n = X.shape[0]
    return cdist(X, X).sum() / (n * (n - 1))


# POT raises the projected gaps to the power p. With the data rescaled into
# [0.5, 1) the smallest gap they resolve is about 2**-53, and its 16th power is
# still a normal float (2**-848); at higher orders such gaps would count as 0.
_MAX_ORDER = 16


@validate_params(
    {
        "X": _SAMPLE,
        "Y": _SAMPLE,
        "p": [Interval(Real, 1, _MAX_ORDER, closed="both")],
        "n_projections": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def sliced_wasserstein_distance(X, Y, *, p=2, n_projections=256, random_state=0):
    r"""Sliced Wasserstein-p distance between two samples, by POT.

    :math:`SW_p(\mu, \nu) = \left(E_\theta\, W_p^p(\theta_\# \mu,
    \theta_\# \nu)\right)^{1/p}` with :math:`\theta` uniform on the unit
    sphere: the 1D Wasserstein distances of the projected samples, averaged
    over ``n_projections`` random directions
    (:func:`ot.sliced_wasserstein_distance`). Each 1D distance is exact, so
    the cost is a sort per direction and memory stays linear in the rows.
    For a sample and its copy shifted by a vector :math:`m` in :math:`d`
    dimensions, :math:`SW_2 = |m| / \sqrt{d}`.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples_X, n_features), (n_samples_Y, n_features)
        The two samples.
    p : float, default=2
        Order of the Wasserstein distance, in [1, 16]: higher orders raise the
        projected gaps to powers that leave the range of floating point.
    n_projections : int, default=256
        Number of random directions of the Monte Carlo average.
    random_state : int, RandomState instance or None, default=0
        Seeds the directions; an int makes the value reproducible. ``None``
        draws fresh directions from the operating system's entropy, without
        touching NumPy's global generator.

    Returns
    -------
    distance : float
        The sliced Wasserstein-p distance, in the units of the data.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.RandomState(0).normal(size=(200, 1))
    >>> round(sliced_wasserstein_distance(X, X + 3.0), 6)
    3.0
    """
    X, Y = _check_samples(X=X, Y=Y)
    exponent, (X, Y) = _rescale(X, Y)
    if random_state is None:
        # POT would draw from NumPy's global generator.
        random_state = np.random.RandomState()
    distance = ot.sliced_wasserstein_distance(
        X, Y, n_projections=n_projections, p=p, seed=random_state
    )
    # Homogeneous of degree 1, as every Wasserstein distance is.
    return float(np.ldexp(distance, exponent))


@validate_params(
    {
        "X": _SAMPLE,
        "Y": _SAMPLE,
        "bandwidth": [
            StrOptions({"median"}),
            Interval(Real, 0, float(np.finfo(np.float64).max), closed="right"),
        ],
    },
    prefer_skip_nested_validation=True,
)
def maximum_mean_discrepancy(X, Y, *, bandwidth="median"):
    r"""Squared maximum mean discrepancy with a Gaussian (RBF) kernel.

    The unbiased U-statistic of Gretton et al. (2012),

    .. math::
        \frac{1}{m(m-1)} \sum_{i \ne j} k(x_i, x_j)
        + \frac{1}{n(n-1)} \sum_{i \ne j} k(y_i, y_j)
        - \frac{2}{mn} \sum_{i, j} k(x_i, y_j),

    with :math:`k(x, y) = \exp(-|x - y|^2 / (2 h^2))`. Its expectation is
    zero exactly when the two laws agree; being unbiased, it may be slightly
    negative. Memory grows as ``(len(X) + len(Y)) ** 2``: subsample to a few
    thousand rows.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples_X, n_features), (n_samples_Y, n_features)
        The two samples, at least 2 rows each.
    bandwidth : "median" or float, default="median"
        The kernel width :math:`h`, any positive finite float: a width far
        below the distances between rows makes the kernel the indicator of
        coinciding rows, one far above them makes it 1. ``"median"`` is the
        median heuristic: the median Euclidean distance between distinct rows
        of the pooled sample (the median of the non-zero distances when more
        than half of the pairs coincide; when all rows coincide the statistic
        is 0 for any width).

    Returns
    -------
    mmd2 : float
        The unbiased estimate of the squared MMD.

    References
    ----------
    | A Kernel Two-Sample Test (Gretton, Borgwardt, Rasch, Schölkopf, Smola,
      JMLR 2012). https://jmlr.org/papers/v13/gretton12a.html

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    >>> bool(maximum_mean_discrepancy(X, Y) < maximum_mean_discrepancy(X, Y + 1))
    True
    """
    X, Y = _check_samples(2, X=X, Y=Y)
    exponent, (X, Y) = _rescale(X, Y)
    if bandwidth == "median":
        bandwidth = np.ldexp(_median_distance(np.vstack([X, Y])), exponent)
    m, n = X.shape[0], Y.shape[0]
    # The kernel is 1 on the diagonal; the U-statistic leaves those terms out.
    xx = (_kernel(X, X, bandwidth, exponent).sum() - m) / (m * (m - 1))
    yy = (_kernel(Y, Y, bandwidth, exponent).sum() - n) / (n * (n - 1))
    xy = _kernel(X, Y, bandwidth, exponent).mean()
    return float(xx + yy - 2 * xy)


def _kernel(A, B, bandwidth, exponent):
    """Gaussian kernel matrix of rows given times ``2**-exponent``."""
    # Distances in the data's units stay finite where their squares would not;
    # a ratio to the width that overflows means a kernel value of exactly 0.
    distances = np.ldexp(cdist(A, B), exponent)
    with np.errstate(over="ignore"):
        return np.exp(-0.5 * np.square(distances / bandwidth))


def _median_distance(Z):
    distances = pdist(Z)
    median = np.median(distances)
    if median == 0:
        positive = distances[distances > 0]
        median = np.median(positive) if positive.size else 1.0
    return median


@validate_params(
    {"X": _SAMPLE, "Y": _SAMPLE},
    prefer_skip_nested_validation=True,
)
def column_wasserstein_distances(X, Y):
    """Wasserstein-1 distance between the two samples' marginals, per column.

    Each entry is :func:`scipy.stats.wasserstein_distance` of one column of
    ``X`` and the same column of ``Y``: the area between the two empirical
    CDFs, in the units of that column.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples_X, n_features), (n_samples_Y, n_features)
        The two samples.

    Returns
    -------
    distances : ndarray of shape (n_features,)
        W1 between the marginals of each column.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    >>> column_wasserstein_distances(X, X + [0.5, -2.0])
    array([0.5, 2. ])
    """
    X, Y = _check_samples(X=X, Y=Y)
    return np.array(
        [stats.wasserstein_distance(x, y) for x, y in zip(X.T, Y.T, strict=True)]
    )


@validate_params(
    {
        "X": _SAMPLE,
        "Y": _SAMPLE,
        "quantiles": _SAMPLE,
    },
    prefer_skip_nested_validation=True,
)
def tail_quantile_errors(X, Y, *, quantiles=(0.001, 0.01, 0.99, 0.999)):
    r"""Relative error of the tail quantiles of each column, Y as the reference.

    The error at level :math:`s` in column :math:`j` is
    :math:`|q_X(s) / q_Y(s) - 1|`, with empirical quantiles by
    :func:`numpy.quantile` (linear interpolation). Where the reference
    quantile :math:`q_Y(s)` is exactly 0 a ratio means nothing, so the error
    there is :math:`|q_X(s) - q_Y(s)|` divided by the standard deviation of
    the reference column instead (by 1 if that column is constant too).
    Extreme levels need many rows: the 0.1% quantile of 1000 rows rests on
    the one or two smallest.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        The sample to judge, for example generated rows.
    Y : array-like of shape (n_samples_Y, n_features)
        The reference sample, for example held-out rows.
    quantiles : array-like of float in [0, 1], \
            default=(0.001, 0.01, 0.99, 0.999)
        The levels to compare.

    Returns
    -------
    errors : ndarray of shape (len(quantiles), n_features)
        Relative errors, one row per level.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.random.RandomState(0).standard_t(3, size=(1000, 2)) + 5
    >>> tail_quantile_errors(1.1 * Y, Y, quantiles=[0.01, 0.99]).round(6)
    array([[0.1, 0.1],
           [0.1, 0.1]])
    """
    X, Y = _check_samples(X=X, Y=Y)
    quantiles = np.asarray(quantiles, dtype=np.float64)
    if quantiles.ndim != 1 or not np.all((quantiles >= 0) & (quantiles <= 1)):
        raise ValueError(
            f"quantiles must be a 1D sequence of levels in [0, 1]; got {quantiles!r}."
        )
    q_X, q_Y = np.quantile(X, quantiles, axis=0), np.quantile(Y, quantiles, axis=0)
    std = Y.std(axis=0)
    fallback = np.broadcast_to(np.where(std > 0, std, 1.0), q_Y.shape)
    scale = np.where(q_Y != 0, np.abs(q_Y), fallback)
    return np.abs(q_X - q_Y) / scale


@validate_params(
    {
        "generated": _SAMPLE,
        "X_train": _SAMPLE,
        "X_holdout": _SAMPLE,
    },
    prefer_skip_nested_validation=True,
)
def distance_to_closest_record_ratio(generated, X_train, X_holdout):
    """Distance-to-closest-record ratio: how closely samples hug the training rows.

    The median Euclidean distance from each generated row to its nearest
    training row, divided by the same median for held-out rows. About 1 when
    the generator draws as fresh data would; below 1 when samples sit closer
    to the training rows than new data do, that is memorisation. Nearest
    neighbours come from :class:`~sklearn.neighbors.NearestNeighbors` (a
    tree in low dimension), so memory stays linear in the rows.

    Parameters
    ----------
    generated : array-like of shape (n_generated, n_features)
        Rows drawn from the model.
    X_train : array-like of shape (n_train, n_features)
        The rows the model was fitted on.
    X_holdout : array-like of shape (n_holdout, n_features)
        Rows from the same law that the model has not seen, none of them a
        copy of a training row.

    Returns
    -------
    ratio : float
        The DCR ratio.

    Raises
    ------
    ValueError
        If the held-out rows' median distance is 0 (they duplicate training
        rows), where the ratio is undefined.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X_train, X_holdout = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    >>> copies = X_train + rng.normal(scale=1e-3, size=(200, 2))
    >>> bool(distance_to_closest_record_ratio(copies, X_train, X_holdout) < 0.1)
    True
    """
    generated, X_train, X_holdout = _check_samples(
        generated=generated, X_train=X_train, X_holdout=X_holdout
    )
    # The ratio is scale-free; rescaling keeps tiny distances from underflowing.
    _, (generated, X_train, X_holdout) = _rescale(generated, X_train, X_holdout)
    neighbours = NearestNeighbors(n_neighbors=1).fit(X_train)
    generated_dcr = np.median(neighbours.kneighbors(generated)[0])
    holdout_dcr = np.median(neighbours.kneighbors(X_holdout)[0])
    if holdout_dcr == 0:
        raise ValueError(
            "The median distance from X_holdout to X_train is 0: held-out rows "
            "duplicate training rows, so the ratio is undefined."
        )
    return float(generated_dcr / holdout_dcr)


@validate_params(
    {
        "X": _SAMPLE,
        "Y": _SAMPLE,
        "n_splits": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def classifier_two_sample_auc(X, Y, *, n_splits=5, random_state=0):
    """Cross-validated ROC AUC of a classifier told to separate X from Y.

    0.5 means the classifier cannot tell the samples apart; 1 means it
    always can. Gradient-boosted trees
    (:class:`~sklearn.ensemble.HistGradientBoostingClassifier`) are used.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples_X, n_features), (n_samples_Y, n_features)
        The two samples, for example generated rows and held-out rows.
    n_splits : int, default=5
        Folds of the stratified cross-validation.
    random_state : int, RandomState instance or None, default=0
        Seeds the folds and the classifier; an int makes the value
        reproducible. ``None`` draws a fresh seed from the operating system's
        entropy, without touching NumPy's global generator.

    Returns
    -------
    auc : float
        Out-of-fold ROC AUC.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.normal(size=(100, 2)), rng.normal(5.0, 1.0, size=(100, 2))
    >>> classifier_two_sample_auc(X, Y, n_splits=2)
    1.0
    """
    X, Y = _check_samples(X=X, Y=Y)
    if random_state is None:
        # The folds and the classifier would draw from NumPy's global generator.
        random_state = int(np.random.default_rng().integers(2**32))
    data = np.vstack([X, Y])
    labels = np.r_[np.zeros(len(X)), np.ones(len(Y))]
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    classifier = HistGradientBoostingClassifier(random_state=random_state)
    scores = cross_val_predict(
        classifier, data, labels, cv=folds, method="predict_proba"
    )[:, 1]
    return float(roc_auc_score(labels, scores))


class _SampleScorer:
    """Minus ``metric(estimator.sample(n), X)``; built by :func:`make_sample_scorer`.

    A class rather than a closure, so that it pickles for parallel searches.
    """

    def __init__(self, metric, n_samples, random_state, metric_kwargs):
        self.metric = metric
        self.n_samples = n_samples
        self.random_state = random_state
        self.metric_kwargs = metric_kwargs

    def __call__(self, estimator, X, y=None):
        X = check_array(X)
        n_samples = X.shape[0] if self.n_samples is None else self.n_samples
        samples = estimator.sample(n_samples, random_state=self.random_state)
        value = self.metric(samples, X, **self.metric_kwargs)
        if np.ndim(value) != 0:
            raise TypeError(
                f"{self._metric_name} returned an array of shape "
                f"{np.shape(value)}; a scorer needs a metric that returns one "
                "number."
            )
        return -float(value)

    def __repr__(self):
        options = {"n_samples": self.n_samples, "random_state": self.random_state}
        defaults = {"n_samples": None, "random_state": 0}
        shown = {k: v for k, v in options.items() if v != defaults[k]}
        arguments = "".join(
            f", {key}={value!r}"
            for key, value in {**shown, **self.metric_kwargs}.items()
        )
        return f"make_sample_scorer({self._metric_name}{arguments})"

    @property
    def _metric_name(self):
        return getattr(self.metric, "__name__", repr(self.metric))


@validate_params(
    {
        "metric": [callable],
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_sample_scorer(metric, n_samples=None, random_state=0, **metric_kwargs):
    """Build a scorer that ranks generators by a sample-quality metric.

    The scorer, called as ``scorer(estimator, X)`` the way
    :class:`~sklearn.model_selection.GridSearchCV` calls its ``scoring``,
    draws ``estimator.sample(n_samples, random_state=random_state)`` and
    returns ``-metric(samples, X, **metric_kwargs)``: greater is better, as
    scikit-learn expects of a score. It needs no likelihood, so it ranks
    models whose log-likelihoods are ``-inf`` (compact terminal laws) or not
    comparable.

    Parameters
    ----------
    metric : callable
        ``metric(generated, held_out, **metric_kwargs) -> float``, smaller
        is better: :func:`energy_distance`,
        :func:`sliced_wasserstein_distance`, :func:`maximum_mean_discrepancy`
        or one of your own.
    n_samples : int or None, default=None
        Rows to draw; ``None`` draws as many as the held-out fold has.
    random_state : int, RandomState instance or None, default=0
        Passed to ``estimator.sample``; the default int draws the same noise
        for every candidate, so scores differ only through the models.
    **metric_kwargs
        Further keyword arguments of ``metric``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``; it pickles, so parallel
        searches (``n_jobs``) can use it.

    Examples
    --------
    >>> import numpy as np
    >>> from adaptnoise import FixedNoise
    >>> from adaptnoise.metrics import make_sample_scorer
    >>> X = np.random.RandomState(0).normal(size=(300, 2))
    >>> scorer = make_sample_scorer(maximum_mean_discrepancy, bandwidth=1.0)
    >>> scorer
    make_sample_scorer(maximum_mean_discrepancy, bandwidth=1.0)
    >>> bool(scorer(FixedNoise().fit(X), X) > scorer(FixedNoise().fit(X), X + 1))
    True
    """
    return _SampleScorer(metric, n_samples, random_state, metric_kwargs)


#: Minus the energy distance between seeded samples and the held-out rows;
#: ``GridSearchCV(..., scoring=energy_scorer)``.
energy_scorer = make_sample_scorer(energy_distance)

#: Minus the sliced Wasserstein-2 distance between seeded samples and the
#: held-out rows; memory linear in the rows, unlike :data:`energy_scorer`.
sliced_wasserstein_scorer = make_sample_scorer(sliced_wasserstein_distance)
