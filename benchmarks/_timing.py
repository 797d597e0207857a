"""What the timing benchmarks share: their data, a timer and their result files."""

import json
import pathlib
import time

import numpy as np
import torch
from _report import jsonable
from scipy.stats import multivariate_normal

from adaptnoise import QuantileNoise

__all__ = ["RESULTS", "correlated_gaussian", "quick_model", "timed", "write_results"]

RESULTS = pathlib.Path(__file__).parent / "results"


def correlated_gaussian(n_samples, n_features, random_state, rho=0.8):
    """Rows of a Gaussian whose columns correlate as ``rho ** |i - j|``.

    Returns the rows and the law, a frozen ``scipy.stats.multivariate_normal``
    whose ``logpdf`` is the true log-density to compare a model's with.
    """
    lags = np.abs(np.subtract.outer(np.arange(n_features), np.arange(n_features)))
    law = multivariate_normal(np.zeros(n_features), rho**lags)
    return law.rvs(n_samples, random_state=random_state).reshape(-1, n_features), law


def quick_model():
    """The tiny generator parameters of the timing benchmarks' smoke runs."""
    return {
        "max_iter": 10,
        "hidden_layer_sizes": (16,),
        "fourier_features": 16,
        "n_steps": 2,
        "noise": QuantileNoise(max_iter=5),
    }


def timed(function, *args, **kwargs):
    """``function(*args, **kwargs)`` and the seconds it took.

    CUDA's queue is drained before the clock starts and before it stops, so
    a GPU's asynchronous work is counted where it was asked for.
    """
    _synchronise()
    start = time.perf_counter()
    result = function(*args, **kwargs)
    _synchronise()
    return result, time.perf_counter() - start


def _synchronise():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def write_results(name, report, markdown, output):
    """Write ``{name}.json`` and ``{name}.md`` into the folder ``output``."""
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{name}.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
    (output / f"{name}.md").write_text(markdown)
    print(f"wrote {output / f'{name}.json'} and {output / f'{name}.md'}", flush=True)
