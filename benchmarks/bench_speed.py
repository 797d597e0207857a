"""How fast the defaults are: issue 16's figures, with the peers on the same data.

One run measures, for ``FlowMatchingGenerator`` at its defaults
(``random_state=0``):

- ``fit`` of the wine table (178 x 13), the breast cancer table (569 x 30),
  both whole and unscaled as a user would pass them, and of 20000 rows of a
  10-column correlated Gaussian (``rho ** |i - j|``, ``rho = 0.8``);
- ``sample(100000)`` and ``score_samples`` of 10000 held-out rows of that
  10-column model;
- ``score_samples`` of 10000 rows of a 64-column correlated Gaussian, by a
  model fitted to 5000 other rows for ``SCORE_64_MAX_ITER`` steps only: the
  cost of scoring depends on the network and the solver, not on how long it
  trained;
- ``QuantileNoise().fit`` on 20000 x 64 (the 32 stacked funnels of
  ``bench_noise_fit.py``), with its iterations, largest W2 and whether it
  warned;
- the training step on 20000 rows of the checkerboard: the difference of two
  fits' times (``STEP_ITERS`` steps) over the difference of their steps, so
  that the noise fit and the set-up cancel;
- the seconds of a ``verbose=1`` fit on the digits (1797 x 64) before its
  first progress line;
- a fit of 1,000,000 rows of the 10-column Gaussian for ``TALL_MAX_ITER``
  steps in a fresh process, with its seconds and the process's peak resident
  memory (which includes Python, torch and the data themselves).

``GaussianMixture`` (full covariances, components by BIC) and
``KernelDensity`` (bandwidth by cross-validation), the peers of
``benchmarks/run.py``, are timed on the same fits, samples and scores, and so
are torchcfm, ForestFlow and zuko where they are importable (they are
skipped with a note otherwise). Each figure is one run's wall-clock seconds,
and the table puts the goals of issue 16 beside ours.

Writes ``benchmarks/results/speed.json`` and ``speed.md``; ``--quick`` is a
smoke run on tiny data and budgets that writes nothing unless ``--output``
says where. Torch and the BLAS pools run on ``--threads`` threads (default
2, the issue's setting).
"""

import contextlib
import io
import json
import resource
import subprocess
import sys
import textwrap
import time
import warnings

import _cli
import _peers
from _catalogue import MODELS
from _catalogue import SETTINGS as PEER_SETTINGS
from _report import machine
from _timing import RESULTS, correlated_gaussian, quick_model, timed, write_results
from bench_noise_fit import setup as stacked_funnels
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning

from adaptnoise import FlowMatchingGenerator, QuantileNoise
from adaptnoise.datasets import make_checkerboard

PEERS = ("gmm", "kde", "torchcfm", "forestflow", "zuko")
SCORE_64_MAX_ITER = 500
STEP_ITERS = (200, 1200)
# Memory does not grow with the steps, so a short fit shows the peak.
TALL_MAX_ITER = 500

SETTINGS = {
    "full": {
        "n_gaussian": 20000,
        "n_sample": 100000,
        "n_score": 10000,
        "n_train_64": 5000,
        "n_noise": 20000,
        "n_checkerboard": 20000,
        "step_iters": STEP_ITERS,
        "n_tall": 1_000_000,
        "tall_max_iter": TALL_MAX_ITER,
        "ours": {},
        "score_64": {"max_iter": SCORE_64_MAX_ITER},
        "noise": {},
        "peers": {},
    },
    "quick": {
        "n_gaussian": 400,
        "n_sample": 1000,
        "n_score": 200,
        "n_train_64": 300,
        "n_noise": 500,
        "n_checkerboard": 500,
        "step_iters": (5, 15),
        "n_tall": 2000,
        "tall_max_iter": 5,
        "ours": quick_model(),
        "score_64": {"max_iter": 5},
        "noise": {"max_iter": 5},
        "peers": PEER_SETTINGS["quick"]["params"]["table"],
    },
}

