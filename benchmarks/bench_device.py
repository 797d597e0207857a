"""Time fit, sample and score on the CPU and on CUDA, and check the devices agree.

The same seeded ``FlowMatchingGenerator`` (the defaults, with a training
budget of ``--max-iter`` steps) is fitted to 20000 rows of a 10-column
correlated Gaussian on the CPU and, when CUDA is present, with
``device="auto"``, which must then pick CUDA. Each device's model is timed
on ``fit``, ``sample(100000)`` and ``score_samples`` of 10000 held-out rows,
after an untimed warm-up fit that pays for the device's start-up (CUDA's
context and kernels).

Two checks say the devices compute the same model:

- **same model, both devices**: the CPU's fitted model, moved to CUDA,
  scores 1000 held-out rows to within ``SCORE_TOL`` of its scores on the
  CPU (both in float64);
- **a fit on each device**: CUDA's random streams differ from the CPU's, so
  the two fits see other minibatches and are two draws of one training
  procedure. Their held-out mean log-likelihoods agree within ``LL_TOL``
  nats per row, and the energy distances of their samples to held-out rows
  differ by at most ``ED_SPREADS`` times the spread of that distance for
  true samples of the law (measured here, as the floor of
  ``benchmarks/run.py``).

Writes ``benchmarks/results/device.json`` and ``device.md``; ``--quick``
is a smoke run on a small model that writes nothing unless ``--output``
says where. Without CUDA only the CPU part runs, and the report says that
CUDA was absent.
"""

import copy
import platform
import time
import warnings

import _cli
import numpy as np
import torch
from _report import machine
from _timing import RESULTS, correlated_gaussian, timed, write_results

from adaptnoise import FlowMatchingGenerator
from adaptnoise._torch import resolve_device
from adaptnoise.metrics import energy_distance, sliced_wasserstein_distance

SCORE_TOL = 1e-6
LL_TOL = 0.05
ED_SPREADS = 3.0

SETTINGS = {
    "full": {
        "n_train": 20000,
        "n_holdout": 10000,
        "n_features": 10,
        "n_sample": 100000,
        "n_score": 10000,
        "n_same": 1000,  # rows of the same-model check
        "n_energy": 3000,  # rows per side: the energy distance is quadratic
        "n_floor": 10,  # true-sample replicates behind the floor's spread
        "params": {},
    },
    "quick": {
        "n_train": 600,
        "n_holdout": 400,
        "n_features": 3,
        "n_sample": 2000,
        "n_score": 300,
        "n_same": 100,
        "n_energy": 300,
        "n_floor": 5,
        "params": {"hidden_layer_sizes": (16,), "n_steps": 4},
    },
}


def run_device(device, data, settings, max_iter):
    """Fit, sample and score one device's model; its times and metrics."""
    X_train, X_holdout, _ = data
    params = {**settings["params"], "max_iter": max_iter}
    _, warm_up = timed(_warm_up, device, X_train, params)
    model, fit_s = timed(
        FlowMatchingGenerator(device=device, random_state=0, **params).fit, X_train
    )
    samples, sample_s = timed(model.sample, settings["n_sample"], random_state=0)
    scores, score_s = timed(model.score_samples, X_holdout[: settings["n_score"]])
    n = settings["n_energy"]
    row = {
        "device": str(model.device_),
        "requested": device,
        "warm_up_seconds": warm_up,
        "fit_seconds": fit_s,
        "sample_seconds": sample_s,
        "score_seconds": score_s,
        "held_out_log_likelihood": float(scores.mean()),
        "energy_distance": energy_distance(samples[:n], X_holdout[:n]),
        "sliced_wasserstein": sliced_wasserstein_distance(samples[:n], X_holdout[:n]),
    }
    print(
        f"[{device}] on {row['device']}: fit {fit_s:.1f} s, sample {sample_s:.1f} s, "
        f"score {score_s:.1f} s, held-out log-lik "
        f"{row['held_out_log_likelihood']:.4f}",
        flush=True,
    )
    return row, model


