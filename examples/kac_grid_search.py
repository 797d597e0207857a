"""Tune the Kac process with scikit-learn's GridSearchCV and a sample scorer.

The Kac (telegrapher) process moves noise at a finite speed ``c`` and
reverses direction at rate ``a``; its terminal law lives on ``[-c, c]``, so
a held-out row whose flow ends outside it has log-likelihood ``-inf`` and
the generator's own ``score`` cannot rank the candidates.
:data:`adaptnoise.metrics.energy_scorer` ranks them by sample quality
instead: minus the energy distance between samples and the held-out fold.
The script searches ``process__a`` and ``process__c`` of
``FlowMatchingGenerator(process=KacProcess(), coupling="independent")`` on the
Gaussian grid with 3-fold cross-validation, prints the mean test score of
every pair and draws the table as a heatmap in
``docs/images/kac_grid_search.png``.

Run it with ``python examples/kac_grid_search.py`` (about a minute on 2 CPU
cores, two fits at a time); ``--quick`` is a few-second smoke run.
"""

import argparse
import pathlib

import numpy as np
from sklearn.model_selection import GridSearchCV

from adaptnoise import FlowMatchingGenerator
from adaptnoise.datasets import make_gaussian_grid
from adaptnoise.metrics import energy_scorer
from adaptnoise.processes import KacProcess

OUTPUT = pathlib.Path(__file__).parents[1] / "docs" / "images"
A_VALUES = (4.0, 25.0, 100.0)
C_VALUES = (1.0, 3.0, 10.0)


def plot(scores, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    image = ax.imshow(scores, cmap="viridis", origin="lower")
    middle = (scores.min() + scores.max()) / 2
    for i, j in np.ndindex(scores.shape):
        color = "k" if scores[i, j] > middle else "w"
        ax.text(j, i, f"{scores[i, j]:.3f}", ha="center", va="center", color=color)
    ax.set(
        xticks=range(len(C_VALUES)),
        xticklabels=[f"{c:g}" for c in C_VALUES],
        yticks=range(len(A_VALUES)),
        yticklabels=[f"{a:g}" for a in A_VALUES],
        xlabel="speed c",
        ylabel="damping a",
        title="Kac process on the Gaussian grid",
    )
    fig.colorbar(image, label="mean test score (minus energy distance)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    print(f"\nfigure saved to {path}")


def main(quick=False):
    """Run the grid search, print and return the mean test score per pair.

    Parameters
    ----------
    quick : bool, default=False
        Small data, a tiny network and a few training steps.

    Returns
    -------
    scores : dict
        ``scores[(a, c)]`` is the mean test score (minus the energy
        distance, higher is better) over the folds.
    """
    if quick:
        n_rows, params = 300, dict(max_iter=50, hidden_layer_sizes=(16, 16))
    else:
        n_rows, params = 4000, dict(max_iter=800, hidden_layer_sizes=(64, 64))
    model = FlowMatchingGenerator(
        process=KacProcess(), coupling="independent", random_state=0, **params
    )
    search = GridSearchCV(
        model,
        {"process__a": A_VALUES, "process__c": C_VALUES},
        scoring=energy_scorer,
        cv=3,
        # Starting the workers takes longer than the tiny fits of --quick.
        n_jobs=1 if quick else 2,
        # The table is the result; refitting the best pair would only cost time.
        refit=False,
    )
    search.fit(make_gaussian_grid(n_rows, random_state=0))
    cv = search.cv_results_
    scores = {
        (a, c): float(score)
        for a, c, score in zip(
            cv["param_process__a"],
            cv["param_process__c"],
            cv["mean_test_score"],
            strict=True,
        )
    }
    print("| a \\ c | " + " | ".join(f"{c:g}" for c in C_VALUES) + " |")
    for a in A_VALUES:
        print(
            f"| {a:g} | " + " | ".join(f"{scores[a, c]:.4f}" for c in C_VALUES) + " |"
        )
    print(f"best: {search.best_params_}, score {search.best_score_:.4f}")
    table = np.array([[scores[a, c] for c in C_VALUES] for a in A_VALUES])
    plot(table, OUTPUT / "kac_grid_search.png")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    main(**vars(parser.parse_args()))
