"""Metrics of a model's samples, or of true rows, on one dataset of the benchmark."""

import time
import warnings

import numpy as np
import torch
from _catalogue import MODELS
from threadpoolctl import threadpool_limits

from adaptnoise import FlowMatchingGenerator
from adaptnoise.metrics import (
    classifier_two_sample_auc,
    distance_to_closest_record_ratio,
    energy_distance,
    sliced_wasserstein_distance,
)
from adaptnoise.solvers import odeint

__all__ = [
    "energy_distances",
    "evaluate",
    "floor_row",
    "held_out_log_likelihood",
    "sample_metrics",
    "velocity_evaluations",
]


def sample_metrics(draws, reference, data, settings):
    """Metrics of sampled rows (generated, or true rows for the floor).

    Parameters
    ----------
    draws : list of ndarray of shape (n_rows, n_features)
        Independent draws; the energy distance is their mean, the other
        metrics judge the first. Only a prefix of each is used by the
        metrics of quadratic cost.
    reference : ndarray of shape (n_reference, n_features)
        Held-out rows to compare with.
    data : Dataset
        Gives the training and held-out rows of the memorisation ratio.
    settings : dict
        Subsample sizes.

    Returns
    -------
    metrics : dict
        ``energy_distance`` (the mean), ``energy_distance_draws`` (each
        draw's), ``sliced_wasserstein``, ``c2st_auc`` and ``dcr_ratio``.
    """
    S = draws[0]
    energies = energy_distances(
        draws, data.energy_references_for(reference, len(draws)), settings
    )
    n_c2st = min(settings["n_c2st"], len(reference), len(S))
    n_sliced = min(len(reference), len(S))
    return {
        "energy_distance": float(np.mean(energies)),
        "energy_distance_draws": energies,
        "sliced_wasserstein": sliced_wasserstein_distance(
            S[:n_sliced], reference[:n_sliced]
        ),
        "c2st_auc": _c2st_auc(S[:n_c2st], reference[:n_c2st], settings["c2st_folds"]),
        "dcr_ratio": distance_to_closest_record_ratio(S, data.X_train, data.X_holdout),
    }


def energy_distances(draws, references, settings):
    """Each draw's energy distance to its own reference rows, on equal prefixes."""
    n = min(settings["n_energy"], *map(len, references), *map(len, draws))
    return [
        energy_distance(D[:n], R[:n]) for D, R in zip(draws, references, strict=True)
    ]


def _c2st_auc(S, reference, n_splits):
    # The boosted trees' OpenMP threads busy-wait at every barrier: on a
    # shared 2-core machine under load that made the test 20 times slower
    # than on one thread (36 s against 1.8 s on the digits table).
    with threadpool_limits(1, user_api="openmp"):
        return classifier_two_sample_auc(S, reference, n_splits=n_splits)


def held_out_log_likelihood(score_samples, X):
    """Mean log-likelihood of ``X``, or ``None`` and the reason it is undefined.

    Parameters
    ----------
    score_samples : callable or None
        Per-row log-density; ``None`` for a model without one.
    X : ndarray of shape (n_rows, n_features)
        Held-out rows.

    Returns
    -------
    mean : float or None
        The mean, or ``None`` when it is not a finite number.
    reason : str or None
        Why the mean is ``None``.
    """
    if score_samples is None:
        return None, "log-likelihood: the model defines no density"
    scores = np.asarray(score_samples(X), dtype=float)
    if np.isfinite(scores).all():
        return float(scores.mean()), None
    counts = {
        "-inf (outside the support the model gives density)": np.isneginf(scores),
        "NaN": np.isnan(scores),
        "+inf": np.isposinf(scores),
    }
    found = [
        f"{int(mask.sum())} score {what}" for what, mask in counts.items() if mask.any()
    ]
    return None, (
        f"log-likelihood undefined: of {len(X)} held-out rows, {', '.join(found)}"
    )