def _warm_up(device, X, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quick = {**params, "max_iter": 5}
        model = FlowMatchingGenerator(device=device, random_state=0, **quick)
        model.fit(X[:300])
        model.score_samples(model.sample(10, random_state=0))


def on_device(model, device):
    """A copy of a fitted model whose modules and tensors live on ``device``."""
    model = copy.deepcopy(model)
    model.device_ = device
    model.velocity_.to(device)
    if model.noise_ is not None:
        model.noise_.module_.to(device)
        model.noise_.device_ = device
    return model


def energy_floor(law, X_holdout, settings):
    """The spread of the energy distance between true samples and held-out rows."""
    n = settings["n_energy"]
    draws = [
        energy_distance(law.rvs(n, random_state=100 + i).reshape(n, -1), X_holdout[:n])
        for i in range(settings["n_floor"])
    ]
    return float(np.sqrt(np.mean(np.square(draws))))


def checks(cpu, other, cpu_model, device, X_same, floor):
    """The agreement checks between the CPU's row and another device's.

    ``cpu_model`` is moved to ``device`` for the same-model check on the rows
    ``X_same``; ``floor`` is the energy distance's spread for true samples.
    """
    moved = on_device(cpu_model, torch.device(device))
    gaps = moved.score_samples(X_same) - cpu_model.score_samples(X_same)
    score_gap = float(np.max(np.abs(gaps)))
    ll_gap = abs(cpu["held_out_log_likelihood"] - other["held_out_log_likelihood"])
    ed_gap = abs(cpu["energy_distance"] - other["energy_distance"])
    return {
        "auto_device": other["device"],
        "same_model_score_gap": score_gap,
        "same_model_scores_agree": score_gap <= SCORE_TOL,
        "log_likelihood_gap": ll_gap,
        "log_likelihoods_agree": ll_gap <= LL_TOL,
        "energy_distance_gap": ed_gap,
        "energy_distances_agree": ed_gap <= ED_SPREADS * floor,
    }


def main(quick=False, output=None, threads=2, max_iter=2000):
    """Run the CPU part, and the CUDA part when CUDA is present; write the report.

    Parameters
    ----------
    quick : bool, default=False
        A small model on small data, for a smoke run.
    output : path-like or None, default=None
        Folder for ``device.json`` and ``device.md``; ``None`` means
        ``benchmarks/results`` for a full run and no files for a quick one.
    threads : int, default=2
        Threads for torch and the BLAS and OpenMP pools on the CPU.
    max_iter : int, default=2000
        Training steps of each fit.

    Returns
    -------
    report : dict
        Machine, settings, one row per device and, with CUDA, the checks.
    """
    start = time.perf_counter()
    settings = SETTINGS["quick" if quick else "full"]
    if quick:
        max_iter = min(max_iter, 30)
    if output is None and not quick:
        output = RESULTS
    X, law = correlated_gaussian(
        settings["n_train"] + settings["n_holdout"], settings["n_features"], 0
    )
    data = (X[: settings["n_train"]], X[settings["n_train"] :], law)
    cuda = torch.cuda.is_available()
    auto = resolve_device("auto")
    with _cli.limited_threads(threads):
        rows, models = {}, {}
        rows["cpu"], models["cpu"] = run_device("cpu", data, settings, max_iter)
        if cuda:
            rows["cuda"], models["cuda"] = run_device("auto", data, settings, max_iter)
        floor = energy_floor(law, data[1], settings)
        report = {
            "machine": {**machine(), "processor": platform.processor()},
            "mode": "quick" if quick else "full",
            "settings": settings,
            "max_iter": max_iter,
            "threads": threads,
            "cuda_available": cuda,
            "auto_device": str(auto),
            "true_held_out_log_likelihood": float(
                law.logpdf(data[1][: settings["n_score"]]).mean()
            ),
            "energy_floor_spread": floor,
            "rows": rows,
            "checks": None,
        }
        if cuda:
            report["checks"] = checks(
                rows["cpu"],
                rows["cuda"],
                models["cpu"],
                "cuda",
                data[1][: settings["n_same"]],
                floor,
            )
    report["total_seconds"] = time.perf_counter() - start
    text = markdown(report)
    print(text, flush=True)
    if output is not None:
        write_results("device", report, text, output)
    return report


def markdown(report):
    """The report as a markdown table and a list of checks."""
    settings, m = report["settings"], report["machine"]
    lines = [
        f"Measured {m['date']} on {m['cpu_count']} CPUs ({m['platform']}), "
        f"{'GPU ' + m['gpu'] if m['gpu'] else 'no GPU'}, torch {m['torch']}, "
        f"{report['threads']} torch thread(s) on the CPU; "
        f"{report['max_iter']} training steps; the whole run took "
        f"{report['total_seconds']:.0f} s.",
        "",
        f"| device | fit s | sample({settings['n_sample']}) s "
        f"| score_samples({settings['n_score']}) s | held-out log-lik "
        "| energy distance | sliced W2 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"].values():
        lines.append(
            f"| {row['device']} (device={row['requested']!r}) "
            f"| {row['fit_seconds']:.2f} | {row['sample_seconds']:.2f} "
            f"| {row['score_seconds']:.2f} | {row['held_out_log_likelihood']:.4f} "
            f"| {row['energy_distance']:.4f} | {row['sliced_wasserstein']:.4f} |"
        )
    lines += [
        "",
        f"True law's held-out log-likelihood: "
        f"{report['true_held_out_log_likelihood']:.4f}; energy distance of true "
        f"samples: 0 +- {report['energy_floor_spread']:.4f}.",
        "",
    ]
    result = report["checks"]
    if result is None:
        lines.append(
            f"CUDA was absent (device='auto' picked {report['auto_device']}): "
            "only the CPU part ran."
        )
        return "\n".join(lines) + "\n"
    lines += [
        f"- device='auto' picked {result['auto_device']}.",
        f"- Same model on both devices: scores differ by at most "
        f"{result['same_model_score_gap']:.2e} (tolerance {SCORE_TOL:g}): "
        f"{_verdict(result['same_model_scores_agree'])}.",
        f"- A fit on each device: held-out log-likelihoods differ by "
        f"{result['log_likelihood_gap']:.4f} nats (tolerance {LL_TOL:g}): "
        f"{_verdict(result['log_likelihoods_agree'])}; energy distances by "
        f"{result['energy_distance_gap']:.4f} (tolerance {ED_SPREADS:g} floor "
        f"spreads, {ED_SPREADS * report['energy_floor_spread']:.4f}): "
        f"{_verdict(result['energy_distances_agree'])}.",
    ]
    return "\n".join(lines) + "\n"


def _verdict(agree):
    return "agree" if agree else "**disagree**"


def _parser():
    parser = _cli.parser(
        __doc__.splitlines()[0],
        {},
        "device.json and device.md",
        "threads for torch, BLAS and OpenMP on the CPU (default 2)",
    )
    parser.set_defaults(threads=2)
    parser.add_argument(
        "--max-iter",
        type=int,
        default=2000,
        metavar="N",
        help="training steps of each fit (default 2000; quick: 30)",
    )
    return parser


if __name__ == "__main__":
    main(**vars(_parser().parse_args()))
