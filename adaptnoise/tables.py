"""Typed tables to the numeric matrix a continuous flow models, and back."""

import numbers

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from adaptnoise._codecs import (
    BOUNDED_KINDS,
    decoded_array,
    decoded_frame,
    describe,
    fit_codec,
    imported_pandas,
    read_column,
)
from adaptnoise._sklearn_compat import StrOptions, _fit_context

__all__ = ["TableEncoder", "as_table", "table_tags"]


class TableEncoder(TransformerMixin, BaseEstimator):
    """Encode a typed table as a float matrix for a continuous model, and back.

    Each input column gets a kind, and each kind its encoding:

    ========================  =============================================
    kind                      encoded as
    ========================  =============================================
    ``"continuous"``          the value itself
    ``"integer"``             the value itself, on the integer lattice
    ``"discrete"``            the rank of the value among those seen during
                              fit, on the integer lattice
    ``"boolean"``             0 or 1
    ``"categorical"``         a code (``"ordinal"``) or one 0/1 column per
                              level (``"onehot"``), see
                              ``categorical_encoding``
    ``"datetime"``            ``(t - t_min) / step`` on the integer lattice,
                              with ``step`` the largest time step that
                              divides every gap between observed times
    ``"constant"``            nothing: no encoded column, the value is
                              repeated on the way back
    ========================  =============================================

    Numeric columns (float and integer dtypes, including pandas' nullable
    ones) are ``"discrete"`` when at most 1% of their observed rows hold a
    value that occurs only once (Good and Turing's estimate of the chance
    that a new row holds an unseen value) and they are not consecutive
    integers: a rating in half points, a year of survey, counts with gaps.
    Otherwise they are ``"integer"`` when every observed value is an integer
    and ``"continuous"`` if not. A column with a single observed value is
    ``"constant"`` whatever its dtype. A discrete column decodes to the
    values seen during fit only; its code is piecewise linear between them
    (see :meth:`log_jacobian`), so unseen values encode too.

    Missing values (NaN, None, ``pd.NA``, NaT) are encoded so that a joint
    model can learn where they occur: a categorical column gets one more
    level, ``"missing"``; any other column gets a 0/1 indicator column right
    after its value, whose value is then filled with the observed median
    (rounded for lattice kinds). A column gets this only when its training
    data has missing values. :meth:`inverse_transform` puts the column's own
    missing marker back: NaN, ``<NA>``, NaT, or for NumPy object columns the
    first marker seen during fit.

    :meth:`transform` is deterministic. Encoded columns on the integer
    lattice (spacing 1) are marked in ``discrete_``: a continuous model
    should add uniform dequantisation noise on ``[-0.5, 0.5)`` to them while
    training. :meth:`inverse_transform` maps any finite matrix to a valid
    table and undoes that noise exactly: a lattice value ``z`` becomes
    ``floor(z + 0.5)`` (booleans and indicators are true from 0.5 on), codes
    are then clipped to the seen levels (or the largest one-hot column is
    taken) and numeric values are clipped to ``bounds_``.

    Parameters
    ----------
    categorical_features : "from_dtype", array-like or None, \
            default="from_dtype"
        Which columns are categorical:

        - ``"from_dtype"``: pandas ``category`` and string columns, NumPy
          string columns, and object columns whose values are not all
          numbers or all booleans (object columns of numbers are numeric,
          object columns of booleans are boolean). Boolean dtypes get their
          own ``"boolean"`` kind.
        - array-like of str: names of the categorical columns, when ``X``
          is a DataFrame with string column names.
        - array-like of int: indices of the categorical columns.
        - array-like of bool of shape (n_features,): a mask.
        - None: no column is categorical.

        A listed column is categorical whatever its dtype. An unlisted
        column holding text is an error.

    categorical_encoding : {"ordinal", "onehot", "auto"}, default="ordinal"
        ``"ordinal"`` encodes a categorical column as one code column, the
        index of its level, however many levels there are. ``"onehot"``
        gives one 0/1 column per level and decodes to the level of the
        largest value. ``"auto"`` one-hot encodes a column of at most 16
        levels (``"missing"`` counted) and gives a wider one a code. Levels
        are sorted, except that a pandas ``category`` column keeps the order
        of its categories; only levels seen during fit are encoded, and
        ``"missing"`` comes last.

    discrete_features : "auto", array-like or None, default="auto"
        Which numeric columns are ``"discrete"``: ``"auto"`` by the rule
        above; None none; names, indices or a boolean mask (as for
        ``categorical_features``) exactly the numeric columns listed. A
        listed column that is not numeric is an error; a constant one stays
        constant.

    bounds : "range", dict or None, default="range"
        Where :meth:`inverse_transform` clips continuous, integer and
        datetime columns. ``"range"`` clips each to its training ``[min,
        max]``; None turns clipping off. A dict ``{column: (low, high)}``,
        with columns given by name or index, replaces the training range of
        the columns it names, with None for an open side; the other columns
        keep their training range, and an entry for a column found constant
        is ignored. Datetime bounds may be anything :class:`pandas.Timestamp`
        or :class:`numpy.datetime64` accepts.

    Attributes
    ----------
    kinds_ : ndarray of str of shape (n_features_in_,)
        The kind of each input column, as in the table above.
    categories_ : list of (ndarray or None) of length n_features_in_
        The levels seen during fit of each categorical column, in code
        order; None for the other columns.
    dtypes_ : list of length n_features_in_
        The dtype of each input column, restored by
        :meth:`inverse_transform`.
    encoded_slices_ : list of slice of length n_features_in_
        The encoded columns of each input column; empty for a constant
        column without missing values.
    discrete_ : ndarray of bool of shape (n_features_out,)
        Whether each encoded column lives on the integer lattice (integer,
        boolean, datetime and categorical values, and missing indicators).
    bounds_ : ndarray of shape (n_features_out, 2)
        Lower and upper end, in encoded units, of the values
        :meth:`inverse_transform` accepts in each encoded column before it
        rounds or thresholds; infinite where a side is open.
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the columns seen during fit, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.preprocessing.OrdinalEncoder : Codes of categorical columns.
    sklearn.preprocessing.OneHotEncoder : One-hot columns of categories.

    Notes
    -----
    ``inverse_transform(transform(X))`` gives ``X`` back exactly, with the
    same column names, order and dtypes, for the columns described above,
    unless a datetime column spans more than :math:`2^{53}` steps (float64
    then rounds its encoded times). Time zones of datetime columns are kept;
    times are encoded in UTC.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from adaptnoise.tables import TableEncoder
    >>> X = pd.DataFrame({
    ...     "age": [23, 35, 41, 29],
    ...     "income": [1.5, None, 3.25, 2.0],
    ...     "city": pd.Categorical(["Rome", "Oslo", "Rome", None]),
    ...     "member": [True, False, True, True],
    ... })
    >>> encoder = TableEncoder().fit(X)
    >>> encoder.kinds_
    array(['integer', 'continuous', 'categorical', 'boolean'], dtype=object)
    >>> encoder.get_feature_names_out()
    array(['age', 'income', 'income_missing', 'city', 'member'], dtype=object)
    >>> Z = encoder.transform(X)
    >>> Z[1]
    array([35.,  2.,  1.,  0.,  0.])
    >>> encoder.inverse_transform(Z).equals(X)
    True
    >>> noisy = encoder.inverse_transform(Z + [[9.6, 0.1, 0.0, 0.4, -0.3]])
    >>> noisy
       age  income  city  member
    0   33    1.60  Rome    True
    1   41     NaN  Oslo   False
    2   41    3.25  Rome    True
    3   39    2.10   NaN    True
    """

    _parameter_constraints: dict = {
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "categorical_encoding": [StrOptions({"ordinal", "onehot", "auto"})],
        "discrete_features": [StrOptions({"auto"}), "array-like", None],
        "bounds": [StrOptions({"range"}), dict, None],
    }

    def __init__(
        self,
        *,
        categorical_features="from_dtype",
        categorical_encoding="ordinal",
        discrete_features="auto",
        bounds="range",
    ):
        self.categorical_features = categorical_features
        self.categorical_encoding = categorical_encoding
        self.discrete_features = discrete_features
        self.bounds = bounds

    def __sklearn_tags__(self):
        return table_tags(super().__sklearn_tags__())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn each column's kind, levels, range and missing-value encoding.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The training table: at least one row, and at least one observed
            value in each column.
        y : None
            Ignored.

        Returns
        -------
        self : TableEncoder
            The fitted encoder.
        """
        table = as_table(X)
        validate_data(self, table, reset=True, skip_check_array=True)
        names, n = getattr(self, "feature_names_in_", None), self.n_features_in_
        categorical = _column_mask(self.categorical_features, names, n)
        discrete = _column_mask(self.discrete_features, names, n, "discrete_features")
        self._codecs = [
            fit_codec(
                read_column(column, label),
                is_categorical,
                self.categorical_encoding,
                is_discrete,
            )
            for column, label, is_categorical, is_discrete in zip(
                _columns(table), _labels(table), categorical, discrete, strict=True
            )
        ]
        _apply_bounds(self._codecs, self.bounds, names)
        self._frame_columns = table.columns if _is_frame(table) else None
        self._set_attributes()
        return self

    def transform(self, X):
        """Encode a table as floats, deterministically.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features_in_)
            A table with the columns seen during fit. A column may have
            missing values only if it had some during fit, and a categorical
            column only levels seen during fit.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features_out)
            The encoded table, in the columns of :meth:`get_feature_names_out`.
        """
        blocks = [codec.encode(raw) for codec, raw in self._read(X)]
        return np.hstack(blocks).astype(np.float64, copy=False)

    def log_jacobian(self, X):
        """Log-derivative of :meth:`transform` at each row of ``X``.

        A density of the encoded rows plus this is a density of the table's
        values. It is 0 but for ``"discrete"`` columns, whose code stretches
        each gap between levels to unit length; a missing value counts as
        its column's fill.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features_in_)
            A table that :meth:`transform` accepts.

        Returns
        -------
        log_jacobian : ndarray of shape (n_samples,)
            The sum over the columns of the log-derivatives of their codes.
        """
        terms = [codec.log_jacobian(raw) for codec, raw in self._read(X)]
        return np.sum(terms, axis=0)

    def _unseen_levels(self, X):
        """Where each column of ``X`` holds a category level unseen during fit.

        A bool array of shape (n_samples, n_features_in_), for the
        generators' scores.
        """
        return np.column_stack([codec.unseen(raw) for codec, raw in self._read(X)])

    def _unexpected_missing(self, X):
        """Where each column of ``X`` misses a value though it had none during
        fit: a bool array of shape (n_samples, n_features_in_), for the
        generators' scores, which integrate those columns out."""
        return np.column_stack(
            [raw.missing & (not codec.has_missing) for codec, raw in self._read(X)]
        )

    def _read(self, X):
        """Each codec with its column of ``X``, read, once ``X`` is checked."""
        check_is_fitted(self)
        table = as_table(X)
        validate_data(self, table, reset=False, skip_check_array=True)
        return [
            (codec, read_column(column, codec.label))
            for codec, column in zip(self._codecs, _columns(table), strict=True)
        ]

    def _rare_levels(self):
        """Each categorical column's stand-ins for an unseen level and the log
        of the factor on their summed density (else None and 0)."""
        return [
            (getattr(codec, "rare", None), getattr(codec, "rare_log_weight", 0.0))
            for codec in self._codecs
        ]

    def inverse_transform(self, X):
        """Decode a float matrix, such as a generator's samples, to a table.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_out)
            Finite values in the encoded columns of
            :meth:`get_feature_names_out`.

        Returns
        -------
        X_original : DataFrame or ndarray of shape (n_samples, n_features_in_)
            A DataFrame with the training columns and dtypes when fit was on
            a DataFrame (keeping the index of ``X`` when it is one), else an
            array of the training array's dtype.
        """
        check_is_fitted(self)
        index = X.index if _is_frame(X) else None
        Z = check_array(X, dtype=np.float64, ensure_min_features=0)
        if Z.shape[1] != self.discrete_.size:
            raise ValueError(
                f"X has {Z.shape[1]} features, but TableEncoder is expecting "
                f"{self.discrete_.size} encoded features as input "
                "(see get_feature_names_out())."
            )
        decoded = [
            codec.decode(Z[:, part])
            for codec, part in zip(self._codecs, self.encoded_slices_, strict=True)
        ]
        if self._frame_columns is None:
            return decoded_array(decoded, self._codecs, len(Z))
        return decoded_frame(decoded, self._codecs, self._frame_columns, index)

    def get_feature_names_out(self, input_features=None):
        """Names of the encoded columns.

        A value keeps its column's name; a missing indicator is named
        ``<name>_missing``; one-hot columns ``<name>_<level>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input column names; ``feature_names_in_`` when set, else
            ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str
            The encoded column names.
        """
        check_is_fitted(self)
        names = self._input_names(input_features)
        return np.array(
            [
                out
                for codec, name in zip(self._codecs, names, strict=True)
                for out in codec.names(name)
            ],
            dtype=object,
        )

    def _input_names(self, input_features):
        fitted_names = getattr(self, "feature_names_in_", None)
        if input_features is None:
            if fitted_names is not None:
                return fitted_names
            return np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        input_features = np.asarray(input_features, dtype=object)
        if fitted_names is not None and not np.array_equal(
            input_features, fitted_names
        ):
            raise ValueError("input_features is not equal to feature_names_in_")
        if len(input_features) != self.n_features_in_:
            raise ValueError(
                "input_features should have length equal to number of features "
                f"({self.n_features_in_}), got {len(input_features)}"
            )
        return input_features

    def _set_attributes(self):
        codecs = self._codecs
        self.kinds_ = np.array([codec.kind for codec in codecs], dtype=object)
        self.categories_ = [getattr(codec, "categories", None) for codec in codecs]
        self.dtypes_ = [codec.dtype for codec in codecs]
        ends = np.cumsum([0] + [codec.width for codec in codecs])
        self.encoded_slices_ = [
            slice(a, b) for a, b in zip(ends[:-1], ends[1:], strict=True)
        ]
        self.discrete_ = np.array(
            [flag for codec in codecs for flag in codec.discrete_mask()], dtype=bool
        )
        self.bounds_ = np.array(
            [pair for codec in codecs for pair in codec.bounds()], dtype=np.float64
        ).reshape(-1, 2)


