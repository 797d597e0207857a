"""Table generators for ``benchmarks/tables.py``, behind one small interface.

Every contender is a scikit-learn style estimator with ``fit(X)`` on a
pandas DataFrame, ``sample(n_samples, random_state)`` returning a DataFrame
with the training columns, and, where the model defines a likelihood of a
table's rows, ``score_samples(X)``; ``score_samples`` is absent otherwise.

:class:`GaussianMixtureTable` always runs. The SDV synthesizers
(:class:`SDVGaussianCopula`, :class:`SDVCTGAN`, :class:`SDVTVAE`) and
ForestDiffusion's flow (:class:`ForestFlowTable`) need their packages, which
are not dependencies of adaptnoise (``benchmarks/requirements-tables.txt``):
:data:`OPTIONAL_PACKAGES` records which imported, so the benchmark skips
the others with a note.
"""

import contextlib

import numpy as np
import pandas as pd
import torch
from _peers import GaussianMixtureBIC
from _table_metrics import column_kinds
from sklearn.base import BaseEstimator

from adaptnoise.tables import TableEncoder

try:
    import sdv
    from sdv.single_table import GaussianCopulaSynthesizer
except ImportError:
    sdv = None

try:
    from ForestDiffusion import ForestDiffusionModel
except ImportError:
    ForestDiffusionModel = None

__all__ = [
    "OPTIONAL_PACKAGES",
    "ForestFlowTable",
    "GaussianMixtureTable",
    "SDVCTGAN",
    "SDVGaussianCopula",
    "SDVTVAE",
]

OPTIONAL_PACKAGES = {
    "sdv": sdv is not None,
    "ForestDiffusion": ForestDiffusionModel is not None,
}


@contextlib.contextmanager
def _global_seeds(random_state):
    """Seed NumPy's and torch's global generators, and restore them after.

    SDV, CTGAN and ForestDiffusion draw from the global generators, so
    seeding those is the only way to make them reproducible; restoring them
    keeps the rest of the benchmark independent of these calls.
    """
    state = np.random.get_state()  # noqa: NPY002
    with torch.random.fork_rng():
        if random_state is not None:
            np.random.seed(random_state)  # noqa: NPY002
            torch.manual_seed(random_state)
        try:
            yield
        finally:
            np.random.set_state(state)  # noqa: NPY002


class GaussianMixtureTable(BaseEstimator):
    """Gaussian mixture (components by BIC) on the one-hot, standardised table.

    :class:`~adaptnoise.tables.TableEncoder` with one-hot categorical
    columns gives the matrix, which ``GaussianMixtureBIC`` of
    ``benchmarks/_peers.py`` standardises and fits; samples are decoded by
    the encoder: the largest column of each one-hot group, integers rounded,
    booleans and missing indicators thresholded at 0.5, values clipped to
    the training range. Its density lives on the encoding, not on the
    table's rows, so it has no ``score_samples``.

    Parameters
    ----------
    n_components : tuple of int, default=(1, 2, 4, 8, 16, 32)
        Candidate numbers of components.
    random_state : int, default=0
        Seeds the mixtures' initialisation.
    """

    def __init__(self, n_components=(1, 2, 4, 8, 16, 32), random_state=0):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        """Encode ``X`` and fit the mixtures; ``y`` is ignored."""
        self.encoder_ = TableEncoder(categorical_encoding="onehot").fit(X)
        self.mixture_ = GaussianMixtureBIC(self.n_components, self.random_state)
        self.mixture_.fit(self.encoder_.transform(X))
        return self

    def sample(self, n_samples, random_state=None):
        """Draw ``n_samples`` rows as a DataFrame of the training columns."""
        return self.encoder_.inverse_transform(
            self.mixture_.sample(n_samples, random_state)
        )


_SDTYPES = {
    "numeric": "numerical",
    "datetime": "datetime",
    "boolean": "boolean",
    "categorical": "categorical",
}


def _sdv_metadata(kinds):
    """SDV metadata with the benchmark's kinds, for SDV 1.x and 2.x.

    The kinds are stated rather than detected: detection takes a numeric
    column of distinct values for an ID, which SDV then fills with
    arbitrary keys.
    """
    columns = {name: {"sdtype": _SDTYPES[kind]} for name, kind in kinds.items()}
    try:
        from sdv.metadata import Metadata
    except ImportError:  # SDV before 1.17 has only the single-table class
        from sdv.metadata import SingleTableMetadata

        return SingleTableMetadata.load_from_dict(
            {"columns": columns, "METADATA_SPEC_VERSION": "SINGLE_TABLE_V1"}
        )
    return Metadata.load_from_dict(
        {"tables": {"table": {"columns": columns}}, "METADATA_SPEC_VERSION": "V1"}
    )


def _sdv_major():
    return int(sdv.__version__.split(".")[0])


