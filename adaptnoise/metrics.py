"""Sample-quality measures that compare generated rows with held-out data."""

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils import check_array

__all__ = ["classifier_two_sample_auc", "energy_distance", "energy_scorer"]


def energy_distance(X, Y):
    r"""Energy distance between two samples (Székely and Rizzo).

    :math:`2 E|X - Y| - E|X - X'| - E|Y - Y'|` with Euclidean norms; zero
    exactly when the two laws agree. Memory grows as ``len(X) * len(Y)``:
    subsample to a few thousand rows.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples_X, n_features), (n_samples_Y, n_features)
        The two samples.

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
    X, Y = check_array(X), check_array(Y)
    between = cdist(X, Y).mean()
    return float(2 * between - _within(X) - _within(Y))


def _within(X):
    n = X.shape[0]
    return cdist(X, X).sum() / (n * (n - 1))


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
    random_state : int, default=0
        Seeds the folds and the classifier.

    Returns
    -------
    auc : float
        Out-of-fold ROC AUC.
    """
    X, Y = check_array(X), check_array(Y)
    data = np.vstack([X, Y])
    labels = np.r_[np.zeros(len(X)), np.ones(len(Y))]
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    classifier = HistGradientBoostingClassifier(random_state=random_state)
    scores = cross_val_predict(
        classifier, data, labels, cv=folds, method="predict_proba"
    )[:, 1]
    return float(roc_auc_score(labels, scores))


def energy_scorer(estimator, X, y=None):
    """Scorer for model selection by sample quality: minus the energy distance.

    Draws as many rows as ``X`` has (seeded, so scores are reproducible) and
    returns ``-energy_distance(samples, X)``: greater is better, as
    scikit-learn expects. Use it as ``GridSearchCV(..., scoring=energy_scorer)``
    when log-likelihoods are ``-inf`` (compact terminal laws) or not
    comparable between models.

    Parameters
    ----------
    estimator : fitted estimator with ``sample(n_samples, random_state)``
        The generator to judge.
    X : array-like of shape (n_samples, n_features)
        Held-out rows.
    y : None
        Ignored.

    Returns
    -------
    score : float
        Minus the energy distance.
    """
    X = check_array(X)
    return -energy_distance(estimator.sample(X.shape[0], random_state=0), X)