# Issue 16's goals, in seconds, on its 2-core machine with 2 torch threads.
GOALS = {
    "fit_wine": 10,
    "fit_breast_cancer": 10,
    "fit_gaussian_10": 60,
    "sample_10": 5,
    "score_10": 15,
    "score_64": 60,
    "noise_fit_64": 5,
    "training_step": 0.003,
    "tall_peak_gib": 4,
}
LABELS = {
    "fit_wine": "fit, wine (178 x 13)",
    "fit_breast_cancer": "fit, breast cancer (569 x 30)",
    "fit_gaussian_10": "fit, {n_gaussian} x 10 correlated Gaussian",
    "sample_10": "`sample({n_sample})`, that model",
    "score_10": "`score_samples`, {n_score} x 10",
    "score_64": "`score_samples`, {n_score} x 64",
    "noise_fit_64": "`QuantileNoise().fit`, {n_noise} x 64",
    "training_step": "training step, checkerboard ({n_checkerboard} rows)",
    "first_line": "silent time before the first progress line, digits (1797 x 64)",
    "fit_tall": "fit, {n_tall} x 10, {tall_max_iter} steps",
    "tall_peak_gib": "peak memory of that fit's process, GiB",
}
# A fresh process, so that its peak memory is this fit's alone.
_TALL_FIT = textwrap.dedent(
    """
    import json, sys, time, warnings
    import torch
    from _timing import correlated_gaussian
    from adaptnoise import FlowMatchingGenerator
    n, max_iter, threads, params = json.loads(sys.argv[1])
    torch.set_num_threads(threads)
    X, _ = correlated_gaussian(n, 10, 0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = {**params, "max_iter": max_iter}
        model = FlowMatchingGenerator(random_state=0, **params)
        model.fit(X)
    print(json.dumps(time.perf_counter() - start))
    """
)


def _ours(settings, **params):
    return FlowMatchingGenerator(random_state=0, **{**settings["ours"], **params})


def _peer(key, settings):
    model = MODELS[key]
    return model.factory(**model.fixed, **settings["peers"].get(key, {}))


def _quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timed(function, *args, **kwargs)


def measure_model(make, data, settings):
    """Fit, sample and score seconds of one model (``make()``) on the data."""
    tables, (X_10, X_10_held), (X_64, X_64_held) = data
    row = {}
    for name, X in tables.items():
        _, row[f"fit_{name}"] = _quietly(make().fit, X)
    model, row["fit_gaussian_10"] = _quietly(make().fit, X_10)
    _, row["sample_10"] = _quietly(model.sample, settings["n_sample"], random_state=0)
    if hasattr(model, "score_samples"):
        _, row["score_10"] = _quietly(model.score_samples, X_10_held)
        model_64, _ = _quietly(make(64).fit, X_64)
        _, row["score_64"] = _quietly(model_64.score_samples, X_64_held)
    return row