def velocity_evaluations(estimator):
    """Velocity evaluations per sampled row; ``None`` where not a fixed count.

    For our flows the solver counts them: a fixed-step solver makes the same
    number of calls whatever the field, so a zero field stands in for the
    model's. The adaptive ``"dopri5"`` has no fixed count.
    """
    if isinstance(estimator, FlowMatchingGenerator):
        if estimator.solver == "dopri5":
            return None
        return odeint(
            lambda t, x: torch.zeros_like(x),
            torch.zeros(1, 1),
            1.0,
            0.0,
            # n_steps="auto" resolves per task; these are sampling's steps.
            estimator._n_steps("sample"),
            estimator.solver,
        )[1]
    return getattr(estimator, "n_velocity_evaluations_", None)


def floor_row(data, settings):
    """The metrics of true rows, and the spread of the floor's energy distance.

    The spread (``energy_scale``) is the root mean square of the floor's
    energy distance over its replicates, each averaged over its draws as a
    model's is.
    """
    draws, reference = data.floor_replicates[0]
    row = {
        "label": "floor (true rows)",
        **sample_metrics(draws, reference, data, settings),
    }
    replicates = [row["energy_distance"]] + [
        float(
            np.mean(
                energy_distances(D, data.energy_references_for(R, len(D)), settings)
            )
        )
        for D, R in data.floor_replicates[1:]
    ]
    row["energy_replicates"] = replicates
    row["energy_scale"] = float(np.sqrt(np.mean(np.square(replicates))))
    row["energy_ratio_to_floor"] = row["energy_distance"] / row["energy_scale"]
    true_log_density = data.true_log_density
    if true_log_density is None:
        row["held_out_log_likelihood"] = None
        row["notes"] = ["log-likelihood: the true density is not known in closed form"]
    else:
        scores = true_log_density(data.reference[: settings["n_loglik"]])
        row["held_out_log_likelihood"] = float(scores.mean())
        row["notes"] = []
    return row


_API_NOTICES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def evaluate(key, data, settings, floor):
    """Fit one model on ``data`` and measure it; a failure becomes the row's error.

    Parameters
    ----------
    key : str
        Name of the model in :data:`MODELS`.
    data : Dataset
        The split.
    settings : dict
        Sizes and per-model parameters.
    floor : dict
        The dataset's floor row, for the ``ED / floor`` ratio.

    Returns
    -------
    row : dict
        The model's ``params`` as passed to it (estimators among them, not
        yet JSON), the measurements, ``notes`` (warnings, undefined values)
        and, if the model failed, ``error``.
    """
    spec = MODELS[key]
    params = {**spec.fixed, **settings["params"][data.kind].get(key, {})}
    row = {"label": spec.label, "params": params, "notes": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _measure(row, spec.factory(**params), data, settings, floor)
        except Exception as error:
            # One failing model must not cost the rest of an hour-long run.
            row["error"] = f"{type(error).__name__}: {error}"
    row["notes"] += _warning_notes(caught)
    return row


def _measure(row, estimator, data, settings, floor):
    """Fit ``estimator`` and fill ``row`` step by step.

    A step that raises leaves the earlier measurements in ``row``.
    """
    start = time.perf_counter()
    estimator.fit(data.X_train)
    row["fit_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    S = estimator.sample(settings["n_sample"], random_state=1)
    row["sample_seconds"] = time.perf_counter() - start
    n_energy = min(settings["n_energy"], len(data.reference))
    draws = [S] + [
        estimator.sample(n_energy, random_state=seed)
        for seed in range(2, 1 + settings["n_energy_draws"])
    ]
    row.update(sample_metrics(draws, data.reference, data, settings))
    row["energy_ratio_to_floor"] = row["energy_distance"] / floor["energy_scale"]
    row["held_out_log_likelihood"], reason = held_out_log_likelihood(
        getattr(estimator, "score_samples", None),
        data.reference[: settings["n_loglik"]],
    )
    row["notes"] += [reason] if reason else []
    row["velocity_evaluations"] = velocity_evaluations(estimator)
    row["n_iter"] = getattr(estimator, "n_iter_", None)
    row["max_iter"] = getattr(estimator, "max_iter", None)


def _warning_notes(caught):
    """Each distinct warning's first sentence, deprecation notices left out."""
    # Deprecation notices are about library APIs, not about this fit.
    seen = dict.fromkeys(
        f"{w.category.__name__}: {str(w.message).split('. ')[0].rstrip('.')}."
        for w in caught
        if not issubclass(w.category, _API_NOTICES)
    )
    return list(seen)
