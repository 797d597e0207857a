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

import json
import pathlib
import time

import _cli
import _peers
from _catalogue import DATASETS, MODELS, SETTINGS, Model
from _evaluation import evaluate, floor_row
from _report import (
    jsonable,
    machine,
    readme_section,
    replace_readme_block,
    write_readme,
    write_report,
)

# The catalogue and the README helpers are re-exported so that code that loads
# this script by path, as the tests do, finds the benchmark's interface here.
__all__ = [
    "DATASETS",
    "MODELS",
    "README",
    "RESULTS",
    "SETTINGS",
    "Model",
    "main",
    "readme_section",
    "replace_readme_block",
    "run_dataset",
]

RESULTS = pathlib.Path(__file__).parent / "results"
README = pathlib.Path(__file__).parents[1] / "README.md"


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
        "rows": jsonable(rows),
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
    command = _command(quick, datasets, models, threads)
    settings = SETTINGS[mode]
    publish = output is None and not quick and datasets is None and models is None
    if publish:
        output = RESULTS
    models, skipped = _importable(list(MODELS) if models is None else list(models))
    with _cli.limited_threads(threads):
        report = {
            "machine": machine(),
            "mode": mode,
            "command": command,
            "settings": jsonable(settings),
            "skipped": skipped,
            "datasets": {
                name: run_dataset(name, models, settings)
                for name in (DATASETS if datasets is None else datasets)
            },
        }
    report["total_seconds"] = time.perf_counter() - start
    if output is not None:
        write_report(report, output)
    if publish:
        write_readme(report, README)
    return report


def _command(quick, datasets, models, threads):
    """The command line that reruns :func:`main` with these arguments."""
    return " ".join(
        [
            "python benchmarks/run.py",
            *(["--quick"] if quick else []),
            *(["--datasets", *datasets] if datasets else []),
            *(["--models", *models] if models else []),
            *(["--threads", str(threads)] if threads != 1 else []),
        ]
    )


def _importable(models):
    """The models whose optional package imports here, and why the rest are not."""
    kept, skipped = [], {}
    for key in models:
        package = MODELS[key].requires
        if package and not _peers.OPTIONAL_PEERS[package]:
            skipped[key] = f"{package} is not importable here"
            print(f"skipping {key}: {skipped[key]}", flush=True)
        else:
            kept.append(key)
    return kept, skipped


def _parser():
    parser = _cli.parser(
        __doc__.splitlines()[0],
        {"--datasets": DATASETS, "--models": MODELS},
        "run.json and run.md",
        "threads for torch, BLAS and OpenMP (default 1; see main)",
    )
    parser.add_argument(
        "--readme-only",
        action="store_true",
        help="only rewrite the README's results block from results/run.json",
    )
    return parser


if __name__ == "__main__":
    args = vars(_parser().parse_args())
    if args.pop("readme_only"):
        write_readme(json.loads((RESULTS / "run.json").read_text()), README)
    else:
        main(**args)
