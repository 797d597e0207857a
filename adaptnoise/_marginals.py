"""Integrating columns out of a row's likelihood, for values missing at scoring.

A value missing in a column that had no missing value during fit leaves the
rest of the row, whose likelihood is the joint one with that column
integrated out (summed, for a discrete column). Each column gets a
quadrature over its training marginal, fixed at fit time:

- a continuous column is cut into ``_NODES`` quantile cells of its
  training rows off its atoms, of equal width in normal scores, each
  weighted by its width and evaluated at its middle quantile (a midpoint
  rule in normal scores, which puts the nodes where the column's rows are
  and is accurate for a smooth conditional law); an atom is one more
  node, weighted by the width of its window, as a row at the atom is
  scored by the density there of the flow that spread the atom's mass over
  the window; the cells give up what of them the windows overlap;
- a lattice column (integers, datetimes, booleans, category codes, the
  ranks of a discrete column) is summed over every code of its training
  range when there are at most ``_NODES`` of them, each weighted by the
  width of its cell in the column's units (1, or a discrete level's share
  of the line, where its score is a density); a wider range is cut into
  quantile cells of its dequantised codes as a continuous column is, each
  cell's middle rounded to its code;
- a constant column is its value, with weight 1.

Quadratures with half as many cells, down to one, are kept too. Several
such columns in one row are integrated over the product grid of their
quadratures, the widest coarsened first until the grid has at most
``_MAX_DRAWS`` nodes (two continuous columns: 32 and 16 nodes). With a
single such column the sum is that column's finest quadrature; a lattice
column of at most ``_NODES`` codes is summed exactly. The flow's density is
integrated over the column's training range only (its atoms' windows
included), so mass the flow puts beyond it is left out.
"""

import numpy as np
from scipy.special import ndtr, ndtri

from adaptnoise._codecs import _numpy_column, _series

__all__ = ["column_nodes", "integrated_rows"]

# Nodes of a column's quadrature: each costs a score of the rows that need it.
_NODES = 32
# Most draws of a row with several columns to integrate out, each a score.
_MAX_DRAWS = 512


def column_nodes(codec, block, atoms=None):
    """A column's quadratures, finest first: encoded nodes and log-weights.

    Parameters
    ----------
    codec : _Codec
        The fitted codec of the column.
    block : ndarray of shape (n_rows, codec.n_values)
        The column's training codes.
    atoms : tuple of ndarray or None
        A continuous column's atoms and their windows, as offsets from them
        (see :func:`~adaptnoise._columns.atom_windows`).

    Returns
    -------
    quadratures : list of (ndarray, ndarray)
        For ``_NODES`` cells, then half as many, down to one: the nodes, of
        shape (n_nodes, codec.n_values), codes that decode to the column's
        values there, and their log-weights, of shape (n_nodes,).
    """
    resolutions = [_NODES >> k for k in range(_NODES.bit_length())]
    if codec.kind == "constant":
        return [(np.empty((1, 0)), np.zeros(1))] * len(resolutions)
    if codec.kind == "continuous":
        if atoms is None:
            atoms = (np.empty(0),) * 3
        x = np.sort(block[~np.isin(block[:, 0], atoms[0]), 0])
        return [_continuous_nodes(x, atoms, cells) for cells in resolutions]
    if codec.kind == "categorical" and codec.onehot:
        codes = np.argmax(block, axis=1)
    else:
        codes = np.rint(block[:, 0]).astype(np.int64)
    codes = np.sort(codes)
    # Each code's rows spread evenly over its unit cell: a deterministic
    # dequantisation, so the cells' widths count the codes they hold.
    _, first, counts = np.unique(codes, return_index=True, return_counts=True)
    rank = np.arange(codes.size) - np.repeat(first, counts)
    spread = codes + (rank + 0.5) / np.repeat(counts, counts) - 0.5
    return [_lattice_nodes(codec, spread, cells) for cells in resolutions]


def _continuous_nodes(x, atoms, cells):
    """``x``: the column's sorted training values off its atoms."""
    values, below, above = atoms
    edges, middles = _quantile_cells(x, cells)
    widths = np.diff(edges)
    for low, high in zip(values + below, values + above, strict=True):
        overlap = np.minimum(edges[1:], high) - np.maximum(edges[:-1], low)
        widths = widths - overlap.clip(0, None)
    nodes = np.r_[middles, values]
    widths = np.r_[widths, above - below]
    keep = widths > 0
    return nodes[keep, None], np.log(widths[keep])


