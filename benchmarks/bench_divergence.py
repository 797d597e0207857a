"""Time of the exact divergence in ``score_samples`` and the RK4 steps it needs.

Part one times :func:`adaptnoise.solvers.odeint_with_logdet` with the exact
divergence on the generator's default network, ``VelocityMLP(d, (128, 128,
128), 32, fourier_features=256)`` in float64 (scoring copies the network to
float64), over 20 RK4 steps (80 evaluations) of 10000 standard normal rows,
at d = 10 and 64. The old path, one backward pass per feature, is what any
velocity that is not exactly a ``VelocityMLP`` still takes, so wrapping the
network in a function times it; the new path pushes the feature tangents
forwards through the network together. Both are compared with the time the
matrix products alone would take at the rate of a large float64 matrix
product on this machine (the FLOP bound), and with each other (the largest
difference in the log-density change, which must be float64 rounding).

Part two fits ``FlowMatchingGenerator(max_iter=2000, random_state=0)`` on a
2-D checkerboard and on a correlated Gaussian and scores held-out rows with
4 to 50 RK4 steps against a 100-step reference: the step count at which
every row stays within 0.01 nats. The generator's default step count is not
changed by this; it is a measurement.

Writes ``benchmarks/results/divergence.json``; ``--quick`` is a smoke run
that writes nothing. Times depend on the machine's load, which is recorded
(the 1-minute load average before and after each timing).
"""

import argparse
import json
import os
import pathlib
import time
import warnings

import numpy as np
import torch

from adaptnoise import FlowMatchingGenerator
from adaptnoise.datasets import make_checkerboard
from adaptnoise.nn import VelocityMLP
from adaptnoise.solvers import odeint_with_logdet

RESULTS = pathlib.Path(__file__).parent / "results"
HIDDEN = (128, 128, 128)
TIME_EMBEDDING = 32
FOURIER = 256
N_STEPS = 20
STAGES = 4  # velocity evaluations per RK4 step
STUDY_STEPS = (4, 8, 10, 20, 50)
REFERENCE_STEPS = 100


def forward_flops(d):
    """Floating-point operations of one forward pass of one row's velocity."""
    widths = (TIME_EMBEDDING + d + FOURIER, *HIDDEN, d)
    return _matmul_flops(widths) + 2 * d * (FOURIER // 2)


def old_flops(d):
    """A forward pass and one backward pass per feature, each as costly."""
    return (1 + d) * forward_flops(d)


def new_flops(d):
    """A forward pass and the d tangents: the time codes and ``x`` itself
    move no matrix product, and of the last layer one row per tangent."""
    return forward_flops(d) + d * (_matmul_flops((FOURIER, *HIDDEN)) + 2 * HIDDEN[-1])


def _matmul_flops(widths):
    pairs = zip(widths[:-1], widths[1:], strict=True)
    return sum(2 * n_in * n_out for n_in, n_out in pairs)


def matmul_rate(size=2048, repeats=5):
    """Best float64 matrix-product rate in FLOP/s over a few repeats."""
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=gen, dtype=torch.float64) for _ in "ab")
    best = np.inf
    for _ in range(repeats + 1):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _network(d):
    net = VelocityMLP(
        d,
        HIDDEN,
        TIME_EMBEDDING,
        fourier_features=FOURIER,
        generator=torch.Generator().manual_seed(0),
    )
    return net.double().requires_grad_(False)


def _timed(velocity, x):
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    end = odeint_with_logdet(velocity, x, 0.0, 1.0, N_STEPS, "rk4", "exact")
    timing = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }
    return end, timing