# --- the parameters' columns -------------------------------------------------


def _column_mask(spec, names, n, parameter="categorical_features"):
    """One entry per column: True, False, or None for "decide by the rule".

    ``spec`` is the value of ``parameter``: a string (the rule), None (no
    column), or names, indices or a boolean mask of the columns. ``names``
    are the column names, or None when ``X`` has none, and ``n`` the number
    of columns.
    """
    if isinstance(spec, str):
        return [None] * n
    mask = np.zeros(n, dtype=bool)
    if spec is None:
        return mask.tolist()
    spec = np.asarray(spec)
    if spec.dtype.kind == "b":
        if spec.shape != (n,):
            raise ValueError(
                f"{parameter} as a boolean mask must have shape "
                f"(n_features,) = ({n},), got {spec.shape}."
            )
        return spec.tolist()
    if spec.size and spec.dtype.kind not in "iuUO":
        raise TypeError(
            f"{parameter} must be a string option, None, or an array of "
            "column names, integer indices or a boolean mask; got an array of "
            f"dtype {spec.dtype}."
        )
    for key in spec.ravel().tolist():
        mask[_position(key, parameter, names, n)] = True
    return mask.tolist()


def _position(key, parameter, names, n):
    """Index of the column that ``parameter`` names by ``key``."""
    if isinstance(key, str):
        if names is None:
            raise ValueError(
                f"{parameter} names column {key!r}, but X has no string "
                "column names; refer to columns by integer index."
            )
        hits = np.flatnonzero(names == key)
        if not hits.size:
            raise ValueError(
                f"{parameter} names column {key!r}, which X does not have; "
                f"X's columns are {names.tolist()}."
            )
        return int(hits[0])
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        if not 0 <= key < n:
            raise ValueError(
                f"{parameter} holds column index {key}, outside "
                f"[0, {n - 1}] for X's {n} columns."
            )
        return int(key)
    raise TypeError(
        f"{parameter} refers to columns by name (str) or index (int); "
        f"got {key!r} of type {type(key).__name__}."
    )


