"""Sorted data pooled into runs of consecutive ranks: the 1D W2 at few points."""

import numpy as np
import torch

__all__ = ["PooledQuantiles"]

# A run is at most this fraction of its distance (in ranks) from the nearer
# end of the data, so that runs stay short where a quantile function bends.
_GROWTH = 0.25
# The summed squared residuals from their line of the m values of a run of a
# smooth density's sample stay below this over m times their squared range
# in 99 runs out of 100 (the sample's steps are then about exponential).
_RANDOM_STRAY = 0.25


class PooledQuantiles:
    r"""The empirical quantiles of each column, pooled into runs of ranks.

    With midpoint levels :math:`u_k = (k - 1/2)/n` and sorted data
    :math:`x_{(k)}`, the squared 1D Wasserstein-2 distance of a quantile
    function :math:`Q` to the data is :math:`\frac1n \sum_k (Q(u_k) -
    x_{(k)})^2`. On a run :math:`G` of consecutive ranks, write :math:`Q`
    to first order about the run's mean level :math:`\bar u`; the run's
    share is then, exactly for a :math:`Q` linear on the run,

    .. math::

        |G| (Q(\bar u) - \bar x)^2 + Q'(\bar u)^2 S_{uu}
        - 2 Q'(\bar u) S_{ux} + S_{xx},

    with :math:`\bar x` the run's mean and :math:`S` its centred sums of
    squares and products. So the distance needs :math:`Q` and :math:`Q'`
    at one level per run instead of at every row. Runs are single rows at
    both ends of the data, grow geometrically inwards (see ``_GROWTH``) up
    to ``max_size`` rows, and go back to single rows in a column around each
    bend of its data (see ``_split_at_bends``). Columns thus have
    different runs; each is padded to the most runs with runs of weight 0.

    Parameters
    ----------
    X_sorted : ndarray of shape (n_samples, n_features)
        Each column sorted increasingly, in units of its variance.
    max_size : int
        Most rows in a run; 1 keeps every row, and the distance is exact.
    device : torch.device
        Where the pooled statistics live.

    Attributes
    ----------
    levels, weights : Tensor of shape (n_runs, n_features)
        Each run's mean level and its share of the rows.
    """

    def __init__(self, X_sorted, max_size, device):
        n, n_features = X_sorted.shape
        self.n_samples = n
        levels = (np.arange(n) + 0.5) / n
        shared = _run_starts(n, max_size)
        columns = [_moments(levels, x, _split_at_bends(x, shared)) for x in X_sorted.T]
        n_runs = max(len(moments[0]) for moments in columns)
        # Padding sits at the median level, where every quantile function is
        # finite; its weight and sums are zero, so it adds nothing.
        padded = np.zeros((6, n_runs, n_features))
        padded[1] = 0.5
        for j, moments in enumerate(columns):
            padded[:, : len(moments[0]), j] = moments
        padded[[0, 3, 4, 5]] /= n
        self.weights, self.levels, self.x_bar, self.s_uu, self.s_ux, self.s_xx = (
            torch.as_tensor(a, device=device) for a in padded
        )

    def squared_w2(self, q, log_slope, columns=slice(None)):
        """The squared W2 of each column from ``Q`` and ``log Q'`` at the runs.

        Parameters
        ----------
        q, log_slope : Tensor of shape (n_runs, n_columns)
            ``Q`` and ``log Q'`` at :attr:`levels`, for the data columns
            ``columns``.
        columns : index, default=slice(None)
            Which data columns ``q`` holds.

        Returns
        -------
        Tensor of shape (n_columns,)
        """
        slope = log_slope.exp()
        s_uu, s_ux, s_xx = (a[:, columns] for a in (self.s_uu, self.s_ux, self.s_xx))
        spread = slope.square() * s_uu - 2 * slope * s_ux + s_xx
        mean = self.weights[:, columns] * (q - self.x_bar[:, columns]).square()
        return (mean + spread).sum(0)


def _moments(u, x, starts):
    """Each run's size, means of ``u`` and ``x``, and centred sums of products.

    Returns the rows ``(size, u_bar, x_bar, S_uu, S_ux, S_xx)``.
    """
    sizes = np.diff(np.r_[starts, len(x)])
    run = np.repeat(np.arange(len(starts)), sizes)
    u_bar = np.add.reduceat(u, starts) / sizes
    x_bar = np.add.reduceat(x, starts) / sizes
    du, dx = u - u_bar[run], x - x_bar[run]
    sums = (np.add.reduceat(a, starts) for a in (du * du, du * dx, dx * dx))
    return np.stack([sizes, u_bar, x_bar, *sums])


def _ranges(lo, hi):
    """The indices ``lo[i], ..., hi[i] - 1`` of every run laid end to end.

    Also returns where each run starts in that sequence.
    """
    lengths = hi - lo
    first = np.r_[0, np.cumsum(lengths)[:-1]]
    return np.arange(lengths.sum()) - np.repeat(first - lo, lengths), first


def _split_at_bends(x, starts):
    """``starts`` with every run on which ``x`` bends cut to single rows.

    A run is judged with the rows just outside it, as a jump or a kink in
    the data there bends the fitted quantile function inside it. The data
    bend when one step between consecutive values makes up more than half
    their range (a jump between tied values, a gap between modes), or when
    they stray from their least-squares line by more than the steps of a
    smooth density's sample do (a kink where the density jumps):
    ``_RANDOM_STRAY / m`` of ``m`` times the squared range, which such
    samples exceed about once in a hundred.
    """
    n = len(x)
    ends = np.r_[starts[1:], n]
    lo, hi = np.maximum(starts - 1, 0), np.minimum(ends + 1, n)
    rows, first = _ranges(lo, hi)
    spread = x[hi - 1] - x[lo]
    steps = np.diff(x[rows], append=np.nan)
    # A run's last step would reach into the next run.
    steps[first[1:] - 1] = np.nan
    largest = np.fmax.reduceat(steps, first)
    _, _, _, s_uu, s_ux, s_xx = _moments(rows.astype(float), x[rows], first)
    stray = s_xx - s_ux**2 / s_uu
    bends = (largest > spread / 2) | (stray > _RANDOM_STRAY * spread**2)
    if not bends.any():
        return starts
    return np.union1d(starts, _ranges(starts[bends], ends[bends])[0])


def _run_starts(n, max_size):
    """First ranks of the runs: single rows at the ends, growing inwards."""
    half, starts, start = n // 2, [], 0
    while start < half:
        starts.append(start)
        start += int(min(max(_GROWTH * start, 1), max_size))
    left = np.array([*starts, half])
    return np.unique(np.concatenate([left, n - left]))[:-1]
