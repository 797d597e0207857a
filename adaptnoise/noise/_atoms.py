"""Point masses of a column: values repeated far more often than their neighbours."""

import numpy as np

__all__ = ["ColumnAtoms", "continuous_sorted", "find_atoms"]

# A value is an atom when it holds at least _MIN_COUNT rows and _MIN_SHARE of
# them, and at least _RATIO times as many as any of the _NEIGHBOURS distinct
# values on each side of it. Exact repeats of a continuous law are
# essentially impossible, and a column rounded to some resolution, or
# heaped at round values, repeats each value about as often as its nearby
# ones, so neither makes atoms; a zero, a cap or a default stands far above
# its neighbours.
_MIN_COUNT = 5
_MIN_SHARE = 0.01
_NEIGHBOURS = 5
_RATIO = 5


def find_atoms(x):
    """The atoms of the 1-D column ``x`` and their shares of its rows.

    A column with fewer than two distinct values besides its atoms gets
    none: its continuous part would have nothing to fit.

    Returns
    -------
    values : ndarray of shape (n_atoms,)
        The atoms, increasing, exactly as they occur in ``x``.
    masses : ndarray of shape (n_atoms,)
        Each atom's share of the rows.
    """
    values, counts = np.unique(x, return_counts=True)
    none = np.empty(0), np.empty(0)
    frequent = np.flatnonzero(counts >= max(_MIN_COUNT, _MIN_SHARE * len(x)))
    if len(values) < 2 or not frequent.size:
        return none
    reference = np.array(
        [
            np.r_[
                counts[max(0, i - _NEIGHBOURS) : i], counts[i + 1 :][:_NEIGHBOURS]
            ].max()
            for i in frequent
        ]
    )
    atoms = frequent[counts[frequent] >= _RATIO * reference]
    if len(values) - len(atoms) < 2:
        return none
    return values[atoms], counts[atoms] / len(x)


class ColumnAtoms:
    """The atoms of each column of ``X`` and the rows of its continuous part.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, in its own units, so that atoms are its exact values.
    skip : ndarray of bool of shape (n_features,)
        Columns to give no atoms (constant ones, which are set aside whole).
    """

    def __init__(self, X, skip):
        found = [
            find_atoms(x) if not s else (np.empty(0), np.empty(0))
            for x, s in zip(X.T, skip, strict=True)
        ]
        self.values = [values for values, _ in found]
        self.masses = [masses for _, masses in found]
        self.on_atom = np.column_stack(
            [np.isin(x, values) for x, values in zip(X.T, self.values, strict=True)]
        )

    @property
    def any(self):
        """Whether any column has an atom."""
        return any(len(values) for values in self.values)

    def padded(self):
        """Values and masses as (n_features, most atoms) arrays, padded with mass 0."""
        width = max(len(values) for values in self.values)
        values, masses = np.zeros((2, len(self.values), width))
        for j, (v, w) in enumerate(zip(self.values, self.masses, strict=True)):
            values[j, : len(v)], masses[j, : len(w)] = v, w
        return values, masses

    def continuous_columns(self, Xs):
        """Each atom column's continuous rows (those off its atoms), sorted.

        A dict from column index to rows; ``Xs`` is the data in any units.
        """
        return {
            j: np.sort(Xs[~self.on_atom[:, j], j])
            for j in np.flatnonzero(self.on_atom.any(axis=0))
        }


def continuous_sorted(X_sorted, columns):
    """``X_sorted`` with the columns of ``columns`` replaced by their rows there.

    A continuous part has fewer rows than the table; it is resampled to one
    value per midpoint level ``(k - 1/2) / n`` of the table by linear
    interpolation of its own empirical quantile function between its
    outermost rows, so that every column's fit sees ``n`` levels.
    """
    X_sorted = X_sorted.copy()
    for j, rows in columns.items():
        X_sorted[:, j] = _resample(rows, len(X_sorted))
    return X_sorted


def _resample(x_sorted, n):
    m = len(x_sorted)
    levels = (np.arange(n) + 0.5) / n
    own = 0.5 / m + (levels - 0.5 / n) * (1 - 1 / m) / (1 - 1 / n)
    return np.interp(own, (np.arange(m) + 0.5) / m, x_sorted)