def _apply_bounds(codecs, bounds, names):
    """Set the clipping range ``low, high`` of each bounded codec."""
    for codec in codecs:
        if codec.kind in BOUNDED_KINDS:
            codec.low, codec.high = (-np.inf, np.inf) if bounds is None else codec.range
    if not isinstance(bounds, dict):
        return
    for key, pair in bounds.items():
        codec = codecs[_position(key, "bounds", names, len(codecs))]
        if codec.kind == "constant":
            continue
        if codec.kind not in BOUNDED_KINDS:
            raise ValueError(
                f"bounds sets {key!r}, but {describe(codec.label, codec.dtype)} "
                f"is {codec.kind}; bounds apply to continuous, integer and "
                "datetime columns."
            )
        codec.low, codec.high = _bound_pair(codec, key, pair)


def _bound_pair(codec, key, pair):
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(
            f"bounds[{key!r}] must be a pair (low, high), with None for an open "
            f"side; got {pair!r}."
        )
    low, high = (
        side if value is None else codec.to_encoded(value, key)
        for side, value in zip((-np.inf, np.inf), pair, strict=True)
    )
    if low > high:
        raise ValueError(f"bounds[{key!r}] = {pair!r} has low above high.")
    return low, high


# --- reading the table -------------------------------------------------------


