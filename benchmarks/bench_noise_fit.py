"""Time QuantileNoise.fit at the defaults on 20000 rows of 2 and 64 columns.

Prints a markdown table and writes ``benchmarks/results/noise_fit.json``.
``--quick`` runs a small smoke version. The 2-column data is Neal's funnel
(one heavy-tailed coordinate); the 64-column data stacks 32 independent
funnels, so every column is as hard as the 2-column case.
"""

import argparse
import json
import pathlib
import platform
import time
import warnings

import numpy as np
import torch

from adaptnoise import QuantileNoise
from adaptnoise.datasets import make_funnel

RESULTS = pathlib.Path(__file__).parent / "results"


def setup(n_samples, n_features):
    return np.hstack(
        [make_funnel(n_samples, random_state=i) for i in range(n_features // 2)]
    )


def run(n_samples, n_features, repeats):
    X = setup(n_samples, n_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        QuantileNoise(max_iter=2).fit(X[:200])
    times, noise = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        noise = QuantileNoise().fit(X)
        times.append(time.perf_counter() - start)
    return {
        "n_samples": n_samples,
        "n_features": n_features,
        "seconds_median": float(np.median(times)),
        "seconds_all": times,
        "n_iter": noise.n_iter_,
        "w2_max": float(noise.w2_.max()),
    }


def machine():
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def main(quick=False):
    param_list = [(2000, 2), (2000, 8)] if quick else [(20000, 2), (20000, 64)]
    repeats = 1 if quick else 3
    rows = [run(n, d, repeats) for n, d in param_list]
    print("| rows | columns | fit seconds (median) | iterations | max W2 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['n_samples']} | {r['n_features']} | {r['seconds_median']:.2f} "
            f"| {r['n_iter']} | {r['w2_max']:.4f} |"
        )
    if not quick:
        RESULTS.mkdir(exist_ok=True)
        out = {"machine": machine(), "results": rows}
        (RESULTS / "noise_fit.json").write_text(json.dumps(out, indent=2))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    main(**vars(parser.parse_args()))
