"""Learned noise: a quantile spline that matches heavy tails and compact supports.

Fits :class:`adaptnoise.QuantileNoise` on Neal's funnel (a heavy-tailed
coordinate) and on the checkerboard (compact support), compares its samples
with held-out data and with a moment-matched Gaussian, prints the figures and
saves them as ``docs/images/learned_noise.png`` (the figure in the README).

Run it with ``python examples/learned_noise.py``; pass ``--quick`` for a
few-second smoke run on small data.
"""

import argparse
import pathlib

import numpy as np
from scipy import stats

from adaptnoise import QuantileNoise
from adaptnoise.datasets import make_checkerboard, make_funnel

OUTPUT = pathlib.Path(__file__).parents[1] / "docs" / "images"


def compare(name, make, n_samples):
    X, X_test = make(n_samples, random_state=0), make(n_samples, random_state=1)
    noise = QuantileNoise(random_state=0).fit(X)
    Y = noise.sample(n_samples, random_state=2)
    G = np.random.RandomState(3).normal(X.mean(0), X.std(0), size=X.shape)
    print(f"\n{name}: tails chosen {list(noise.tails_)}, {noise.n_iter_} iterations")
    for j in range(X.shape[1]):
        ours = stats.wasserstein_distance(Y[:, j], X_test[:, j])
        gauss = stats.wasserstein_distance(G[:, j], X_test[:, j])
        print(
            f"  x{j + 1}: W1 to held-out data  learned noise {ours:.4f}   "
            f"moment-matched Gaussian {gauss:.4f}   support {noise.support_[j]}"
        )
    print(f"  mean log-likelihood of held-out rows: {noise.score(X_test):.3f}")
    return X_test, Y, G


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    titles = ("held-out data", "learned QuantileNoise", "moment-matched Gaussian")
    for row, (name, (X_test, Y, G), lim) in enumerate(results):
        for ax, title, Z in zip(axes[row], titles, (X_test, Y, G), strict=True):
            ax.scatter(Z[:, 0], Z[:, 1], s=1, alpha=0.3)
            ax.set(title=f"{name}: {title}", xlim=lim[0], ylim=lim[1])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    print(f"\nfigure saved to {path}")


def main(quick=False):
    n_samples = 2000 if quick else 20000
    funnel = compare("funnel", make_funnel, n_samples)
    checkerboard = compare("checkerboard", make_checkerboard, n_samples)
    plot(
        [
            ("funnel", funnel, ((-10, 10), (-30, 30))),
            ("checkerboard", checkerboard, ((-5, 5), (-5, 5))),
        ],
        OUTPUT / "learned_noise.png",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    main(**vars(parser.parse_args()))