def _is_frame(X):
    pd = imported_pandas()
    return pd is not None and isinstance(X, pd.DataFrame)


def table_tags(tags):
    """Tags of an estimator that takes what a table holds: NaN, text, categories."""
    tags.input_tags.allow_nan = True
    tags.input_tags.string = True
    tags.input_tags.categorical = True
    return tags


def as_table(X, name="TableEncoder"):
    """``X`` as a DataFrame or a 2-D ndarray, rejecting what has no columns.

    ``name`` is the estimator the error messages speak for.
    """
    if sparse.issparse(X):
        raise TypeError(
            f"{name} does not support sparse input; densify it with X.toarray()."
        )
    if isinstance(X, np.ma.MaskedArray):
        # np.asarray would drop the mask and learn the hidden values.
        raise TypeError(
            f"{name} does not take masked arrays; mark masked entries as missing "
            "with X.astype(float).filled(np.nan)."
        )
    if _is_frame(X):
        table = X
    else:
        table = np.asarray(X)
        # A list mixing numbers and text becomes all text under np.asarray.
        if table.dtype.kind in "US" and not isinstance(X, np.ndarray):
            table = np.asarray(X, dtype=object)
        if table.ndim != 2:
            raise ValueError(
                f"Expected a 2D array or DataFrame, got a {table.ndim}D array "
                "instead. Reshape your data either using array.reshape(-1, 1) if "
                "it has a single feature or array.reshape(1, -1) if it contains a "
                "single sample."
            )
    for size, what in zip(table.shape, ("sample", "feature"), strict=True):
        if size == 0:
            raise ValueError(
                f"Found array with 0 {what}(s) (shape={table.shape}) while a "
                f"minimum of 1 is required by {name}."
            )
    return table


def _columns(table):
    if _is_frame(table):
        return [table.iloc[:, j] for j in range(table.shape[1])]
    return [table[:, j] for j in range(table.shape[1])]


def _labels(table):
    if _is_frame(table):
        return table.columns.tolist()
    return list(range(table.shape[1]))
