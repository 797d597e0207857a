"""The column layer: standardisation, constant columns and their log-Jacobian."""

import numpy as np

__all__ = ["Standardiser"]


class Standardiser:
    """Standardise the varying columns of a numeric table; set constants aside.

    The flow lives in the space of the standardised varying columns. A
    constant column is a point mass, which has no density: it is left out of
    that space, restored exactly on the way back, and a row that differs from
    it has no density at all.

    Statistics are computed in float64 in units of each column's largest
    magnitude, so neither squares nor sums overflow or underflow for any
    finite data: a column near 1e300 or near 1e-300 standardises like one
    near 1.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        Centre and spread of each column; a constant column has its value and 1.
    constant_ : ndarray of shape (n_features,), dtype=bool
        The columns with a single value.
    """

    def fit(self, X):
        """Learn each column's centre and spread from the float64 array ``X``."""
        # Equal values, not a zero std: the mean of 30 x 0.1 is not 0.1, so
        # that column's std is 4e-17.
        self.constant_ = X.max(axis=0) == X.min(axis=0)
        if self.constant_.all():
            raise ValueError(
                "Every column of X is constant, so there is no distribution to "
                "learn; a generator needs at least one column that varies."
            )
        unit = np.abs(X).max(axis=0)
        unit = np.where(unit > 0, unit, 1.0)
        scaled = X / unit
        self._unit = unit
        self._centre = np.where(self.constant_, scaled[0], scaled.mean(axis=0))
        self._spread = np.where(self.constant_, 1 / unit, scaled.std(axis=0))
        return self

    @property
    def mean_(self):
        return self._centre * self._unit

    @property
    def scale_(self):
        return self._spread * self._unit

    @property
    def log_scale_(self):
        """``log scale_``, computed without forming ``scale_`` (which can overflow)."""
        return np.log(self._spread) + np.log(self._unit)

    @property
    def n_varying_(self):
        return int(np.count_nonzero(~self.constant_))

    def transform(self, X):
        """The standardised varying columns: the space the flow lives in."""
        varying = ~self.constant_
        scaled = X[:, varying] / self._unit[varying]
        return (scaled - self._centre[varying]) / self._spread[varying]

    def inverse_transform(self, Z):
        """Rows in the original units from standardised varying columns ``Z``."""
        varying = ~self.constant_
        X = np.tile(self._centre, (Z.shape[0], 1))
        X[:, varying] += Z * self._spread[varying]
        with np.errstate(over="ignore"):
            return X * self._unit

    def log_det(self):
        """``log |dZ/dX|`` of :meth:`transform`, the same for every row."""
        return -float(self.log_scale_[~self.constant_].sum())

    def off_constants(self, X):
        """Rows of ``X`` that differ from a constant column's value."""
        constant = self.constant_
        return (X[:, constant] != self.mean_[constant]).any(axis=1)
