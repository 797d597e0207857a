"""Compact support: Gaussian against learned noise on the checkerboard.

The checkerboard is uniform on 8 squares of the box ``[-4, 4]^2``. Gaussian
noise spills outside that box, and the flow has to squeeze it in; the
learned :class:`adaptnoise.QuantileNoise` picks bounded tails and already
fills the box, so its paths only move points from the empty squares to the
occupied ones. Two generators are trained alike (minibatch OT coupling,
2000 steps), one per noise; for each the script prints the share of
samples that land on the squares and the energy distance to held-out rows,
and it draws the noise, the paths of 200 points from noise (t=1) to data
(t=0) and the samples into ``docs/images/compact_support.png``.

Run it with ``python examples/compact_support.py`` (about a minute on 2 CPU
cores); ``--quick`` is a few-second smoke run on small data.
"""

import argparse
import pathlib

import numpy as np
import torch

from adaptnoise import FlowMatchingGenerator
from adaptnoise.datasets import log_density, make_checkerboard
from adaptnoise.metrics import energy_distance
from adaptnoise.solvers import odeint

OUTPUT = pathlib.Path(__file__).parents[1] / "docs" / "images"
NOISES = {"Gaussian noise": "gaussian", "learned noise": "quantile"}
# Lower-left corners of the occupied squares, drawn behind every panel.
SQUARES = [(x, y) for x in (-4, -2, 0, 2) for y in (-4, -2, 0, 2) if (x + y) % 4 == 0]


def paths(model, n_paths, n_frames, random_state):
    """States of ``n_paths`` points at ``n_frames + 1`` times from t=1 to t=0.

    ``sample`` returns only the end of each path, so this integrates the
    model's velocity itself, frame by frame, in the space the flow lives in,
    and maps every state back to the units of the data.

    Returns
    -------
    states : ndarray of shape (n_frames + 1, n_paths, n_features)
    """
    z = model.noise_.sample(n_paths, random_state=random_state)
    x = torch.as_tensor(z, dtype=torch.float32, device=model.device_)
    times = np.linspace(1.0, 0.0, n_frames + 1)
    states = [x]
    with torch.no_grad():
        for t0, t1 in zip(times[:-1], times[1:], strict=True):
            x, _ = odeint(model.velocity_, x, t0, t1, 1, model.solver)
            states.append(x)
    states = np.stack([s.cpu().numpy() for s in states])
    return model.decode(states.reshape(-1, states.shape[-1])).reshape(states.shape)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 8))
    for row, (label, result) in zip(axes, results.items(), strict=True):
        states = result["paths"]
        noise, samples = result["noise"], result["samples"]
        row[0].scatter(noise[:, 0], noise[:, 1], s=1, alpha=0.3)
        row[1].plot(states[:, :, 0], states[:, :, 1], c="tab:blue", lw=0.5, alpha=0.5)
        row[1].scatter(*states[0].T, s=4, c="grey", label="noise, t=1")
        row[1].scatter(*states[-1].T, s=4, c="black", label="sample, t=0")
        row[1].legend(loc="upper right", fontsize=8)
        row[2].scatter(samples[:, 0], samples[:, 1], s=1, alpha=0.3)
        titles = (
            label,
            "paths from noise to data",
            f"samples: {result['on_squares']:.1%} on the squares",
        )
        for ax, title in zip(row, titles, strict=True):
            for i, j in SQUARES:
                ax.add_patch(plt.Rectangle((i, j), 2, 2, color="0.9", zorder=0))
            ax.set(title=title, xlim=(-6, 6), ylim=(-6, 6), aspect="equal")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"\nfigure saved to {path}")


def main(quick=False):
    """Fit both generators, print and return their scores, save the plot.

    Parameters
    ----------
    quick : bool, default=False
        Small data, a tiny network and a few training steps.

    Returns
    -------
    results : dict
        For each noise, the share of samples on the squares and the energy
        distance to held-out rows.
    """
    if quick:
        n_train, n_samples = 500, 500
        params = dict(max_iter=60, hidden_layer_sizes=(16, 16))
    else:
        n_train, n_samples = 10000, 5000
        params = dict(max_iter=2000, hidden_layer_sizes=(128, 128))
    X = make_checkerboard(n_train, random_state=0)
    X_test = make_checkerboard(n_samples, random_state=1)
    results, figures = {}, {}
    for label, noise in NOISES.items():
        model = FlowMatchingGenerator(noise=noise, random_state=0, **params).fit(X)
        samples = model.sample(n_samples, random_state=2)
        on_squares = float(np.isfinite(log_density("checkerboard", samples)).mean())
        energy = energy_distance(samples[:3000], X_test[:3000])
        results[label] = {"on_squares": on_squares, "energy": energy}
        print(f"{label}: {on_squares:.1%} on the squares, energy distance {energy:.5f}")
        figures[label] = {
            "noise": model.decode(model.noise_.sample(n_samples, random_state=3)),
            "paths": paths(model, 200, 20, random_state=4),
            "samples": samples,
            "on_squares": on_squares,
        }
    plot(figures, OUTPUT / "compact_support.png")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    main(**vars(parser.parse_args()))
