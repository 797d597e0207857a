"""Compare adaptnoise's generators with the peers a data scientist would try.

Datasets, each with a fixed training / held-out split:

- the three laws of :mod:`adaptnoise.datasets` (checkerboard, Gaussian grid,
  funnel) and scikit-learn's ``make_moons(noise=0.05)``: 20000 training rows
  and 10000 held-out rows, drawn with fixed seeds;
- three tables bundled with scikit-learn (wine, breast cancer, digits with 64
  columns): a stratified 70/30 split, standardised with a scaler fitted on
  the training rows. The digits' integer pixels are dequantised first
  (uniform noise on [0, 1) added to each, seed 0), as is standard for
  density models of discrete data: otherwise the classifier test tells every
  continuous sampler from the integer-valued data.

Models: ``FlowMatchingGenerator`` at its defaults (learned noise + OT), with
Gaussian noise (OT, and independent coupling), and with each process (OU,
Kac with independent coupling, uniform) at its default; scikit-learn's
``GaussianMixture`` (components by BIC) and ``KernelDensity`` (bandwidth by
cross-validation); and torchcfm, ForestDiffusion's ForestFlow and zuko's
neural spline flow where those packages are importable (they are not
dependencies; absent ones are skipped with a note). The peers live in
``benchmarks/_peers.py``.

Metrics, all from :mod:`adaptnoise.metrics`: energy distance, sliced
Wasserstein-2 and classifier two-sample AUC between generated and held-out
rows, the energy distance averaged over 10 sample draws and the others on
the first: a fitted flow passes the fluctuation of its noise draw on to its
samples, so one draw's energy distance swings with the seed far more than
true samples' do. On the synthetic sets each draw meets its own fresh
held-out rows: against one fixed set, that set's fluctuation, which a
near-straight flow does not average out, ranked the models. Also the
held-out mean log-likelihood where the model defines one; the
distance-to-closest-record ratio (memorisation); fit seconds, seconds to
sample 10000 rows, and velocity evaluations per sample for the flows.

A **floor** row per dataset gives the same metrics for rows of the true law
in place of generated ones: fresh draws (other seeds) for the synthetic
sets, one half of the held-out rows against the other half for the tables.
The energy distance is an unbiased U-statistic, so true samples score 0 on
average; the floor's spread (root mean square over 10 replicates) is the
smallest difference the benchmark can resolve, and ``ED / floor`` divides
each model's energy distance by it: about 1 or below is indistinguishable
from fresh data at this sample size. On the synthetic sets a replicate
averages 10 fresh draws against the same per-draw held-out rows, exactly
as a model's energy distance does, so the ratio compares like with like.
The tables hold too few rows for 10 independent true samples: their floor
is one half against the other, whose spread, that of a single draw,
exceeds a 10-draw mean's, so there the ratio is lenient.

Budget: the full run is sized for under an hour on 2 CPU cores. The linear
variants train for the default 7500 steps on the 2D sets; the process
variants there, and every flow on the tables, for 2000 (the report shows each
model's steps). The energy distance uses 3000 rows a side, the classifier
test 3000, the log-likelihood 1000 held-out rows. Everything runs on one
thread by default (``--threads``), so that seconds measure work and do not
depend on other jobs sharing the machine.

Usage::

    python benchmarks/run.py               # full: results/run.{json,md} and README
    python benchmarks/run.py --quick       # tiny smoke run, writes nothing by default
    python benchmarks/run.py --datasets moons wine --models default gmm --output /tmp/b
    python benchmarks/run.py --readme-only # README block from results/run.json

Only the full run over every dataset and model writes to
``benchmarks/results`` by default, and rewrites the README's results block
(between its ``results:start`` and ``results:end`` markers); a quick or
filtered run writes only where ``--output`` says.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import textwrap
import time
import warnings
from dataclasses import dataclass, field

import _peers
import numpy as np
import sklearn
import torch
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from adaptnoise import FlowMatchingGenerator, QuantileNoise
from adaptnoise.datasets import (
    log_density,
    make_checkerboard,
    make_funnel,
    make_gaussian_grid,
)
from adaptnoise.metrics import (
    classifier_two_sample_auc,
    distance_to_closest_record_ratio,
    energy_distance,
    sliced_wasserstein_distance,
)
from adaptnoise.solvers import odeint

RESULTS = pathlib.Path(__file__).parent / "results"
README = pathlib.Path(__file__).parents[1] / "README.md"

# Training steps: the linear variants keep the default (7500) on the 2D sets;
# the process variants there, and every flow on the small tables (124 to 1257
# training rows, where 2000 steps are already hundreds of epochs), take 2000,
# so that the full run stays under an hour on 2 CPU cores. The report shows
# each model's steps.
_SHORT = {"max_iter": 2000}
_NEURAL = ("default", "gaussian-ot", "gaussian-independent", "ou", "kac", "uniform")
_TINY_FLOW = {"max_iter": 10, "hidden_layer_sizes": (32, 32), "n_steps": 2}
_QUICK_PARAMS = {
    **dict.fromkeys(_NEURAL, _TINY_FLOW),
    # The learned noise's own L-BFGS fit takes seconds on the 64 digits
    # columns at its defaults; a smoke run only needs it to run.
    "default": {**_TINY_FLOW, "noise": QuantileNoise(max_iter=5)},
    "gmm": {"n_components": (1, 2)},
    "kde": {"bandwidths": (0.1, 0.3, 1.0)},
    "torchcfm": {"max_iter": 10, "hidden_layer_sizes": (32, 32), "n_steps": 2},
    "forestflow": {"n_t": 5, "max_duplicated_rows": 5000},
    "zuko": {"max_iter": 10, "hidden_features": (32, 32)},
}

SETTINGS = {
    "full": {
        "n_train": 20000,  # synthetic sets; the tables keep their own size
        "n_holdout": 10000,
        "n_sample": 10000,  # rows drawn (and timed) per model
        "n_energy": 3000,  # rows per side: the energy distance is quadratic
        "n_energy_draws": 10,  # sample draws that each energy distance averages
        "n_c2st": 3000,  # rows per side of the classifier test
        "c2st_folds": 5,
        "n_loglik": 1000,  # reference rows scored (the exact divergence is costly)
        "n_floor_replicates": 10,  # floor statistics behind its spread
        "params": {  # per kind of dataset, per model
            "synthetic": dict.fromkeys(("ou", "kac", "uniform"), _SHORT),
            "table": dict.fromkeys((*_NEURAL, "torchcfm", "zuko"), _SHORT),
        },
    },
    "quick": {
        "n_train": 600,
        "n_holdout": 400,
        "n_sample": 400,
        "n_energy": 400,
        "n_energy_draws": 5,
        "n_c2st": 200,
        # Halves the test's cost, which dominates a quick run; the trees' leaves
        # need 20 rows, so on the wine table's 27 rows a side it sees nothing.
        "c2st_folds": 2,
        "n_loglik": 100,
        "n_floor_replicates": 3,
        "params": {"synthetic": _QUICK_PARAMS, "table": _QUICK_PARAMS},
    },
}


@dataclass
class Dataset:
    """A fixed split, and the true samples that make the floor.

    ``floor_replicates[k]`` is ``(true draws, reference rows)``: a list of
    true samples, each scored against the reference as a model's sample
    draws are. Models are compared with the reference of replicate 0, whose
    first draw is the floor row, and all replicates give the floor's spread.
    ``energy_references[j]``, where set, replaces the reference for the
    energy distance of draw ``j``, model's and floor's alike: fresh held-out
    rows per draw on the synthetic sets.
    """

    name: str
    kind: str  # "synthetic" or "table": selects the training budgets
    X_train: np.ndarray
    X_holdout: np.ndarray
    floor_replicates: list
    description: str
    true_log_density: object = None
    energy_references: list = None

    @property
    def reference(self):
        """Held-out rows that every sample is compared with."""
        return self.floor_replicates[0][1]

    def energy_references_for(self, reference, n_draws):
        """The rows that each of ``n_draws`` draws meets in the energy distance."""
        if self.energy_references is None:
            return [reference] * n_draws
        return self.energy_references[:n_draws]


def _synthetic(name, make, settings, true_log_density=None):
    X_train = make(settings["n_train"], random_state=0)
    X_holdout = make(settings["n_holdout"], random_state=1)
    n_draws = settings["n_energy_draws"]
    replicates = [
        (
            [
                make(len(X_holdout), random_state=2 + k * n_draws + j)
                for j in range(n_draws)
            ],
            X_holdout,
        )
        for k in range(settings["n_floor_replicates"])
    ]
    references = [
        make(settings["n_energy"], random_state=1000 + j) for j in range(n_draws)
    ]
    description = (
        f"{len(X_train)} training rows, {len(X_holdout)} held-out rows "
        f"(seeds 0 and 1); floor: {len(replicates)} replicates of {n_draws} "
        f"fresh draws each (seeds 2 to {1 + len(replicates) * n_draws}); the "
        f"energy distance meets {n_draws} sets of fresh held-out rows, one per "
        f"draw (seeds 1000 to {999 + n_draws})."
    )
    return Dataset(
        name,
        "synthetic",
        X_train,
        X_holdout,
        replicates,
        description,
        true_log_density,
        references,
    )


def _table(name, load, settings, remark="", dequantise=False):
    X, y = load(return_X_y=True)
    if dequantise:
        X = X + np.random.default_rng(0).uniform(size=X.shape)
    X_train, X_holdout = train_test_split(X, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_holdout = scaler.transform(X_train), scaler.transform(X_holdout)
    half = len(X_holdout) // 2
    replicates = []
    for k in range(settings["n_floor_replicates"]):
        order = np.random.default_rng(k).permutation(len(X_holdout))
        replicates.append(
            ([X_holdout[order[half : 2 * half]]], X_holdout[order[:half]])
        )
    description = (
        f"{len(X_train)} training rows, {len(X_holdout)} held-out rows "
        "(stratified 70/30 split, seed 0), standardised on the training rows; "
        f"samples are compared with {half} held-out rows and the floor is the "
        f"other half (one draw: its spread is over {len(replicates)} random "
        f"halvings).{remark}"
    )
    n_constant = int(np.count_nonzero(np.ptp(X_train, axis=0) == 0))
    if n_constant:
        description += f" {n_constant} columns are constant in the training rows."
    return Dataset(name, "table", X_train, X_holdout, replicates, description)


def _moons(n_samples, random_state):
    return make_moons(n_samples, noise=0.05, random_state=random_state)[0]


DATASETS = {
    "checkerboard": lambda s: _synthetic(
        "checkerboard", make_checkerboard, s, lambda X: log_density("checkerboard", X)
    ),
    "gaussian_grid": lambda s: _synthetic(
        "gaussian_grid",
        make_gaussian_grid,
        s,
        lambda X: log_density("gaussian_grid", X),
    ),
    "funnel": lambda s: _synthetic(
        "funnel", make_funnel, s, lambda X: log_density("funnel", X)
    ),
    "moons": lambda s: _synthetic("moons", _moons, s),
    "wine": lambda s: _table("wine", load_wine, s),
    "breast_cancer": lambda s: _table("breast_cancer", load_breast_cancer, s),
    "digits": lambda s: _table(
        "digits",
        load_digits,
        s,
        " Pixel intensities, integers from 0 to 16, are dequantised before the "
        "split: uniform noise on [0, 1) (seed 0) is added to each, as is standard "
        "for density models of discrete data, or the classifier test would tell "
        "any continuous sampler from the integer-valued data. The 3 pixels that "
        "are always 0 become uniform noise.",
        dequantise=True,
    ),
}


@dataclass(frozen=True)
class Model:
    """How to build one contender: ``factory(**fixed, **settings params)``.

    ``requires`` names the optional package the model needs, if any.
    """

    label: str
    factory: object
    fixed: dict = field(default_factory=dict)
    requires: str = None


def _ours(label, **variant):
    return Model(label, FlowMatchingGenerator, {"random_state": 0, **variant})


MODELS = {
    "default": _ours("ours: learned noise + OT (default)"),
    "gaussian-ot": _ours("ours: Gaussian noise + OT", noise="gaussian"),
    "gaussian-independent": _ours(
        "ours: Gaussian noise, independent", noise="gaussian", coupling="independent"
    ),
    "ou": _ours("ours: OU process", process="ou"),
    "kac": _ours(
        "ours: Kac process, independent", process="kac", coupling="independent"
    ),
    "uniform": _ours("ours: uniform process", process="uniform"),
    "gmm": Model("GaussianMixture (BIC)", _peers.GaussianMixtureBIC),
    "kde": Model("KernelDensity (CV bandwidth)", _peers.KernelDensityCV),
    "torchcfm": Model("torchcfm OT-CFM", _peers.TorchCFM, requires="torchcfm"),
    "forestflow": Model(
        "ForestFlow (ForestDiffusion)", _peers.ForestFlow, requires="ForestDiffusion"
    ),
    "zuko": Model("zuko NSF", _peers.ZukoNSF, requires="zuko"),
}


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
            estimator.n_steps,
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
        The measurements, with ``notes`` (warnings, undefined values) and,
        if the model failed, ``error``.
    """
    spec = MODELS[key]
    params = {**spec.fixed, **settings["params"][data.kind].get(key, {})}
    row = {"label": spec.label, "params": _jsonable(params), "notes": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator = spec.factory(**params)
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
            row["energy_ratio_to_floor"] = (
                row["energy_distance"] / floor["energy_scale"]
            )
            row["held_out_log_likelihood"], reason = held_out_log_likelihood(
                getattr(estimator, "score_samples", None),
                data.reference[: settings["n_loglik"]],
            )
            row["notes"] += [reason] if reason else []
            row["velocity_evaluations"] = velocity_evaluations(estimator)
            row["n_iter"] = getattr(estimator, "n_iter_", None)
            row["max_iter"] = getattr(estimator, "max_iter", None)
        except Exception as error:
            # One failing model must not cost the rest of an hour-long run.
            row["error"] = f"{type(error).__name__}: {error}"
    # Deprecation notices are about library APIs, not about this fit.
    seen = dict.fromkeys(
        f"{w.category.__name__}: {str(w.message).split('. ')[0].rstrip('.')}."
        for w in caught
        if not issubclass(w.category, _API_NOTICES)
    )
    row["notes"] += list(seen)
    return row


def machine():
    """The machine the benchmark ran on, for the report's header."""
    return {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
    }


def _jsonable(value):
    """Tuples to lists, NumPy scalars to numbers, estimators to their repr."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, BaseEstimator):
        return repr(value)
    return value


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


_COLUMNS = (
    ("energy distance", "energy_distance", ".4f"),
    ("ED / floor", "energy_ratio_to_floor", ".1f"),
    ("sliced W2", "sliced_wasserstein", ".3g"),
    ("C2ST AUC", "c2st_auc", ".3f"),
    ("held-out log-lik", "held_out_log_likelihood", ".3f"),
    ("DCR ratio", "dcr_ratio", ".3f"),
    ("fit s", "fit_seconds", ".1f"),
    ("sample s", "sample_seconds", ".2f"),
    ("NFE", "velocity_evaluations", "d"),
)


def _measured(report):
    m = report["machine"]
    return (
        f"Measured {m['date']} on {m['cpu_count']} CPUs ({m['machine']}, "
        f"{m['platform']}), {'GPU ' + m['gpu'] if m['gpu'] else 'no GPU'}, "
        f"torch {m['torch']} on {m['torch_threads']} thread(s), Python "
        f"{m['python']}, scikit-learn {m['scikit-learn']}; "
        f"`{report['command']}` took {report['total_seconds'] / 60:.1f} minutes."
    )


def _skipped(report):
    skipped = "; ".join(f"{k} ({why})" for k, why in report["skipped"].items())
    return f"Skipped: {skipped}."


def markdown(report):
    """The report as markdown: the machine, then one table per dataset.

    Parameters
    ----------
    report : dict
        What :func:`main` returns.

    Returns
    -------
    text : str
        Markdown that the README can include verbatim.
    """
    settings = report["settings"]
    draws = settings["n_energy_draws"]
    lines = [
        _measured(report),
        "",
        f"Energy distance (up to {settings['n_energy']} rows a side, the mean "
        f"over {draws} sample draws), sliced W2 and classifier two-sample AUC "
        f"(gradient-boosted trees, {settings['c2st_folds']} folds, up to "
        f"{settings['n_c2st']} rows a side), these two on the first draw, compare "
        "samples with held-out rows: lower is better, 0.5 is best for the AUC. "
        "`ED / floor` divides the energy distance by the floor's spread: the root "
        "mean square, over "
        f"{settings['n_floor_replicates']} replicates, of the energy distance of "
        "true samples (which score 0 on average). On the synthetic sets each "
        "draw meets its own fresh held-out rows, and each replicate averages "
        f"{draws} fresh draws as a model's does, so about 1 or "
        "less cannot be told from fresh data; the tables are too small for that, "
        "and their floor, one held-out half against the other, spreads as a single "
        f"draw does, more than a mean of {draws}: there the ratio is lenient. "
        "Held-out log-likelihood: mean nats per row over the same held-out rows "
        f"(at most {settings['n_loglik']}), higher is better; the floor's is that "
        "of the true density. DCR ratio: median distance to the closest training "
        "row over the same for held-out rows (below 1: samples hug the training "
        f"rows). Sample s: seconds to draw {settings['n_sample']} rows. NFE: "
        "velocity evaluations per sample (RK4 steps x 4). Steps: training steps "
        "run / allowed.",
    ]
    if report["skipped"]:
        lines += ["", _skipped(report)]
    header = ["model", *(title for title, _, _ in _COLUMNS), "steps"]
    for name, result in report["datasets"].items():
        lines += [
            "",
            f"### {name}",
            "",
            f"{result['n_features']} columns; {result['description']}",
            "",
            "| " + " | ".join(header) + " |",
            "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
        ]
        notes = {}  # note -> the models it applies to, to state each once
        for row in result["rows"].values():
            if "error" in row:
                cells = ["failed"] * len(_COLUMNS) + [""]
            else:
                cells = [_fmt(row.get(key), spec) for _, key, spec in _COLUMNS]
                steps = row.get("n_iter")
                cells.append("" if steps is None else f"{steps}/{row['max_iter']}")
            lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
            for note in [*row["notes"], *filter(None, [row.get("error")])]:
                notes.setdefault(note, []).append(row["label"])
        if notes:
            lines.append("")
            lines += [
                f"- {'; '.join(labels)}: {note}" for note, labels in notes.items()
            ]
    return "\n".join(lines) + "\n"


# The 2D sets, where the targets apply: the default's energy
# distance within 2x of the floor, and at most every peer's.
_CHECKED = ("checkerboard", "gaussian_grid", "funnel", "moons")


def _cell(row):
    if row is None:
        return "n/a"
    if "error" in row:
        return "failed"
    return f"{row['energy_ratio_to_floor']:.1f} / {row['c2st_auc']:.3f}"


def readme_section(report):
    """The README's summary of a report: one row per dataset, then the checks.

    Parameters
    ----------
    report : dict
        What :func:`main` returns, or ``benchmarks/results/run.json``.

    Returns
    -------
    text : str
        Markdown for the README's results block.
    """
    results = report["datasets"]
    others = [key for key in _NEURAL if key != "default"]
    peers = {}  # key -> label, for every peer that ran on some dataset
    for result in results.values():
        for key, row in result["rows"].items():
            if key != "floor" and key not in _NEURAL:
                peers.setdefault(key, row["label"])
    # Reports from before the energy distance was averaged scored one draw.
    draws = report["settings"].get("n_energy_draws", 1)
    legend = (
        "Each cell is `ED / floor` / C2ST AUC. `ED / floor`: the energy distance "
        "between samples and held-out rows, "
        f"{'on one sample draw' if draws == 1 else f'averaged over {draws} draws'} "
        "(on the 2D sets, each draw against its own fresh held-out rows), "
        "divided by the floor's spread, the root mean square of the same "
        "statistic for true samples of the law in place of the model's (0 on "
        "average); about 1 or less cannot be told from fresh data."
    )
    if draws > 1:
        legend += (
            f" The floor averages {draws} fresh true draws too on the 2D sets; the "
            "tables are too small for that, and their floor, one held-out half "
            f"against the other, spreads more than a mean of {draws} draws: there "
            "the ratio is lenient."
        )
    legend += (
        " C2ST AUC: a classifier's AUC at telling samples from held-out rows, 0.5 "
        "is best. The best other of ours is the variant with the lowest energy "
        "distance."
    )
    header = ["dataset", "floor", "ours: default", "ours: best other", *peers.values()]
    lines = [
        _wrap(_measured(report)),
        "",
        _wrap(legend),
        "",
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
    ]
    for name, result in results.items():
        rows = result["rows"]
        ran = [rows[key] for key in others if key in rows and "error" not in rows[key]]
        best = min(ran, key=lambda row: row["energy_distance"], default=None)
        cells = [_cell(rows["floor"]), _cell(rows.get("default")), _cell(best)]
        if best is not None:
            cells[-1] += f" ({best['label'].removeprefix('ours: ')})"
        cells += [_cell(rows.get(key)) for key in peers]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if report["skipped"]:
        lines += ["", _wrap(_skipped(report))]
    checked = [name for name in _CHECKED if name in results]
    if checked:
        lines += [
            "",
            _wrap(
                "Checks on the 2D sets. Within 2x means `ED / floor` is at most 2: "
                "the default's energy distance is at most twice what true samples "
                "score in root mean square."
            ),
            "",
        ]
        lines += [_wrap(_check(name, results[name]["rows"])) for name in checked]
    lines += [
        "",
        _wrap(
            "Full tables, with sliced W2, held-out log-likelihood, memorisation "
            "and timings for every variant: "
            "[benchmarks/results/run.md](benchmarks/results/run.md)."
        ),
    ]
    return "\n".join(lines) + "\n"


def _wrap(text):
    # The README's prose is wrapped at 88 columns; a list item's lines indent.
    return textwrap.fill(
        text,
        88,
        subsequent_indent="  " if text.startswith("- ") else "",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _check(name, rows):
    """One line: is the default within 2x of the floor and at most each peer?"""
    default = rows.get("default")
    if default is None or "error" in default:
        return f"- {name}: the default did not run."
    ratio = default["energy_ratio_to_floor"]
    within = "within" if ratio <= 2 else "**not within**"
    line = f"- {name}: the default's `ED / floor` is {ratio:.2f}, {within} 2x; "
    peers = {
        row["label"]: row["energy_ratio_to_floor"]
        for key, row in rows.items()
        if key != "floor" and key not in _NEURAL and "error" not in row
    }
    if not peers:
        return line + "no peer ran."
    above = [f"{label} at {r:.2f}" for label, r in peers.items() if r < ratio]
    if not above:
        return line + "at most every peer's."
    return line + "**above** " + " and ".join(above) + "."


_README_BLOCK = re.compile(
    r"(<!-- results:start.*?-->\n).*?(?=<!-- results:end -->)", re.DOTALL
)


def replace_readme_block(text, section):
    """``text`` with what lies between its results markers replaced by ``section``.

    Parameters
    ----------
    text : str
        The README, with one ``<!-- results:start ... -->`` line and one
        ``<!-- results:end -->`` marker after it.
    section : str
        The new block, ending with a newline.

    Returns
    -------
    text : str
        The README with the markers kept and blank lines around ``section``,
        so that markdown does not read it as part of the comments.
    """
    text, count = _README_BLOCK.subn(lambda match: f"{match[1]}\n{section}\n", text)
    if count != 1:
        raise ValueError(
            f"expected one results:start / results:end pair, found {count}"
        )
    return text


def write_readme(report, path=None):
    """Rewrite the results block of the README (``README`` by default)."""
    path = README if path is None else pathlib.Path(path)
    path.write_text(replace_readme_block(path.read_text(), readme_section(report)))
    print(f"wrote the results block of {path}", flush=True)


def run_dataset(name, models, settings):
    """The floor row and one row per model for one dataset."""
    data = DATASETS[name](settings)
    floor = floor_row(data, settings)
    rows = {"floor": floor}
    print(f"[{name}] floor: ED 0 +- {floor['energy_scale']:.4f}", flush=True)
    for key in models:
        rows[key] = row = evaluate(key, data, settings, floor)
        summary = row.get("error") or (
            f"fit {row['fit_seconds']:.1f} s, ED {row['energy_distance']:.4f} "
            f"({row['energy_ratio_to_floor']:.1f}x floor), "
            f"AUC {row['c2st_auc']:.3f}"
        )
        print(f"[{name}] {key}: {summary}", flush=True)
    return {
        "description": data.description,
        "n_train": len(data.X_train),
        "n_holdout": len(data.X_holdout),
        "n_features": data.X_train.shape[1],
        "rows": _jsonable(rows),
    }


def main(quick=False, datasets=None, models=None, output=None, threads=1):
    """Run the benchmark and write ``run.json``, ``run.md`` and the README block.

    Parameters
    ----------
    quick : bool, default=False
        Tiny sizes and training budgets, for a smoke run.
    datasets, models : list of str or None, default=None
        Keys of :data:`DATASETS` and :data:`MODELS` to run; ``None`` runs all.
    output : path-like or None, default=None
        Folder for ``run.json`` and ``run.md``. ``None`` means
        ``benchmarks/results``, and the README's results block, for a full
        run over everything, and no files otherwise, so a quick or partial
        run never overwrites the results.
    threads : int, default=1
        Threads for torch and for the BLAS and OpenMP pools of NumPy, SciPy
        and scikit-learn, restored afterwards. One thread makes every model's
        seconds a measure of its work, and keeps them stable when other jobs
        share the machine: on 2 cores under load, two torch threads made a
        training step 8 times slower than one.

    Returns
    -------
    report : dict
        Machine, settings, skipped models and, per dataset, one row per model
        after the floor row.
    """
    start = time.perf_counter()
    mode = "quick" if quick else "full"
    command = " ".join(
        [
            "python benchmarks/run.py",
            *(["--quick"] if quick else []),
            *(["--datasets", *datasets] if datasets else []),
            *(["--models", *models] if models else []),
            *(["--threads", str(threads)] if threads != 1 else []),
        ]
    )
    settings = SETTINGS[mode]
    publish = output is None and not quick and datasets is None and models is None
    if publish:
        output = RESULTS
    models = list(MODELS) if models is None else list(models)
    skipped = {}
    for key in list(models):
        package = MODELS[key].requires
        if package and not _peers.OPTIONAL_PEERS[package]:
            skipped[key] = f"{package} is not importable here"
            print(f"skipping {key}: {skipped[key]}", flush=True)
            models.remove(key)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            report = {
                "machine": machine(),
                "mode": mode,
                "command": command,
                "settings": _jsonable(settings),
                "skipped": skipped,
                "datasets": {
                    name: run_dataset(name, models, settings)
                    for name in (DATASETS if datasets is None else datasets)
                },
            }
    finally:
        torch.set_num_threads(torch_threads)
    report["total_seconds"] = time.perf_counter() - start
    if output is not None:
        output = pathlib.Path(output)
        output.mkdir(parents=True, exist_ok=True)
        (output / "run.json").write_text(json.dumps(report, indent=2) + "\n")
        (output / "run.md").write_text(markdown(report))
        print(f"wrote {output / 'run.json'} and {output / 'run.md'}", flush=True)
    if publish:
        write_readme(report)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=DATASETS,
        metavar="NAME",
        help=f"subset of {', '.join(DATASETS)}",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        metavar="NAME",
        help=f"subset of {', '.join(MODELS)}",
    )
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        metavar="DIR",
        help="folder for run.json and run.md (see main)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for torch, BLAS and OpenMP (default 1; see main)",
    )
    parser.add_argument(
        "--readme-only",
        action="store_true",
        help="only rewrite the README's results block from results/run.json",
    )
    args = vars(parser.parse_args())
    if args.pop("readme_only"):
        write_readme(json.loads((RESULTS / "run.json").read_text()))
    else:
        main(**args)
