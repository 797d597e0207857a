"""Ordered lattice columns mapped so that each value spans its share of a normal law."""

import numpy as np
import torch
from scipy.special import ndtr, ndtri

__all__ = ["LatticeStretch", "NormalScores", "ordered_lattice_columns", "spread_shares"]

# Kinds whose encoded value column is an ordered lattice: a value k stands
# for its unit cell [k - 0.5, k + 0.5).
_ORDERED_LATTICE_KINDS = ("integer", "discrete", "datetime")
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def ordered_lattice_columns(encoder):
    """The encoded value columns of a fitted encoder's ordered lattice kinds."""
    return [
        part.start
        for kind, part in zip(encoder.kinds_, encoder.encoded_slices_, strict=True)
        if kind in _ORDERED_LATTICE_KINDS
    ]


class LatticeStretch:
    """Map ordered lattice columns so that each value's cell spans its share.

    On the integer lattice a value held by a third of the rows (12 years of
    schooling) is a unit cell holding a third of the mass: a spike, which a
    flow must rebuild from noise wherever the rest of the row moves it, and
    which it blurs into the neighbouring values when the column depends on
    others (on a survey table, the samples' share of the heaped value fell
    from 37% to 12%). This map sends the cell of the value ``k`` to the
    levels ``[S(k - 0.5), S(k + 0.5)]`` of the standard normal law, where
    ``S`` is piecewise linear with the cumulative shares of the rows at the
    cells' edges (shrunk into ``[d, 1 - d]``, ``d = 1 / (2 (n + 1))``): the
    code is ``T(x) = ndtri(S(x))``. A row dequantised uniformly in its
    cell's levels, as :func:`spread_shares` does, then has a normal
    marginal, whatever the column's law: a heaped value is a wide stretch of
    the line, and no cell has an edge where a flow's blur would pile mass
    onto the outermost values. The value ``k`` itself is coded at its
    cell's middle level. Beyond the range ``T`` goes on linearly with its
    slope at the ends, so every value has a code and a derivative.

    Only columns whose seen values fill their range are mapped: a column
    with unseen values between its ends (a mass in grams, a count with
    gaps) would need a share for the values it never saw, and is left on
    its unit cells, where the learned noise takes its law as it does a
    continuous column's.

    Parameters
    ----------
    columns : list of int
        The columns of the encoded table that may be mapped.

    Attributes
    ----------
    columns_ : list of int
        The columns mapped: those whose seen values fill their range.
    """

    def __init__(self, columns):
        self.columns = columns

    def fit(self, encoded):
        """Learn each column's levels from the (filled) encoded rows."""
        self.columns_, self._lines = [], []
        for j in self.columns:
            levels, counts = np.unique(encoded[:, j], return_counts=True)
            if levels[-1] - levels[0] + 1 != levels.size:
                continue
            self.columns_.append(j)
            n = counts.sum()
            edge = 0.5 / (n + 1)
            shares = edge + (1 - 2 * edge) * np.r_[0.0, np.cumsum(counts)] / n
            self._lines.append(
                NormalScores(np.r_[levels - 0.5, levels[-1] + 0.5], shares)
            )
        return self

    def transform(self, encoded):
        """The encoded rows with the lattice columns mapped (a copy)."""
        rows = np.array(encoded, dtype=np.float64)
        for j, line in zip(self.columns_, self._lines, strict=True):
            rows[:, j] = line.code(rows[:, j])
        return rows

    def inverse_transform(self, codes):
        """The lattice columns back in lattice units (a copy)."""
        rows = np.array(codes, dtype=np.float64)
        for j, line in zip(self.columns_, self._lines, strict=True):
            rows[:, j] = line.value(rows[:, j])
        return rows

    def log_derivative(self, encoded):
        """Per-row sum of ``log T'(x)`` over the mapped columns of ``encoded``.

        At a lattice value the flow's density at the code times ``T'`` is
        the value's mass, as its cell spans ``T'`` of the code's line about
        the code; between values (a discrete column's value between its
        levels) it is a density in the value's units.
        """
        total = np.zeros(encoded.shape[0])
        for j, line in zip(self.columns_, self._lines, strict=True):
            total += line.log_slope(encoded[:, j])
        return total

    def share_cells(self, encoded):
        """Each row's cell in levels: lower ends and widths, both of shape
        (n_rows, len(columns_)), for rows on the lattice."""
        low, width = np.empty((2, encoded.shape[0], len(self.columns_)))
        for i, (j, line) in enumerate(zip(self.columns_, self._lines, strict=True)):
            cell = np.clip(np.floor(encoded[:, j] - line.knots[0]), 0, line.n_cells - 1)
            cell = cell.astype(np.intp)
            low[:, i] = line.shares[cell]
            width[:, i] = np.diff(line.shares)[cell]
        return low, width


