"""Compare the 1D noising processes on the Gaussian grid with a 0.01-weight mode.

Trains FlowMatchingGenerator with each process for the same number of steps
(independent coupling, as the Kac process requires), reports how well each
recovers the mode weights (total variation between the true weights and the
histogram of nearest modes, 10000 samples) and the energy distance to
held-out rows, writes ``benchmarks/results/processes.json`` and draws the
samples side by side in ``docs/images/processes.png`` (the README figure).

``--quick`` runs a small smoke version that writes nothing.
"""

import argparse
import json
import pathlib
import time
import warnings

import numpy as np

from adaptnoise import FlowMatchingGenerator
from adaptnoise.datasets import (
    GAUSSIAN_GRID_MEANS,
    GAUSSIAN_GRID_WEIGHTS,
    make_gaussian_grid,
)
from adaptnoise.metrics import energy_distance
from adaptnoise.processes import KacProcess, OUProcess, UniformProcess

ROOT = pathlib.Path(__file__).parents[1]
MODELS = {
    "linear, Gaussian noise": dict(process="linear", noise="gaussian"),
    "linear, learned noise + OT": dict(process="linear", coupling="ot"),
    "OU": dict(process=OUProcess()),
    "Kac a=9, c=3": dict(process=KacProcess(a=9.0, c=3.0)),
    "Kac a=25, c=5": dict(process=KacProcess(a=25.0, c=5.0)),
    "Kac a=100, c=10": dict(process=KacProcess(a=100.0, c=10.0)),
    "uniform b=1": dict(process=UniformProcess(b=1.0)),
}


def mode_tv(samples):
    nearest = np.argmin(((samples[:, None] - GAUSSIAN_GRID_MEANS) ** 2).sum(-1), 1)
    freq = np.bincount(nearest, minlength=len(GAUSSIAN_GRID_WEIGHTS)) / len(samples)
    return float(0.5 * np.abs(freq - GAUSSIAN_GRID_WEIGHTS).sum()), freq


def fit_all(n_train, n_samples, params):
    X = make_gaussian_grid(n_train, random_state=0)
    X_test = make_gaussian_grid(n_samples, random_state=1)
    results, samples = {}, {}
    for label, model_params in MODELS.items():
        model_params = {"coupling": "independent", **model_params}
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = FlowMatchingGenerator(**params, **model_params).fit(X)
        S = model.sample(n_samples, random_state=1)
        tv, freq = mode_tv(S)
        results[label] = {
            "fit_seconds": time.perf_counter() - start,
            "n_iter": model.n_iter_,
            "mode_tv": tv,
            "small_mode_weight": float(freq[0]),
            "energy": energy_distance(S[:3000], X_test[:3000]),
        }
        samples[label] = S
        print(
            f"| {label} | {tv:.3f} | {freq[0]:.4f} | {results[label]['energy']:.4f} |"
        )
    return results, samples, X_test


def plot(samples, X_test, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"held-out data": X_test, **samples}
    fig, axes = plt.subplots(2, 4, figsize=(14, 7))
    for ax, (label, S) in zip(axes.ravel(), panels.items(), strict=True):
        ax.scatter(S[:, 0], S[:, 1], s=0.5, alpha=0.3)
        ax.set(title=label, xlim=(-5, 5), ylim=(-5, 5), aspect="equal")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(quick=False):
    n_train, n_samples = (1000, 1000) if quick else (20000, 10000)
    params = dict(max_iter=50 if quick else 3000, tol=0, random_state=0)
    if quick:
        params["hidden_layer_sizes"] = (16,)
    print("| model | mode TV | weight of the 0.01 mode | energy distance |")
    print("| --- | ---: | ---: | ---: |")
    results, samples, X_test = fit_all(n_train, n_samples, params)
    if not quick:
        (ROOT / "benchmarks" / "results" / "processes.json").write_text(
            json.dumps(results, indent=2)
        )
        plot(samples, X_test, ROOT / "docs" / "images" / "processes.png")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    main(**vars(parser.parse_args()))