def measure_noise(settings):
    """``QuantileNoise().fit`` on 20000 x 64: seconds, iterations, W2, warning."""
    X = stacked_funnels(settings["n_noise"], 64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        noise, seconds = timed(QuantileNoise(**settings["noise"]).fit, X)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return {
        "noise_fit_64": seconds,
        "noise_n_iter": int(noise.n_iter_),
        "noise_w2_max": float(noise.w2_.max()),
        "noise_convergence_warning": warned,
    }


def measure_step(settings):
    """Seconds per training step on the checkerboard, set-up cancelled."""
    X = make_checkerboard(settings["n_checkerboard"], random_state=0)
    short, long = settings["step_iters"]
    seconds = [_quietly(_ours(settings, max_iter=n).fit, X)[1] for n in (short, long)]
    return {"training_step": (seconds[1] - seconds[0]) / (long - short)}


class _FirstLine(io.TextIOBase):
    """A stream that notes when the first non-blank text reaches it."""

    def __init__(self):
        self.start, self.seconds = time.perf_counter(), None

    def write(self, text):
        if self.seconds is None and text.strip():
            self.seconds = time.perf_counter() - self.start
        return len(text)


def measure_first_line(settings):
    """Seconds of a verbose fit on the digits before its first progress line."""
    X = load_digits().data
    budget = {"max_iter": 100, **settings["ours"]}
    stream = _FirstLine()
    with contextlib.redirect_stdout(stream), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _ours(settings, verbose=1, **budget).fit(X)
    return {"first_line": stream.seconds}


def measure_tall(settings, threads):
    """Seconds and peak memory (GiB) of a short fit on a million rows."""
    # The quick settings' QuantileNoise does not travel as JSON; its default does.
    ours = {k: v for k, v in settings["ours"].items() if k != "noise"}
    arguments = [settings["n_tall"], settings["tall_max_iter"], threads, ours]
    done = subprocess.run(
        [sys.executable, "-c", _TALL_FIT, json.dumps(arguments)],
        capture_output=True,
        text=True,
        check=True,
        cwd=RESULTS.parent,
    )
    # Linux reports ru_maxrss in KiB: the largest of the waited-for children.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return {"fit_tall": json.loads(done.stdout), "tall_peak_gib": peak}


def make_data(settings):
    """The tables, the 10-column and the 64-column Gaussian rows."""
    n, n_score = settings["n_gaussian"], settings["n_score"]
    n_64 = settings["n_train_64"]
    X_10, _ = correlated_gaussian(n + n_score, 10, 0)
    X_64, _ = correlated_gaussian(n_64 + n_score, 64, 1)
    tables = {
        "wine": load_wine().data,
        "breast_cancer": load_breast_cancer().data,
    }
    return tables, (X_10[:n], X_10[n:]), (X_64[:n_64], X_64[n_64:])


def main(quick=False, output=None, threads=2):
    """Run every measurement and write ``speed.json`` and ``speed.md``.

    Parameters
    ----------
    quick : bool, default=False
        Tiny data and budgets, for a smoke run.
    output : path-like or None, default=None
        Folder for the two files; ``None`` means ``benchmarks/results`` for a
        full run and no files for a quick one.
    threads : int, default=2
        Threads for torch and for the BLAS and OpenMP pools.

    Returns
    -------
    report : dict
        Machine, settings, the goals and one row of seconds per model.
    """
    start = time.perf_counter()
    settings = SETTINGS["quick" if quick else "full"]
    if output is None and not quick:
        output = RESULTS
    skipped = {
        key: f"{MODELS[key].requires} is not importable here"
        for key in PEERS
        if MODELS[key].requires and not _peers.OPTIONAL_PEERS[MODELS[key].requires]
    }
    with _cli.limited_threads(threads):
        data = make_data(settings)

        def ours(n_features=None):
            if n_features == 64:
                return _ours(settings, **settings["score_64"])
            return _ours(settings)

        rows = {"ours": measure_model(ours, data, settings)}
        print(f"ours: {_summary(rows['ours'])}", flush=True)
        rows["ours"].update(measure_noise(settings))
        rows["ours"].update(measure_step(settings))
        rows["ours"].update(measure_first_line(settings))
        rows["ours"].update(measure_tall(settings, threads))
        for key in PEERS:
            if key not in skipped:
                rows[key] = measure_model(
                    lambda _=None, key=key: _peer(key, settings), data, settings
                )
                print(f"{key}: {_summary(rows[key])}", flush=True)
        report = {
            "machine": machine(),
            "mode": "quick" if quick else "full",
            "threads": threads,
            "settings": settings,
            "goals": GOALS,
            "skipped": skipped,
            "rows": rows,
        }
    report["total_seconds"] = time.perf_counter() - start
    text = markdown(report)
    print(text, flush=True)
    if output is not None:
        write_results("speed", report, text, output)
    return report


def _summary(row):
    return ", ".join(f"{key} {seconds:.2f} s" for key, seconds in row.items())


def markdown(report):
    """The report as one table: a row per figure, a column per model."""
    m, settings, rows = report["machine"], report["settings"], report["rows"]
    peers = [key for key in rows if key != "ours"]
    ours = rows["ours"]
    lines = [
        f"Measured {m['date']} on {m['cpu_count']} CPUs ({m['platform']}), "
        f"{'GPU ' + m['gpu'] if m['gpu'] else 'no GPU'}, torch {m['torch']} on "
        f"{report['threads']} thread(s); the whole run took "
        f"{report['total_seconds'] / 60:.1f} minutes. Seconds of one run each "
        "(the training step in milliseconds); a goal is judged on a full run "
        "only.",
        "",
        "| run at the defaults | ours | goal | "
        + " | ".join(MODELS[key].label for key in peers)
        + " |",
        "| --- | ---: | ---: |" + " ---: |" * len(peers),
    ]
    for key, label in LABELS.items():
        goal = GOALS.get(key)
        judged = report["mode"] == "full"
        cells = [_seconds(key, ours.get(key)), _goal(key, goal, ours.get(key), judged)]
        cells += [_seconds(key, rows[peer].get(key)) for peer in peers]
        lines.append(f"| {label.format(**settings)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"`QuantileNoise().fit` ran {ours['noise_n_iter']} iterations, largest "
        f"W2 {ours['noise_w2_max']:.4f}, "
        + ("with" if ours["noise_convergence_warning"] else "without")
        + " a `ConvergenceWarning`. The 64-column model that scores was fitted "
        f"for {settings['score_64'].get('max_iter', 'the default')} steps.",
    ]
    if report["skipped"]:
        skipped = "; ".join(f"{k} ({why})" for k, why in report["skipped"].items())
        lines += ["", f"Skipped: {skipped}."]
    return "\n".join(lines) + "\n"


def _seconds(key, value):
    if value is None:
        return "n/a"
    if key == "training_step":
        return f"{1000 * value:.2f} ms"
    if key == "tall_peak_gib":
        return f"{value:.2f} GiB"
    return f"{value:.2f}"


def _goal(key, goal, value, judged):
    """The goal, marked missed when a full run's ``value`` exceeds it."""
    if goal is None:
        return ""
    shown = f"{1000 * goal:g} ms" if key == "training_step" else f"{goal:g}"
    if key == "tall_peak_gib":
        shown = f"{goal:g} GiB"
    missed = judged and value is not None and value > goal
    return f"{shown} (missed)" if missed else shown


def _parser():
    parser = _cli.parser(
        __doc__.splitlines()[0],
        {},
        "speed.json and speed.md",
        "threads for torch, BLAS and OpenMP (default 2)",
    )
    parser.set_defaults(threads=2)
    return parser


if __name__ == "__main__":
    main(**vars(_parser().parse_args()))
