"""Each column in units of its own spread, computed safely for any finite scale."""

import numpy as np

__all__ = ["ColumnUnits"]

_LN2 = np.log(2.0)


class ColumnUnits:
    """The centre and scale of each column of ``X``, and the map to those units.

    Each column is first divided by the power of two just above its largest
    magnitude, which is exact, so that its mean and standard deviation are
    computed on values of magnitude at most one: nothing overflows or
    underflows, whatever the column's scale. The scale is kept as a
    logarithm, which is finite for every finite column.

    A constant column (all values equal) gets the value as its centre and
    about the value's machine precision as its scale, so that a law fitted
    in these units concentrates at the constant.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite float64 data.
    """

    def __init__(self, X):
        self.exponent = np.frexp(np.abs(X).max(axis=0))[1]
        X = np.ldexp(X, -self.exponent)
        self.constant = np.ptp(X, axis=0) == 0
        centre = np.where(self.constant, X[0], X.mean(axis=0))
        precision = np.maximum(
            np.finfo(float).eps * np.abs(centre), np.finfo(float).tiny
        )
        self.centre = centre
        self.scale = np.where(self.constant, precision, X.std(axis=0))

    @property
    def log_scale(self):
        """The natural logarithm of each column's scale in data units."""
        return np.log(self.scale) + self.exponent * _LN2

    def transform(self, X):
        """``X`` in units of each column's scale, centred."""
        return (np.ldexp(X, -self.exponent) - self.centre) / self.scale

    def lengths_to_data(self, lengths):
        """Lengths (such as distances) in these units, per column, in data units."""
        return np.ldexp(lengths * self.scale, self.exponent)

    def to_data(self, shift, log_scale):
        """Data-unit shift and log-scale of ``y -> exp(log_scale) y + shift``.

        ``shift`` and ``log_scale`` describe the map in these units; the
        result describes the same map from the same ``y`` to data units.
        """
        shift = np.ldexp(shift * self.scale + self.centre, self.exponent)
        return shift, log_scale + self.log_scale