class NormalScores:
    """``T = ndtri(S)`` of one column, ``S`` piecewise linear through
    ``(knots, shares)`` (increasing knots, shares inside (0, 1)); beyond the
    end knots ``T`` goes on linearly with its slope there, or with ``chords``
    with the mean slope of ``T`` over the outermost cells, which is far
    gentler where the end share is small: the slope at the end grows as
    ``1 / pdf(ndtri(share))``, and a value a little beyond the range would
    get a code far out in the normal's tail."""

    def __init__(self, knots, shares, chords=False):
        self.knots, self.shares = knots, shares
        self.n_cells = knots.size - 1
        self.slopes = np.diff(shares) / np.diff(knots)
        self.ends = ndtri(shares[[0, -1]])
        if chords:
            inner = ndtri(shares[[1, -2]])
            steps = np.diff(knots)[[0, -1]]
            self.end_slopes = np.abs(self.ends - inner) / steps
        else:
            # T' at the ends, where the linear continuation starts.
            self.end_slopes = self.slopes[[0, -1]] / _normal_pdf(self.ends)

    def code(self, x):
        inside = np.clip(x, self.knots[0], self.knots[-1])
        z = ndtri(np.interp(inside, self.knots, self.shares))
        return z + np.where(
            x < self.knots[0],
            (x - self.knots[0]) * self.end_slopes[0],
            np.where(
                x > self.knots[-1], (x - self.knots[-1]) * self.end_slopes[1], 0.0
            ),
        )

    def value(self, z):
        inside = np.clip(z, *self.ends)
        x = np.interp(ndtr(inside), self.shares, self.knots)
        return x + np.where(
            z < self.ends[0],
            (z - self.ends[0]) / self.end_slopes[0],
            np.where(z > self.ends[1], (z - self.ends[1]) / self.end_slopes[1], 0.0),
        )

    def log_slope(self, x):
        segment = np.searchsorted(self.knots, x, side="right") - 1
        segment = np.clip(segment, 0, self.n_cells - 1)
        z = self.code(np.clip(x, self.knots[0], self.knots[-1]))
        inside = np.log(self.slopes[segment]) + 0.5 * z**2 + _LOG_SQRT_2PI
        return np.where(
            x < self.knots[0],
            np.log(self.end_slopes[0]),
            np.where(x > self.knots[-1], np.log(self.end_slopes[1]), inside),
        )


def _normal_pdf(z):
    return np.exp(-0.5 * z**2 - _LOG_SQRT_2PI)


def spread_shares(rows, cells, u):
    """Rows with their mapped columns dequantised: a uniform draw ``u`` in
    each cell's levels, coded by the normal quantile, in flow units.

    ``cells`` is ``(columns, low, width, mean, scale)``: the mapped columns'
    places among the flow's columns, each row's cell (see
    :meth:`LatticeStretch.share_cells`) and the standardisation of those
    columns. Works alike on NumPy arrays and torch tensors; levels are
    formed in float64, where ``1 - d`` is still far from 1.
    """
    columns, low, width, mean, scale = cells
    if isinstance(rows, torch.Tensor):
        levels = low + u[:, columns].double() * width
        codes = torch.special.ndtri(levels).to(rows.dtype)
    else:
        codes = ndtri(low + u[:, columns] * width)
    rows[:, columns] = (codes - mean) / scale
    return rows
