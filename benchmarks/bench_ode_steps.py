"""Sampling and scoring error of the default model against its ODE solver steps.

Fits the default FlowMatchingGenerator once per dataset (three 2D sets of
20000 rows, and the wine and breast-cancer tables), then samples and scores it
with each fixed-step solver at a few step counts and compares with the same
model integrated by 100 RK4 steps, the reference:

- ``moved``: mean distance, in units of the data's standard deviation,
  between a sample and the reference sample drawn from the same noise rows
  (the integration error of sampling itself);
- ``on_squares``: share of checkerboard samples on its squares, and
  ``true_loglik``: mean true log-density of the samples on the other 2D sets
  (what the integration error does to sample quality);
- ``loglik_error``: mean absolute difference of held-out rows' log-likelihood
  from the reference's, and ``loglik``: their mean log-likelihood.

Network evaluations per row are ``steps`` times 1, 2 and 4 for Euler, Heun
and RK4. Scoring takes one exact divergence (one network pass per feature)
per step, at the step's midpoint (``quadrature="midpoint"`` of
``odeint_with_logdet``); the ``SCORE_STEPS`` rows score with RK4 alone, at
more step counts, and one row scores as before, with the divergence at every
RK4 stage (``quadrature="stages"``, four per step). This is the measurement
behind the default solver and steps. Writes
``benchmarks/results/ode_steps.json``; ``--quick`` is a smoke run.
"""

import argparse
import json
import pathlib
import warnings

import numpy as np
import torch
from _cli import limited_threads
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split

from adaptnoise import FlowMatchingGenerator, QuantileNoise
from adaptnoise._flow import flow_log_prob
from adaptnoise.datasets import (
    log_density,
    make_checkerboard,
    make_funnel,
    make_gaussian_grid,
)

RESULTS = pathlib.Path(__file__).parent / "results"
SOLVERS = {
    "euler": (4, 8, 16),
    "heun": (2, 3, 4, 6, 10),
    "rk4": (2, 3, 5, 10),
}
REFERENCE = ("rk4", 100)
SCORE_STEPS = (12, 16, 20, 30)
STAGES = ("rk4-stages", 10)
TOY = {
    "checkerboard": make_checkerboard,
    "gaussian_grid": make_gaussian_grid,
    "funnel": make_funnel,
}
TABLES = {"wine": load_wine, "breast_cancer": load_breast_cancer}
_EVALUATIONS = {"euler": 1, "heun": 2, "rk4": 4}


def datasets(quick):
    """Training and held-out rows of each dataset, and its name."""
    n, n_holdout = (400, 100) if quick else (20000, 1000)
    # A smoke run takes one set of each kind.
    toys, tables = list(TOY.items()), list(TABLES.items())
    if quick:
        toys, tables = toys[:1], tables[:1]
    for name, make in toys:
        yield name, make(n, random_state=0), make(n_holdout, random_state=1)
    for name, load in tables:
        X, y = load(return_X_y=True)
        train, holdout = train_test_split(X, test_size=0.2, stratify=y, random_state=0)
        yield name, train, holdout


def evaluate(name, model, train, holdout, n_sample):
    """Rows of the table for one fitted model."""
    scale = train.std(0)
    scale[scale == 0] = 1
    results = {}
    for solver, steps in [
        REFERENCE,
        *((s, k) for s, ks in SOLVERS.items() for k in ks),
    ]:
        model.set_params(solver=solver, n_steps=steps)
        samples = model.sample(n_sample, random_state=1)
        results[solver, steps] = (samples, model.score_samples(holdout))
    for steps in SCORE_STEPS:
        model.set_params(solver="rk4", n_steps=steps)
        results["rk4", steps] = (None, model.score_samples(holdout))
    results[STAGES] = (None, stage_scores(model, holdout, STAGES[1]))
    reference_samples, reference_scores = results[REFERENCE]
    rows = []
    for (solver, steps), (samples, scores) in results.items():
        row = {
            "dataset": name,
            "solver": solver,
            "n_steps": steps,
            "evaluations": steps * _EVALUATIONS[solver.split("-")[0]],
            "divergences": steps * (4 if solver == STAGES[0] else 1),
            "loglik": float(scores.mean()),
            "loglik_error": float(np.abs(scores - reference_scores).mean()),
        }
        if samples is None:
            rows.append(row)
            print(json.dumps(row), flush=True)
            continue
        row["moved"] = float(
            np.linalg.norm((samples - reference_samples) / scale, axis=1).mean()
        )
        if name == "checkerboard":
            row["on_squares"] = float(np.isfinite(log_density(name, samples)).mean())
        elif name in TOY:
            row["true_loglik"] = float(log_density(name, samples).mean())
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def stage_scores(model, X, n_steps):
    """Held-out scores with the divergence at every RK4 stage, in float64.

    What ``score_samples`` computes, with ``quadrature="stages"``; the tables
    here have no constant columns, whose rows it would also rule out, nor
    category levels unseen in the fit.
    """
    rows = torch.as_tensor(model.columns_.transform(X), dtype=torch.float64)
    log_p = flow_log_prob(
        model.velocity_,
        model._law(),
        rows,
        n_steps,
        "rk4",
        "exact",
        quadrature="stages",
    )
    return log_p.numpy() + model.columns_.log_det() + model.columns_.log_jacobian(X)


def main(quick=False, threads=2):
    params = {}
    if quick:
        params = dict(
            max_iter=50,
            hidden_layer_sizes=(16,),
            fourier_features=16,
            noise=QuantileNoise(max_iter=5),
        )
    rows = []
    with limited_threads(threads):
        for name, train, holdout in datasets(quick):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = FlowMatchingGenerator(random_state=0, **params).fit(train)
            rows += evaluate(name, model, train, holdout, 200 if quick else 10000)
    if not quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ode_steps.json").write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    main(**vars(parser.parse_args()))