def _quantile_cells(x, cells):
    """Edges and middles of ``cells`` quantile cells of sorted ``x``.

    The cells are of equal width in normal scores, from the score of half a
    row's share to its mirror, so that the sparse ends, where a cell of
    equal share would span much of the column's range, are cut finer.
    """
    reach = ndtri(1 - 0.5 / x.size)
    levels = ndtr(np.linspace(-reach, reach, 2 * cells + 1))
    levels[0], levels[-1] = 0.0, 1.0
    # np.quantile's linear rule, on rows already sorted.
    points = np.interp(levels * (x.size - 1), np.arange(x.size), x)
    return points[::2], points[1::2]


def _lattice_nodes(codec, spread, cells):
    """``spread``: the column's sorted training codes, dequantised."""
    low, high = np.rint(spread[0]), np.rint(spread[-1])
    if high - low < cells:
        nodes = np.arange(low, high + 1).astype(np.int64)
        log_weights = np.zeros(nodes.size)
    else:
        edges, middles = _quantile_cells(spread, cells)
        nodes, where = np.unique(
            np.floor(middles + 0.5).astype(np.int64), return_inverse=True
        )
        weights = np.bincount(where, weights=np.diff(edges))
        nodes, log_weights = nodes[weights > 0], np.log(weights[weights > 0])
    if codec.kind == "discrete":
        log_weights = log_weights + np.log(codec.cells()[nodes])
    if codec.kind == "categorical" and codec.onehot:
        return np.eye(codec.n_values)[nodes], log_weights
    return nodes[:, None].astype(np.float64), log_weights


def integrated_rows(X, columns, margins, codecs):
    """The rows of ``X`` with the entries of ``columns`` at quadrature nodes.

    Parameters
    ----------
    X : DataFrame or ndarray of shape (n_rows, n_columns)
        Rows to integrate, in the scoring container.
    columns : sequence of int
        The columns to integrate out of every row, each with ``margins``.
    margins : list of quadratures or None, one per column
        The columns' quadratures (see :func:`column_nodes`).
    codecs : list of _Codec

    Returns
    -------
    table : DataFrame or ndarray of shape (n_rows * n_draws, n_columns)
        Each row repeated ``n_draws`` times, draw after draw, the entries
        set to the draw's nodes; a DataFrame gets a fresh index.
    log_weights : ndarray of shape (n_draws,)
        The log-weight of each draw, so that the log-sum-exp over a row's
        draws of their scores plus these is the row's integrated score.
    """
    quadratures = _grid(columns, margins)
    n_draws = int(np.prod([weights.size for _, weights in quadratures]))
    n_rows = X.shape[0]
    repeated = np.repeat(np.arange(n_rows), n_draws)
    table = (
        X.iloc[repeated].reset_index(drop=True) if hasattr(X, "iloc") else X[repeated]
    )
    log_weights = np.zeros(n_draws)
    stride = 1
    for j, (nodes, weights) in zip(columns, quadratures, strict=True):
        chosen = np.arange(n_draws) // stride % weights.size
        stride *= weights.size
        log_weights += weights[chosen]
        values, _ = codecs[j].decode(nodes[np.tile(chosen, n_rows)])
        table = _put(table, j, values, codecs[j])
    return table, log_weights


def _grid(columns, margins):
    """One quadrature per column, the widest coarsened first until their
    product grid has at most ``_MAX_DRAWS`` nodes."""
    levels = [0] * len(columns)
    sizes = [margins[j][0][1].size for j in columns]
    while np.prod(sizes, dtype=float) > _MAX_DRAWS:
        widest = int(np.argmax(sizes))
        levels[widest] += 1
        sizes[widest] = margins[columns[widest]][levels[widest]][1].size
    return [margins[j][level] for j, level in zip(columns, levels, strict=True)]


def _put(table, j, values, codec):
    """``table`` with column ``j`` replaced by ``values``, in the column's
    training dtype (a column of missing values may have lost it)."""
    missing = np.zeros(len(values), dtype=bool)
    if hasattr(table, "iloc"):
        import pandas as pd

        table.isetitem(j, _series(values, missing, codec, pd))
        return table
    column = _numpy_column(values, missing, codec)
    if column.dtype == object and table.dtype != object:
        table = table.astype(object)
    table[:, j] = column
    return table
