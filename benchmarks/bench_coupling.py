"""Time the exact OT coupling of 256-row training batches, and what it hides.

For each dataset of ``adaptnoise.datasets`` (20000 rows, standardised as the
generator does), fits the default ``QuantileNoise`` and times
``adaptnoise.coupling.pair`` on 50 batches drawn as training draws them: data
rows against learned-noise rows. The cost of a batch depends on its geometry,
so a Gaussian-against-Gaussian batch, the benchmark's reference until now, is
timed too, and POT's network simplex (``ot.emd``) on the same costs, the
alternative to SciPy's assignment solver. Then it times a training step of the
default generator (two fits, of 200 and 1200 steps) with the coupling solved
on the worker thread, as ``fit`` does, and inline, to measure how much of the
coupling the worker hides.

Writes ``benchmarks/results/coupling.json`` and prints a markdown table;
``--quick`` is a smoke run.
"""

import argparse
import json
import pathlib
import time
import warnings
from unittest import mock

import numpy as np
import ot
import torch

from adaptnoise import FlowMatchingGenerator, QuantileNoise
from adaptnoise._batches import Batches
from adaptnoise.coupling import _normalised_cost, pair
from adaptnoise.datasets import make_checkerboard, make_funnel, make_gaussian_grid

RESULTS = pathlib.Path(__file__).parent / "results"
DATASETS = {
    "checkerboard": make_checkerboard,
    "gaussian_grid": make_gaussian_grid,
    "funnel": make_funnel,
}
BATCH = 256


def median_ms(function, batches):
    function(*batches[0])
    times = []
    for batch in batches:
        start = time.perf_counter()
        function(*batch)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def emd(x0, x1):
    weights = np.full(x0.shape[0], 1.0 / x0.shape[0])
    return ot.emd(weights, weights, _normalised_cost(x0, x1).numpy())


def step_ms(X, n_iters, lookahead, params):
    """Milliseconds per training step: the difference of two fits' times."""
    stream = Batches.stream

    def patched(self, X, batch_size, **_):
        return stream(self, X, batch_size, lookahead)

    seconds = []
    with mock.patch.object(Batches, "stream", patched), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n_iter in n_iters:
            start = time.perf_counter()
            FlowMatchingGenerator(max_iter=n_iter, random_state=0, **params).fit(X)
            seconds.append(time.perf_counter() - start)
    return 1000 * (seconds[1] - seconds[0]) / (n_iters[1] - n_iters[0])


def main(quick=False):
    n_rows, n_batches, n_iters = (
        (2000, 5, (5, 25)) if quick else (20000, 50, (200, 1200))
    )
    generator = torch.Generator().manual_seed(0)
    params = {}
    if quick:
        params = dict(noise=QuantileNoise(max_iter=5), hidden_layer_sizes=(16,))
    rows = []
    for name, make in DATASETS.items():
        X = make(n_rows, random_state=0)
        X = (X - X.mean(0)) / X.std(0)
        noise = QuantileNoise(random_state=0, max_iter=5 if quick else 200).fit(X)
        data = torch.as_tensor(X, dtype=torch.float32)
        batches = [
            (
                data[torch.randint(n_rows, (BATCH,), generator=generator)],
                noise.module_.sample(BATCH, generator).float(),
            )
            for _ in range(n_batches)
        ]
        row = {
            "dataset": name,
            "pair_ms": median_ms(pair, batches),
            "emd_ms": median_ms(emd, batches),
        }
        for label, lookahead in (("worker", True), ("inline", False)):
            row[f"step_ms_{label}"] = step_ms(
                make(n_rows, random_state=0), n_iters, lookahead, params
            )
        rows.append(row)
    gaussian = [
        (torch.randn(BATCH, 2), torch.randn(BATCH, 2)) for _ in range(n_batches)
    ]
    rows.append(
        {
            "dataset": "Gaussian points (reference)",
            "pair_ms": median_ms(pair, gaussian),
            "emd_ms": median_ms(emd, gaussian),
        }
    )
    print(
        "| batch | `pair` (SciPy) ms | `ot.emd` ms | step ms, coupling on the worker "
        "| step ms, coupling inline |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        steps = [row.get(f"step_ms_{k}") for k in ("worker", "inline")]
        cells = ["" if s is None else f"{s:.1f}" for s in steps]
        print(
            f"| {row['dataset']} | {row['pair_ms']:.1f} | {row['emd_ms']:.1f} "
            f"| {cells[0]} | {cells[1]} |"
        )
    if not quick:
        RESULTS.mkdir(exist_ok=True)
        report = {"threads": torch.get_num_threads(), "rows": rows}
        (RESULTS / "coupling.json").write_text(json.dumps(report, indent=2))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    main(**vars(parser.parse_args()))