class _SDV(BaseEstimator):
    """An SDV single-table synthesizer; subclasses build it (``_synthesizer``).

    Categorical columns are passed to SDV as objects, which CTGAN and TVAE
    require, and cast back to their training dtype in the samples.
    """

    def fit(self, X, y=None):
        """Fit the synthesizer to the DataFrame ``X``; ``y`` is ignored."""
        metadata = _sdv_metadata(column_kinds(X))
        self.synthesizer_ = self._synthesizer(metadata)
        self.categories_ = {
            name: column.dtype
            for name, column in X.items()
            if isinstance(column.dtype, pd.CategoricalDtype)
        }
        X = X.astype(dict.fromkeys(self.categories_, object))
        with _global_seeds(self.random_state):
            # SDV 2 takes a dict of tables even for a single table.
            self.synthesizer_.fit({"table": X} if _sdv_major() >= 2 else X)
        return self

    def sample(self, n_samples, random_state=None):
        """Draw ``n_samples`` rows from SDV's generator, seeded by ``random_state``."""
        if random_state is not None:
            self.synthesizer_._set_random_state(random_state)
        with _global_seeds(random_state):
            rows = self.synthesizer_.sample(n_samples)
        rows = rows["table"] if isinstance(rows, dict) else rows
        return rows.astype(self.categories_)


class SDVGaussianCopula(_SDV):
    """SDV's ``GaussianCopulaSynthesizer`` at its defaults.

    Parameters
    ----------
    random_state : int, default=0
        Seeds the fit.
    """

    def __init__(self, random_state=0):
        self.random_state = random_state

    def _synthesizer(self, metadata):
        return GaussianCopulaSynthesizer(metadata)


class _SDVNeural(_SDV):
    """An SDV neural synthesizer, named by ``_name``, trained for some epochs.

    Parameters
    ----------
    epochs : int, default=300
        Training epochs (SDV's default).
    random_state : int, default=0
        Seeds the fit.
    """

    def __init__(self, epochs=300, random_state=0):
        self.epochs = epochs
        self.random_state = random_state

    def _synthesizer(self, metadata):
        synthesizer = getattr(sdv.single_table, self._name)
        return synthesizer(metadata, epochs=self.epochs)


class SDVCTGAN(_SDVNeural):
    """SDV's ``CTGANSynthesizer``; see :class:`_SDVNeural` for the parameters."""

    _name = "CTGANSynthesizer"


class SDVTVAE(_SDVNeural):
    """SDV's ``TVAESynthesizer``; see :class:`_SDVNeural` for the parameters."""

    _name = "TVAESynthesizer"


def _forest_indexes(encoder):
    """ForestDiffusion's binary, categorical and integer encoded columns.

    Codes of a categorical column with three or more levels (missing
    counting as one) are ``cat_indexes``, which ForestDiffusion one-hots;
    0/1 columns (booleans, two-level codes, missing indicators) are
    ``bin_indexes``; the other lattice columns (integers, datetimes) are
    ``int_indexes``.
    """
    binary, categorical, integer = [], [], []
    for kind, part in zip(encoder.kinds_, encoder.encoded_slices_, strict=True):
        for j in range(part.start, part.stop):
            low, high = encoder.bounds_[j]
            if not encoder.discrete_[j]:
                continue
            if low == 0 and high == 1:
                binary.append(j)
            elif kind == "categorical":
                categorical.append(j)
            else:
                integer.append(j)
    return binary, categorical, integer


class ForestFlowTable(BaseEstimator):
    """ForestDiffusion's flow with gradient-boosted trees, on the encoded table.

    :class:`~adaptnoise.tables.TableEncoder` (categorical codes, missing
    indicators) gives the matrix, with its columns declared to
    ForestDiffusion as ``bin_indexes``, ``cat_indexes`` and ``int_indexes``;
    samples are decoded by the encoder. No likelihood.

    Parameters
    ----------
    n_t : int, default=50
        Noise levels (and Euler steps when sampling).
    n_estimators : int, default=100
        Trees per noise level and column.
    max_duplicated_rows : int, default=200000
        ``duplicate_K`` (copies of each row with fresh noise, 100 by default
        in ForestDiffusion) is lowered so that the copies stay below this
        many rows.
    n_jobs : int, default=1
        Parallel tree fits.
    random_state : int, default=0
        ForestDiffusion's seed.
    """

    def __init__(
        self,
        n_t=50,
        n_estimators=100,
        max_duplicated_rows=200000,
        n_jobs=1,
        random_state=0,
    ):
        self.n_t = n_t
        self.n_estimators = n_estimators
        self.max_duplicated_rows = max_duplicated_rows
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y=None):
        """Encode ``X`` and fit the trees; ``y`` is ignored."""
        self.encoder_ = TableEncoder().fit(X)
        binary, categorical, integer = _forest_indexes(self.encoder_)
        self.duplicate_k_ = int(np.clip(self.max_duplicated_rows // len(X), 1, 100))
        with _global_seeds(self.random_state):
            self.model_ = ForestDiffusionModel(
                self.encoder_.transform(X),
                n_t=self.n_t,
                n_estimators=self.n_estimators,
                duplicate_K=self.duplicate_k_,
                bin_indexes=binary,
                cat_indexes=categorical,
                int_indexes=integer,
                diffusion_type="flow",
                n_jobs=self.n_jobs,
                seed=self.random_state,
            )
        return self

    def sample(self, n_samples, random_state=None):
        """Draw ``n_samples`` rows as a DataFrame of the training columns."""
        with _global_seeds(random_state):
            Z = self.model_.generate(batch_size=n_samples)
        return self.encoder_.inverse_transform(Z)
