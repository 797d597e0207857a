"""Long-tailed continuous columns mapped onto their quantiles' normal scores."""

import numpy as np

from adaptnoise._lattice import NormalScores

__all__ = ["ShapeStretch", "middle_share"]

# A column is mapped when its middle half spans less than this share of what
# it would in a normal law of the same standard deviation: its spread is
# then its tail's, and its bulk a sliver of it. Exponential, gamma(1/2) and
# Student-t(3) columns keep more than 0.6 of it, a lognormal column of shape
# 1.5 about a quarter.
_MAX_MIDDLE_SHARE = 0.5
# The interquartile range of the standard normal law.
_NORMAL_IQR = 1.3490


class ShapeStretch:
    """Map long-tailed continuous columns onto their quantiles' normal scores.

    A flow's velocity is a smooth network: a column whose rows crowd into a
    bulk a few hundredths of its spread wide, next to a long tail (Boston's
    per-capita crime rate, whose upper quarter spans nearly all of its
    range), comes back with its bulk smeared far beyond it. This map sends
    such a column through ``T(x) = ndtri(S(x))``, where ``S`` is piecewise
    linear through the column's quantiles at
    ``ceil(sqrt(n))`` evenly spaced levels (shrunk into ``[d, 1 - d]``,
    ``d = 1 / (2 (n + 1))``), so that the flow sees a near-normal column
    whose bulk spans most of the line. ``T`` is monotone, with a positive
    derivative everywhere, and beyond the data's range linear with its mean
    slope over the outermost cell: every value has a code and a density,
    and a held-out value a little beyond the range stays near the normal
    law's edge.

    The map costs held-out likelihood where a column does not need it (a
    piecewise-linear ``S`` has a step-shaped density the flow then has to
    undo), and it closes the gaps between well separated modes, which a
    blur then crosses; so only columns whose middle half spans less than
    half of what it would in a normal law of the same standard deviation
    (see :func:`middle_share`) are mapped.

    Parameters
    ----------
    columns : list of int
        The columns that may be mapped.

    Attributes
    ----------
    columns_ : list of int
        The columns mapped.
    """

    def __init__(self, columns):
        self.columns = columns

    def fit(self, X):
        """Learn the map of each long-tailed column of ``X``."""
        self.columns_, self._lines = [], []
        for j in self.columns:
            x = X[:, j]
            if np.unique(x).size < 3 or middle_share(x) >= _MAX_MIDDLE_SHARE:
                continue
            n = x.size
            levels = np.linspace(0, 1, int(np.ceil(np.sqrt(n))) + 1)
            # Tied quantiles are one knot, at their levels' mean.
            knots, tie = np.unique(np.quantile(x, levels), return_inverse=True)
            levels = np.bincount(tie, levels) / np.bincount(tie)
            edge = 0.5 / (n + 1)
            self.columns_.append(j)
            shares = edge + (1 - 2 * edge) * levels
            self._lines.append(NormalScores(knots, shares, chords=True))
        return self

    def transform(self, X):
        """``X`` with the mapped columns at their codes (a copy)."""
        rows = np.array(X, dtype=np.float64)
        for j, line in zip(self.columns_, self._lines, strict=True):
            rows[:, j] = line.code(rows[:, j])
        return rows

    def inverse_transform(self, codes):
        """The mapped columns back in their own units (a copy)."""
        rows = np.array(codes, dtype=np.float64)
        for j, line in zip(self.columns_, self._lines, strict=True):
            rows[:, j] = line.value(rows[:, j])
        return rows

    def log_derivative(self, X):
        """Per-row sum of ``log T'(x)`` over the mapped columns of ``X``."""
        total = np.zeros(X.shape[0])
        for j, line in zip(self.columns_, self._lines, strict=True):
            total += line.log_slope(X[:, j])
        return total


def middle_share(x):
    """The interquartile range of ``x`` over that of a normal law of its spread."""
    quartiles = np.quantile(x, [0.25, 0.75])
    return float((quartiles[1] - quartiles[0]) / (_NORMAL_IQR * x.std()))
