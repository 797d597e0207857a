"""What ``benchmarks/run.py`` runs: its datasets, its models and their budgets."""

from dataclasses import dataclass, field

import _peers
import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_moons,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from adaptnoise import FlowMatchingGenerator, QuantileNoise
from adaptnoise.datasets import (
    log_density,
    make_checkerboard,
    make_funnel,
    make_gaussian_grid,
)

__all__ = ["DATASETS", "MODELS", "NEURAL", "SETTINGS", "Dataset", "Model"]

# Training steps: the default model keeps its own budget (max_iter="auto")
# everywhere. The other linear variants run 7500 steps on the 2D sets; the
# process variants there, and the other flows on the small tables (124 to
# 1257 training rows, where 2000 steps are already hundreds of passes), take
# 2000, so that the full run stays under an hour on 2 CPU cores. The report
# shows each model's steps.
_SHORT = {"max_iter": 2000}
NEURAL = ("default", "gaussian-ot", "gaussian-independent", "ou", "kac", "uniform")
_TINY_FLOW = {"max_iter": 10, "hidden_layer_sizes": (32, 32), "n_steps": 2}
_QUICK_PARAMS = {
    **dict.fromkeys(NEURAL, _TINY_FLOW),
    # The learned noise's own L-BFGS fit takes seconds on the 64 digits
    # columns at its defaults; a smoke run only needs it to run.
    "default": {**_TINY_FLOW, "noise": QuantileNoise(max_iter=5)},
    "gmm": {"n_components": (1, 2)},
    "kde": {"bandwidths": (0.1, 0.3, 1.0)},
    "torchcfm": {"max_iter": 10, "hidden_layer_sizes": (32, 32), "n_steps": 2},
    "forestflow": {"n_t": 5, "max_duplicated_rows": 5000},
    "zuko": {"max_iter": 10, "hidden_features": (32, 32)},
}

SETTINGS = {
    "full": {
        "n_train": 20000,  # synthetic sets; the tables keep their own size
        "n_holdout": 10000,
        "n_sample": 10000,  # rows drawn (and timed) per model
        "n_energy": 3000,  # rows per side: the energy distance is quadratic
        "n_energy_draws": 10,  # sample draws that each energy distance averages
        "n_c2st": 3000,  # rows per side of the classifier test
        "c2st_folds": 5,
        "n_loglik": 1000,  # reference rows scored (the exact divergence is costly)
        "n_floor_replicates": 10,  # floor statistics behind its spread
        "params": {  # per kind of dataset, per model
            "synthetic": dict.fromkeys(("ou", "kac", "uniform"), _SHORT),
            "table": dict.fromkeys((*NEURAL[1:], "torchcfm", "zuko"), _SHORT),
        },
    },
    "quick": {
        "n_train": 600,
        "n_holdout": 400,
        "n_sample": 400,
        "n_energy": 400,
        "n_energy_draws": 5,
        "n_c2st": 200,
        # Halves the test's cost, which dominates a quick run; the trees' leaves
        # need 20 rows, so on the wine table's 27 rows a side it sees nothing.
        "c2st_folds": 2,
        "n_loglik": 100,
        "n_floor_replicates": 3,
        "params": {"synthetic": _QUICK_PARAMS, "table": _QUICK_PARAMS},
    },
}


@dataclass
class Dataset:
    """A fixed split, and the true samples that make the floor.

    ``floor_replicates[k]`` is ``(true draws, reference rows)``: a list of
    true samples, each scored against the reference as a model's sample
    draws are. Models are compared with the reference of replicate 0, whose
    first draw is the floor row, and all replicates give the floor's spread.
    ``energy_references[j]``, where set, replaces the reference for the
    energy distance of draw ``j``, model's and floor's alike: fresh held-out
    rows per draw on the synthetic sets.
    """

    name: str
    kind: str  # "synthetic" or "table": selects the training budgets
    X_train: np.ndarray
    X_holdout: np.ndarray
    floor_replicates: list
    description: str
    true_log_density: object = None
    energy_references: list = None

    @property
    def reference(self):
        """Held-out rows that every sample is compared with."""
        return self.floor_replicates[0][1]

    def energy_references_for(self, reference, n_draws):
        """The rows that each of ``n_draws`` draws meets in the energy distance."""
        if self.energy_references is None:
            return [reference] * n_draws
        return self.energy_references[:n_draws]


def _synthetic(name, make, settings, true_log_density=None):
    X_train = make(settings["n_train"], random_state=0)
    X_holdout = make(settings["n_holdout"], random_state=1)
    n_draws = settings["n_energy_draws"]
    replicates = _fresh_replicates(make, X_holdout, settings)
    references = [
        make(settings["n_energy"], random_state=1000 + j) for j in range(n_draws)
    ]
    description = (
        f"{len(X_train)} training rows, {len(X_holdout)} held-out rows "
        f"(seeds 0 and 1); floor: {len(replicates)} replicates of {n_draws} "
        f"fresh draws each (seeds 2 to {1 + len(replicates) * n_draws}); the "
        f"energy distance meets {n_draws} sets of fresh held-out rows, one per "
        f"draw (seeds 1000 to {999 + n_draws})."
    )
    return Dataset(
        name,
        "synthetic",
        X_train,
        X_holdout,
        replicates,
        description,
        true_log_density,
        references,
    )


