"""The column layer: standardisation, decorrelation, constant columns, log-Jacobian."""

import numpy as np
from scipy.linalg import eigh
from sklearn.covariance import LedoitWolf

from adaptnoise._lattice import LatticeStretch, ordered_lattice_columns
from adaptnoise._levels import LevelCalibration, nominal_groups
from adaptnoise._marginals import column_nodes
from adaptnoise._shapes import ShapeStretch
from adaptnoise.noise._atoms import find_atoms

__all__ = ["Decorrelation", "Standardiser"]

# The least eigenvalue of a decorrelated block's correlation, relative to
# their mean: no direction is stretched more than about 30 times.
_MIN_EIGENVALUE = 1e-3

# The window an atom of a continuous column is spread over in training
# reaches to the nearest _WINDOW_SHARE of the column's other rows (or to
# halfway to the next atom): snapping samples in it back to the atom takes
# about that share of the continuous part with it.
_WINDOW_SHARE = 0.01


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


class Decorrelation:
    """ZCA whitening of some standardised columns, the identity on the others.

    The columns in ``mask`` are mapped by ``W = C^{-1/2}``, the symmetric
    inverse square root of their Ledoit-Wolf shrunk correlation matrix ``C``;
    the others pass through. Of all linear maps that decorrelate, the
    symmetric one moves the data least (it is the identity for uncorrelated
    columns), so axis-aligned structure that the per-coordinate noise adapts
    to is kept. A flow then starts from the Gaussian part of the dependence,
    exactly, and its network learns only the rest; the interpolant noise
    ``sigma`` then blurs every direction in proportion to the data's spread
    along it, rather than wiping out a thin one.

    Parameters
    ----------
    mask : ndarray of shape (n_features,), dtype=bool
        The columns to decorrelate: continuous ones without atoms. Lattice
        columns and columns with atoms stay as they are, so that their unit
        cells and atom windows stay axis-aligned boxes.
    """

    def __init__(self, mask):
        self.mask = mask

    def fit(self, Z):
        """Learn the map from standardised rows ``Z``."""
        self.map_ = self.inverse_ = None
        if np.count_nonzero(self.mask) < 2:
            return self
        correlation = LedoitWolf(assume_centered=True).fit(Z[:, self.mask]).covariance_
        values, vectors = eigh(correlation)
        # A singular correlation (fewer rows than columns, a column that
        # copies another) would stretch its null directions without limit.
        values = np.maximum(values, _MIN_EIGENVALUE * values.mean())
        self.map_ = (vectors / np.sqrt(values)) @ vectors.T
        self.inverse_ = (vectors * np.sqrt(values)) @ vectors.T
        self._log_det = -0.5 * float(np.log(values).sum())
        return self

    def transform(self, Z):
        """Decorrelated rows (a copy)."""
        return self._apply(Z, self.map_)

    def inverse_transform(self, W):
        """Rows back in standardised units (a copy)."""
        return self._apply(W, self.inverse_)

    def log_det(self):
        """``log |det|`` of :meth:`transform`."""
        return 0.0 if self.map_ is None else self._log_det

    def _apply(self, Z, matrix):
        Z = np.array(Z, dtype=np.float64)
        if matrix is not None:
            # Rows near the largest float may overflow; they have no density.
            with np.errstate(over="ignore", invalid="ignore"):
                Z[:, self.mask] = Z[:, self.mask] @ matrix
        return Z


