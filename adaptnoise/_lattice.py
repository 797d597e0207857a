"""Ordered lattice columns mapped so that each value spans its share of a normal law."""

import numpy as np
import torch
from scipy.special import ndtri

from adaptnoise._shapes import (
    NormalScoreMaps,
    NormalScores,
    long_tailed,
    quantile_levels,
    quantile_scores,
)

__all__ = ["LatticeStretch", "ordered_lattice_columns", "spread_shares"]

# Kinds whose encoded value column is an ordered lattice: a value k stands
# for its unit cell [k - 0.5, k + 0.5).
_ORDERED_LATTICE_KINDS = ("integer", "discrete", "datetime")


def ordered_lattice_columns(encoder):
    """The encoded value columns of a fitted encoder's ordered lattice kinds."""
    return [
        part.start
        for kind, part in zip(encoder.kinds_, encoder.encoded_slices_, strict=True)
        if kind in _ORDERED_LATTICE_KINDS
    ]


class LatticeStretch(NormalScoreMaps):
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

    A column with unseen values between its ends (a mass in grams, a count
    with gaps) would need a share for the values it never saw. It is left
    on its unit cells, where the learned noise takes its law as it does a
    continuous column's, unless it is long-tailed (its middle half a sliver
    of its spread, see :func:`~adaptnoise._shapes.middle_share`: sales
    counts, enrolments), which a flow smears as it does a continuous
    column of that shape: then ``S`` goes through the quantiles, at
    ``ceil(sqrt(n))`` evenly spaced levels, of the law that spreads each
    value's rows over its unit cell, as :class:`~adaptnoise._shapes.ShapeStretch`
    maps a continuous column, and a cell's levels are ``S`` at its edges.

    Parameters
    ----------
    columns : list of int
        The columns of the encoded table that may be mapped.

    Attributes
    ----------
    columns_ : list of int
        The columns mapped: those whose seen values fill their range, and
        long-tailed ones.
    """

    def __init__(self, columns):
        self.columns = columns

    def fit(self, encoded):
        """Learn each column's levels from the (filled) encoded rows."""
        # Whether each line's knots are its cells' edges (a column that fills
        # its range), so that a cell's levels are two of its shares.
        self.columns_, self._lines, self._on_edges = [], [], []
        for j in self.columns:
            levels, counts = np.unique(encoded[:, j], return_counts=True)
            n = counts.sum()
            if levels[-1] - levels[0] + 1 == levels.size:
                edge = 0.5 / (n + 1)
                shares = edge + (1 - 2 * edge) * np.r_[0.0, np.cumsum(counts)] / n
                knots = np.r_[levels - 0.5, levels[-1] + 0.5]
                line, on_edges = NormalScores(knots, shares), True
            elif levels.size >= 3 and long_tailed(encoded[:, j]):
                at = quantile_levels(n)
                line = quantile_scores(_cell_quantiles(levels, counts, at), at, n)
                on_edges = False
            else:
                continue
            self._lines.append(line)
            self._on_edges.append(on_edges)
            self.columns_.append(j)
        return self

    def share_cells(self, encoded):
        """Each row's cell in levels: lower ends and widths, both of shape
        (n_rows, len(columns_)), for rows on the lattice."""
        low, width = np.empty((2, encoded.shape[0], len(self.columns_)))
        lines = zip(self.columns_, self._lines, self._on_edges, strict=True)
        for i, (j, line, on_edges) in enumerate(lines):
            if on_edges:
                cell = np.floor(encoded[:, j] - line.knots[0])
                cell = np.clip(cell, 0, line.n_cells - 1).astype(np.intp)
                low[:, i] = line.shares[cell]
                width[:, i] = np.diff(line.shares)[cell]
            else:
                low[:, i] = np.interp(encoded[:, j] - 0.5, line.knots, line.shares)
                high = np.interp(encoded[:, j] + 0.5, line.knots, line.shares)
                width[:, i] = high - low[:, i]
        return low, width


def _cell_quantiles(levels, counts, at):
    """Quantiles at the levels ``at`` of the law that spreads each value's
    rows uniformly over its unit cell."""
    cumulative = np.r_[0.0, np.cumsum(counts)] / counts.sum()
    cell = np.clip(
        np.searchsorted(cumulative, at, side="right") - 1, 0, levels.size - 1
    )
    within = (at - cumulative[cell]) / (cumulative[cell + 1] - cumulative[cell])
    return levels[cell] - 0.5 + within


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