def _fresh_replicates(make, X_holdout, settings):
    """Floor replicates of a synthetic law: fresh draws, each seed used once."""
    n_draws = settings["n_energy_draws"]
    return [
        (
            [
                make(len(X_holdout), random_state=2 + k * n_draws + j)
                for j in range(n_draws)
            ],
            X_holdout,
        )
        for k in range(settings["n_floor_replicates"])
    ]


def _table(name, load, settings, remark="", dequantise=False, stratify=True):
    X_train, X_holdout = _standardised_split(load, dequantise, stratify)
    half = len(X_holdout) // 2
    replicates = _halvings(X_holdout, settings["n_floor_replicates"])
    description = (
        f"{len(X_train)} training rows, {len(X_holdout)} held-out rows "
        f"({'stratified ' if stratify else ''}70/30 split, seed 0), standardised "
        "on the training rows; "
        f"samples are compared with {half} held-out rows and the floor is the "
        f"other half (one draw: its spread is over {len(replicates)} random "
        f"halvings).{remark}"
    )
    n_constant = int(np.count_nonzero(np.ptp(X_train, axis=0) == 0))
    if n_constant:
        description += f" {n_constant} columns are constant in the training rows."
    return Dataset(name, "table", X_train, X_holdout, replicates, description)


def _standardised_split(load, dequantise, stratify):
    """A 70/30 split, stratified on the class for classification sets, scaled
    on its training rows."""
    X, y = load(return_X_y=True)
    if dequantise:
        X = X + np.random.default_rng(0).uniform(size=X.shape)
    X_train, X_holdout = train_test_split(
        X, test_size=0.3, random_state=0, stratify=y if stratify else None
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_holdout)


def _halvings(X_holdout, n_replicates):
    """Floor replicates of a table: one random half against the other."""
    half = len(X_holdout) // 2
    replicates = []
    for k in range(n_replicates):
        order = np.random.default_rng(k).permutation(len(X_holdout))
        replicates.append(
            ([X_holdout[order[half : 2 * half]]], X_holdout[order[:half]])
        )
    return replicates


def _moons(n_samples, random_state):
    return make_moons(n_samples, noise=0.05, random_state=random_state)[0]


DATASETS = {
    "checkerboard": lambda s: _synthetic(
        "checkerboard", make_checkerboard, s, lambda X: log_density("checkerboard", X)
    ),
    "gaussian_grid": lambda s: _synthetic(
        "gaussian_grid",
        make_gaussian_grid,
        s,
        lambda X: log_density("gaussian_grid", X),
    ),
    "funnel": lambda s: _synthetic(
        "funnel", make_funnel, s, lambda X: log_density("funnel", X)
    ),
    "moons": lambda s: _synthetic("moons", _moons, s),
    "wine": lambda s: _table("wine", load_wine, s),
    "breast_cancer": lambda s: _table("breast_cancer", load_breast_cancer, s),
    "diabetes": lambda s: _table(
        "diabetes",
        load_diabetes,
        s,
        " The target is continuous, so the split is not stratified.",
        stratify=False,
    ),
    "digits": lambda s: _table(
        "digits",
        load_digits,
        s,
        " Pixel intensities, integers from 0 to 16, are dequantised before the "
        "split: uniform noise on [0, 1) (seed 0) is added to each, as is standard "
        "for density models of discrete data, or the classifier test would tell "
        "any continuous sampler from the integer-valued data. The 3 pixels that "
        "are always 0 become uniform noise.",
        dequantise=True,
    ),
}


@dataclass(frozen=True)
class Model:
    """How to build one contender: ``factory(**fixed, **settings params)``.

    ``requires`` names the optional package the model needs, if any.
    """

    label: str
    factory: object
    fixed: dict = field(default_factory=dict)
    requires: str = None


def _ours(label, **variant):
    return Model(label, FlowMatchingGenerator, {"random_state": 0, **variant})


MODELS = {
    "default": _ours("ours: learned noise + OT (default)"),
    "gaussian-ot": _ours("ours: Gaussian noise + OT", noise="gaussian"),
    "gaussian-independent": _ours(
        "ours: Gaussian noise, independent", noise="gaussian", coupling="independent"
    ),
    "ou": _ours("ours: OU process", process="ou"),
    "kac": _ours(
        "ours: Kac process, independent", process="kac", coupling="independent"
    ),
    "uniform": _ours("ours: uniform process", process="uniform"),
    "gmm": Model("GaussianMixture (BIC)", _peers.GaussianMixtureBIC),
    "kde": Model("KernelDensity (CV bandwidth)", _peers.KernelDensityCV),
    "torchcfm": Model("torchcfm OT-CFM", _peers.TorchCFM, requires="torchcfm"),
    "forestflow": Model(
        "ForestFlow (ForestDiffusion)", _peers.ForestFlow, requires="ForestDiffusion"
    ),
    "zuko": Model("zuko NSF", _peers.ZukoNSF, requires="zuko"),
}