class TableColumns:
    """A table as the flow sees it: typed columns encoded, then standardised.

    A :class:`~adaptnoise.tables.TableEncoder` turns the table into numbers
    (categories into codes, integers, booleans and datetimes onto the integer
    lattice, missing values into indicators) and a :class:`Standardiser`
    puts the encoded columns on one scale. In between, a
    :class:`~adaptnoise._lattice.LatticeStretch` maps each value of an
    ordered lattice column (integers, discrete columns, datetimes) whose
    values fill their range onto its share of a normal law, so a heaped
    value is no spike for the flow. After standardising, a
    :class:`~adaptnoise._shapes.ShapeStretch` maps each continuous column
    whose middle half is a sliver of its spread (a long tail next to a
    crowded bulk) onto the normal scores of its quantiles, which a smooth
    flow resolves. Going back decodes a flow's rows into a
    valid table of the training container and dtypes.

    For training, a missing value is filled by a draw from its column's
    observed values rather than by the encoder's median, so the column keeps
    its law where the indicator says the value is absent, and lattice columns
    get uniform dequantisation noise over their unit cells (stretched ones
    over their cells' levels, see :meth:`share_cells`).

    A continuous column's atoms (values repeated far more often than their
    neighbours, by the rule of :class:`~adaptnoise.QuantileNoise`'s
    ``atoms="auto"``) are treated like lattice values: in training each row
    at an atom is spread uniformly over a window centred on it, which
    reaches to the nearest 1% of the column's other rows (at most halfway
    to the next atom; see :func:`atom_windows` for a floor or a cap), and on
    the way back every value in the window becomes the atom again, so the
    atom's share is kept exactly.

    Once the flow is trained, :meth:`calibrate_levels` fits how its
    nominal columns decode, so that each level is sampled at its training
    share (see :mod:`adaptnoise._levels`).

    Parameters
    ----------
    encoder : TableEncoder
        The unfitted encoder.
    whiten : bool, default=False
        Decorrelate the continuous columns after standardising them (see
        :class:`Decorrelation`).
    """

    def __init__(self, encoder, whiten=False):
        self.encoder = encoder
        self.whiten = whiten

    def fit(self, X, seed):
        """Learn the encoding, standardisation and decorrelation of ``X``."""
        self.encoder.fit(X)
        self.levels = None
        encoded = self._encoded_rows(X, seed)
        self.stretch = LatticeStretch(ordered_lattice_columns(self.encoder))
        stretched = self.stretch.fit(encoded).transform(encoded)
        self.standardiser = Standardiser().fit(stretched)
        continuous = ~self.encoder.discrete_ & ~self.standardiser.constant_
        scale = self.standardiser.scale_
        self.atoms_ = {
            j: atom_windows(encoded[:, j], scale[j]) for j in np.flatnonzero(continuous)
        }
        self.atoms_ = {j: found for j, found in self.atoms_.items() if found[0].size}
        varying = ~self.standardiser.constant_
        places = np.cumsum(varying) - 1
        # The shapes are those the flow sees: atoms spread over their windows.
        self.shapes = ShapeStretch(list(places[continuous]))
        self.shapes.fit(self.standardiser.transform(self._spread_atoms(encoded)))
        # Columns with atoms are spread over their windows as lattice columns
        # over their cells, and stay off the decorrelation with them.
        smooth = continuous.copy()
        smooth[list(self.atoms_)] = False
        self.decorrelation = Decorrelation(smooth[varying] & self.whiten)
        self.decorrelation.fit(
            self.shapes.transform(self.standardiser.transform(stretched))
        )
        self.margins_ = self._margins(encoded)
        return self

    def _margins(self, encoded):
        """Each column's quadrature for integrating it out of a row's score
        (see :mod:`adaptnoise._marginals`); None for a column that had
        missing values, whose indicator stands for them."""
        encoder = self.encoder
        slices = encoder.encoded_slices_
        return [
            None
            if codec.has_missing
            else column_nodes(codec, encoded[:, part], self.atoms_.get(part.start))
            for codec, part in zip(encoder._codecs, slices, strict=True)
        ]

    def _spread_atoms(self, encoded):
        """``encoded`` with each atom's rows evenly spread over its window."""
        spread = encoded.copy()
        for j, (values, low, high) in self.atoms_.items():
            for value, below, above in zip(values, low, high, strict=True):
                on = spread[:, j] == value
                steps = (np.arange(on.sum()) + 0.5) / on.sum()
                spread[on, j] = value + below + steps * (above - below)
        return spread

    def atom_cells(self):
        """The atoms in standardised units, their windows' widths and centres.

        Three arrays of shape (n_varying, most atoms), padded with width 0,
        the centres as offsets from the atoms; None when no column has an
        atom.
        """
        if not self.atoms_:
            return None
        most = max(len(found[0]) for found in self.atoms_.values())
        encoded, lows, highs = np.zeros((3, most, self.standardiser.constant_.size))
        for j, (values, low, high) in self.atoms_.items():
            encoded[: len(values), j] = values
            lows[: len(values), j] = values + low
            highs[: len(values), j] = values + high
        # The same map as for the training rows, so that the atoms' values
        # there are equal to these bit for bit.
        atoms, lows, highs = (
            self.shapes.transform(self.standardiser.transform(rows)).T
            for rows in (encoded, lows, highs)
        )
        padded = np.zeros_like(atoms, dtype=bool)
        varying = np.flatnonzero(~self.standardiser.constant_)
        for j, (values, _, _) in self.atoms_.items():
            padded[np.searchsorted(varying, j), : len(values)] = True
        widths = np.where(padded, highs - lows, 0.0)
        centres = np.where(padded, (highs + lows) / 2 - atoms, 0.0)
        return atoms, widths, centres

    def training_rows(self, X, seed):
        """Flow rows to train on, missing values filled by draws."""
        return self._to_flow(self._encoded_rows(X, seed))

    def nominal_groups(self):
        """The encoded columns that decode to levels (see :func:`nominal_groups`)."""
        return nominal_groups(self.encoder)

    def calibrate_levels(self, rows, draws):
        """Decode nominal columns so that a model's draws get the rows' shares.

        ``rows`` are training rows and ``draws`` the model's, both flow rows;
        :meth:`inverse_transform` decodes through the fitted
        :class:`~adaptnoise._levels.LevelCalibration` from then on.
        """
        calibration = LevelCalibration(self.nominal_groups())
        self.levels = calibration.fit(self._to_encoded(rows), self._to_encoded(draws))
        return self

    def _to_encoded(self, Z):
        X = self.shapes.inverse_transform(self.decorrelation.inverse_transform(Z))
        return self.stretch.inverse_transform(self.standardiser.inverse_transform(X))

    def _to_flow(self, encoded):
        standardised = self.standardiser.transform(self.stretch.transform(encoded))
        return self.decorrelation.transform(self.shapes.transform(standardised))

    def _encoded_rows(self, X, seed):
        return self._fill_missing(
            self.encoder.transform(X), np.random.default_rng(seed)
        )

    def transform(self, X):
        """Flow rows of ``X``, missing values at their fill."""
        return self._to_flow(self.encoder.transform(X))

    def inverse_transform(self, Z):
        """The table, in the training container and dtypes, of flow rows ``Z``.

        Values within an atom's window become the atom.
        """
        X = self._to_encoded(Z)
        for j, (values, low, high) in self.atoms_.items():
            for value, below, above in zip(values, low, high, strict=True):
                X[(X[:, j] >= value + below) & (X[:, j] <= value + above), j] = value
        if self.levels is not None:
            X = self.levels.transform(X)
        return self.encoder.inverse_transform(X)

    def nominal_columns(self):
        """Flow columns of unordered or 0/1 values, which ``sigma`` leaves alone.

        Categorical codes and one-hot columns, booleans and missing
        indicators; integer and datetime columns are ordered quantities,
        which a blur smooths as it does continuous ones.
        """
        encoder = self.encoder
        nominal = np.zeros(encoder.discrete_.size, dtype=bool)
        every = np.arange(encoder.discrete_.size)
        for kind, part in zip(encoder.kinds_, encoder.encoded_slices_, strict=True):
            columns = every[part]
            if kind in ("categorical", "boolean", "constant"):
                nominal[columns] = True
            else:
                nominal[columns[1:]] = True
        return nominal[~self.standardiser.constant_]

    def dequantisation_widths(self):
        """Unit lattice cells in flow units; 0 for continuous columns and for
        lattice columns mapped by the stretch, which :meth:`share_cells`
        dequantises.

        Decorrelation leaves lattice columns alone, so their cells are those
        of the standardisation.
        """
        varying = ~self.standardiser.constant_
        widths = 1 / self.standardiser.scale_[varying]
        lattice = self.encoder.discrete_.copy()
        lattice[self.stretch.columns_] = False
        return np.where(lattice[varying], widths, 0.0)

    def share_cells(self, rows):
        """How to dequantise the stretched columns of flow rows ``rows``.

        ``(columns, low, width, mean, scale)`` for :func:`spread_shares`:
        the stretched columns' places among the flow's, each row's cell in
        levels of the normal law, and the standardisation of the columns;
        None when no column is stretched.
        """
        stretched = self.stretch.columns_
        if not stretched:
            return None
        codes = self.standardiser.inverse_transform(
            self.shapes.inverse_transform(self.decorrelation.inverse_transform(rows))
        )
        low, width = self.stretch.share_cells(self.stretch.inverse_transform(codes))
        varying = ~self.standardiser.constant_
        places = np.cumsum(varying)[stretched] - 1
        mean, scale = self.standardiser.mean_, self.standardiser.scale_
        return places, low, width, mean[stretched], scale[stretched]

    def log_det(self):
        """``log |dZ/dX|`` of :meth:`transform` on the table's numeric columns."""
        return self.standardiser.log_det() + self.decorrelation.log_det()

    def log_jacobian(self, X):
        """Per-row ``log |dZ/dX|`` of the encoding of discrete columns, of
        the stretch of lattice cells and of the map of sharply shaped
        continuous columns: what turns the flow's density at a
        row's codes into the row's likelihood in its own units."""
        log_jacobian = np.zeros(_n_rows(X))
        if (self.encoder.kinds_ == "discrete").any():
            log_jacobian += self.encoder.log_jacobian(X)
        if not (self.stretch.columns_ or self.shapes.columns_):
            return log_jacobian
        encoded = self.encoder.transform(X)
        if self.stretch.columns_:
            log_jacobian += self.stretch.log_derivative(encoded)
        if self.shapes.columns_:
            standardised = self.standardiser.transform(self.stretch.transform(encoded))
            log_jacobian += self.shapes.log_derivative(standardised)
        return log_jacobian

    def off_constants(self, X):
        """Rows of ``X`` that differ from a constant column's training value."""
        constant = self.encoder.kinds_ == "constant"
        if not constant.any():
            return np.zeros(_n_rows(X), dtype=bool)
        n_encoded = self.encoder.discrete_.size
        values = _as_objects(self.encoder.inverse_transform(np.zeros((1, n_encoded))))
        rows = _as_objects(X)
        return (rows[:, constant] != values[:, constant]).any(axis=1)

    def _fill_missing(self, Z, rng):
        Z = Z.copy()
        for kind, part in zip(
            self.encoder.kinds_, self.encoder.encoded_slices_, strict=True
        ):
            # A value column with its indicator right after it.
            if kind in ("categorical", "constant") or part.stop - part.start != 2:
                continue
            value, missing = Z[:, part.start], Z[:, part.start + 1] == 1
            value[missing] = rng.choice(value[~missing], size=missing.sum())
        return Z


