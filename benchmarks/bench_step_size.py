"""Share of checkerboard samples on the squares against the Adam step size.

Fits the default FlowMatchingGenerator (learned noise, OT coupling, 7500
steps) on ``make_checkerboard(20000)`` at several ``learning_rate_init`` and
counts how many of 10000 samples land on the true squares. This is the
measurement behind the default step size. Writes
``benchmarks/results/step_size.json``; ``--quick`` is a smoke run.
"""

import argparse
import json
import pathlib
import warnings

import numpy as np

from adaptnoise import FlowMatchingGenerator
from adaptnoise.datasets import log_density, make_checkerboard

RESULTS = pathlib.Path(__file__).parent / "results"
STEP_SIZES = (2e-3, 5e-3, 1e-2)


def main(quick=False):
    X = make_checkerboard(1000 if quick else 20000, random_state=0)
    params = dict(max_iter=50, hidden_layer_sizes=(16,)) if quick else {}
    rows = []
    for learning_rate in STEP_SIZES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = FlowMatchingGenerator(
                learning_rate_init=learning_rate, random_state=0, **params
            ).fit(X)
        samples = model.sample(1000 if quick else 10000, random_state=1)
        on_squares = float(np.isfinite(log_density("checkerboard", samples)).mean())
        rows.append({"learning_rate_init": learning_rate, "on_squares": on_squares})
        print(f"| {learning_rate:g} | {on_squares:.3f} |", flush=True)
    if not quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "step_size.json").write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    main(**vars(parser.parse_args()))