def time_divergence(d, n_rows, rate):
    """Old and new exact divergence on ``n_rows`` rows of dimension ``d``."""
    net = _network(d)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n_rows, d, generator=gen, dtype=torch.float64)
    (x_new, delta_new), new = _timed(net, x)
    (x_old, delta_old), old = _timed(lambda t, x: net(t, x), x)
    evaluations = n_rows * N_STEPS * STAGES
    return {
        "n_features": d,
        "n_rows": n_rows,
        "n_steps": N_STEPS,
        "old": old,
        "new": new,
        "speedup_wall": old["wall_s"] / new["wall_s"],
        "gflop_per_row_evaluation": {
            "forward": forward_flops(d) / 1e9,
            "old": old_flops(d) / 1e9,
            "new": new_flops(d) / 1e9,
        },
        "flop_bound_s": {
            "old": evaluations * old_flops(d) / rate,
            "new": evaluations * new_flops(d) / rate,
            "forward_only": evaluations * forward_flops(d) / rate,
        },
        "max_abs_diff_delta_logp": float((delta_new - delta_old).abs().max()),
        "max_abs_diff_state": float((x_new - x_old).abs().max()),
    }


def _correlated_gaussian(n_samples, random_state):
    rng = np.random.default_rng(random_state)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    return rng.multivariate_normal([0.0, 0.0], cov, size=n_samples)


def step_study(quick):
    """Log-likelihood at few RK4 steps against a 100-step reference."""
    datasets = {
        "checkerboard": lambda n, seed: make_checkerboard(n, random_state=seed),
        "correlated_gaussian": _correlated_gaussian,
    }
    params = dict(max_iter=2000, random_state=0)
    if quick:
        params.update(max_iter=50, hidden_layer_sizes=(16,))
    n_train, n_test = (500, 100) if quick else (5000, 2000)
    rows = []
    for name, make in datasets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = FlowMatchingGenerator(**params).fit(make(n_train, 0))
        X = make(n_test, 1)
        reference = model.set_params(n_steps=REFERENCE_STEPS).score_samples(X)
        for n_steps in STUDY_STEPS:
            scores = model.set_params(n_steps=n_steps).score_samples(X)
            rows.append({"dataset": name, "n_steps": n_steps})
            rows[-1].update(_errors(scores, reference))
            print(
                f"| {name} | {n_steps} | {rows[-1]['max_abs_error']:.2e} | "
                f"{rows[-1]['mean_abs_error']:.2e} | {rows[-1]['mean_error']:+.2e} |",
                flush=True,
            )
    return rows


def _errors(scores, reference):
    # Rows the reference carries outside a bounded noise score -inf; they are
    # counted apart, as a difference of infinities means nothing.
    finite = np.isfinite(reference)
    error = scores[finite] - reference[finite]
    return {
        "n_rows": len(reference),
        "n_rows_infinite_in_reference": int((~finite).sum()),
        "n_rows_finiteness_differs": int((np.isfinite(scores) != finite).sum()),
        "reference_mean_log_likelihood": float(reference[finite].mean()),
        "max_abs_error": float(np.abs(error).max()),
        "mean_abs_error": float(np.abs(error).mean()),
        "mean_error": float(error.mean()),
        "share_within_0.01": float((np.abs(error) <= 0.01).mean()),
    }


def main(quick=False, threads=(2,), rows=10000):
    # Written after each measurement, so that a run cut short keeps what it has.
    report = {"steps": [], "runs": []}
    print("| dataset | n_steps | max abs error | mean abs error | mean error |")
    report["steps"] = step_study(quick)
    _write(report, quick)
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        rate = matmul_rate()
        print(f"{n_threads} threads: float64 matmul {rate / 1e9:.1f} GFLOP/s")
        run = {"threads": n_threads, "matmul_gflops": rate / 1e9, "divergence": []}
        report["runs"].append(run)
        for d in (10, 64):
            result = time_divergence(d, 100 if quick else rows, rate)
            run["divergence"].append(result)
            _write(report, quick)
            print(
                f"d={d}: wall (cpu) old {result['old']['wall_s']:.1f} "
                f"({result['old']['cpu_s']:.1f}) s, new {result['new']['wall_s']:.1f} "
                f"({result['new']['cpu_s']:.1f}) s, FLOP bound "
                f"{result['flop_bound_s']['new']:.1f} s, max |diff| "
                f"{result['max_abs_diff_delta_logp']:.1e}, load "
                f"{result['new']['load_before']:.1f}",
                flush=True,
            )
    return report


def _write(report, quick):
    if not quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "divergence.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[2], help="torch threads, each timed"
    )
    parser.add_argument("--rows", type=int, default=10000, help="rows to score")
    main(**vars(parser.parse_args()))