def atom_windows(x, scale):
    """The atoms of the column ``x`` and their windows, as offsets from them.

    A window reaches to the nearest ``_WINDOW_SHARE`` of the other rows on
    each side (at most halfway to the next atom). An atom beyond every other
    row (a floor or a cap) has nothing on its outer side, so its window
    reaches out there by at least its share times ``scale`` (the column's
    spread): in standardised units the window is then at least as wide as
    the atom's share, which keeps its density within what a flow resolves.

    Returns
    -------
    values, low, high : ndarray of shape (n_atoms,)
        The atoms and their windows ``[value + low, value + high]``.
    """
    values, masses = find_atoms(x)
    others = x[~np.isin(x, values)]
    reach = max(1, int(np.ceil(_WINDOW_SHARE * others.size)))
    half = np.array([np.sort(np.abs(others - value))[reach - 1] for value in values])
    if values.size > 1:
        gaps = np.diff(values) / 2
        half = np.minimum(half, np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf]))
    outward = np.maximum(half, masses * scale)
    low = np.where(values < others.min(), -outward, -half)
    high = np.where(values > others.max(), outward, half)
    return values, low, high


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _as_objects(X):
    return (
        np.asarray(X, dtype=object)
        if not hasattr(X, "iloc")
        else X.to_numpy(dtype=object)
    )
