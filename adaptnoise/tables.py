"""Typed tables to the numeric matrix a continuous flow models, and back."""

import numbers
import sys

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from adaptnoise._sklearn_compat import StrOptions, _fit_context

__all__ = ["TableEncoder"]

# Values an object column may not hold: they have no place on a number line
# and no stable identity as a category.
_NESTED = (list, tuple, dict, set, frozenset, np.ndarray)
_BOUNDED_KINDS = ("continuous", "integer", "datetime")


class TableEncoder(TransformerMixin, BaseEstimator):
    """Encode a typed table as a float matrix for a continuous model, and back.

    Each input column gets a kind, and each kind its encoding:

    ========================  =============================================
    kind                      encoded as
    ========================  =============================================
    ``"continuous"``          the value itself
    ``"integer"``             the value itself, on the integer lattice
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
    ones) are ``"integer"`` when every observed value is an integer and
    ``"continuous"`` otherwise. A column with a single observed value is
    ``"constant"`` whatever its dtype.

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
        Which columns are categorical, as in
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`:

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

    categorical_encoding : {"ordinal", "onehot"}, default="ordinal"
        ``"ordinal"`` encodes a categorical column as one code column, the
        index of its level; its memory stays one column however many levels
        there are. ``"onehot"`` gives one 0/1 column per level and decodes
        to the level of the largest value. Levels are sorted, as in
        :class:`~sklearn.preprocessing.OrdinalEncoder`, except that a pandas
        ``category`` column keeps the order of its categories; only levels
        seen during fit are encoded, and ``"missing"`` comes last.

    bounds : "range", dict or None, default="range"
        Where :meth:`inverse_transform` clips continuous, integer and
        datetime columns. ``"range"`` clips each to its training
        ``[min, max]``, as SDV (``enforce_min_max_values=True``) and
        ForestFlow do. None turns clipping off. A dict
        ``{column: (low, high)}``, with columns given by name or index,
        replaces the training range of the columns it names, with None for
        an open side; the other columns keep their training range, and an
        entry for a column found constant is ignored. Datetime bounds may be
        anything :class:`pandas.Timestamp` or :class:`numpy.datetime64`
        accepts.

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
        "categorical_encoding": [StrOptions({"ordinal", "onehot"})],
        "bounds": [StrOptions({"range"}), dict, None],
    }

    def __init__(
        self,
        *,
        categorical_features="from_dtype",
        categorical_encoding="ordinal",
        bounds="range",
    ):
        self.categorical_features = categorical_features
        self.categorical_encoding = categorical_encoding
        self.bounds = bounds

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
        table = _table(X)
        validate_data(self, table, reset=True, skip_check_array=True)
        categorical = self._categorical_mask()
        self._codecs = [
            _fit_codec(_read(column, label), is_categorical, self.categorical_encoding)
            for column, label, is_categorical in zip(
                _columns(table), _labels(table), categorical, strict=True
            )
        ]
        self._apply_bounds()
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
        check_is_fitted(self)
        table = _table(X)
        validate_data(self, table, reset=False, skip_check_array=True)
        blocks = [
            codec.encode(_read(column, codec.label))
            for codec, column in zip(self._codecs, _columns(table), strict=True)
        ]
        return np.hstack(blocks).astype(np.float64, copy=False)

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
            return _array(decoded, self._codecs, len(Z))
        return _frame(decoded, self._codecs, self._frame_columns, index)

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

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

    def _categorical_mask(self):
        """One entry per column: True, False, or None for "decide by dtype"."""
        spec = self.categorical_features
        n = self.n_features_in_
        if isinstance(spec, str):
            return [None] * n
        mask = np.zeros(n, dtype=bool)
        if spec is None:
            return mask.tolist()
        spec = np.asarray(spec)
        if spec.dtype.kind == "b":
            if spec.shape != (n,):
                raise ValueError(
                    "categorical_features as a boolean mask must have shape "
                    f"(n_features,) = ({n},), got {spec.shape}."
                )
            return spec.tolist()
        if spec.size and spec.dtype.kind not in "iuUO":
            raise TypeError(
                "categorical_features must be 'from_dtype', None, or an array of "
                "column names, integer indices or a boolean mask; got an array of "
                f"dtype {spec.dtype}."
            )
        for key in spec.ravel().tolist():
            mask[self._position(key, "categorical_features")] = True
        return mask.tolist()

    def _position(self, key, parameter):
        """Index of the column that ``parameter`` names by ``key``."""
        names = getattr(self, "feature_names_in_", None)
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
            if not 0 <= key < self.n_features_in_:
                raise ValueError(
                    f"{parameter} holds column index {key}, outside "
                    f"[0, {self.n_features_in_ - 1}] for X's {self.n_features_in_} "
                    "columns."
                )
            return int(key)
        raise TypeError(
            f"{parameter} refers to columns by name (str) or index (int); "
            f"got {key!r} of type {type(key).__name__}."
        )

    def _apply_bounds(self):
        for codec in self._codecs:
            if codec.kind in _BOUNDED_KINDS:
                codec.low, codec.high = (
                    (-np.inf, np.inf) if self.bounds is None else codec.range
                )
        if not isinstance(self.bounds, dict):
            return
        for key, pair in self.bounds.items():
            codec = self._codecs[self._position(key, "bounds")]
            if codec.kind == "constant":
                continue
            if codec.kind not in _BOUNDED_KINDS:
                raise ValueError(
                    f"bounds sets {key!r}, but {_describe(codec.label, codec.dtype)} "
                    f"is {codec.kind}; bounds apply to continuous, integer and "
                    "datetime columns."
                )
            codec.low, codec.high = _bound_pair(codec, key, pair)

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


# --- reading columns ---------------------------------------------------------


def _pandas():
    # pandas is optional: when it was never imported, no input can be pandas.
    return sys.modules.get("pandas")


def _is_frame(X):
    pd = _pandas()
    return pd is not None and isinstance(X, pd.DataFrame)


def _table(X):
    """``X`` as a DataFrame or a 2-D ndarray, rejecting what has no columns."""
    if sparse.issparse(X):
        raise TypeError(
            "TableEncoder does not support sparse input; densify it with X.toarray()."
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
                "minimum of 1 is required by TableEncoder."
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


def _is_object(dtype):
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def _describe(label, dtype):
    return f"column {label!r} (dtype {dtype})"


class _Raw:
    """One column's values in the form of its family, and where it is missing.

    Families: "number" and "bool" hold float64 (NaN where missing),
    "datetime" naive UTC datetime64, "object" an object array. ``objects``
    keeps the original values of a NumPy object column read as numbers.
    """

    __slots__ = ("label", "dtype", "family", "values", "missing", "objects")

    def __init__(self, label, dtype, family, values, missing, objects=None):
        self.label, self.dtype, self.family = label, dtype, family
        self.values, self.missing, self.objects = values, missing, objects

    @property
    def levels(self):
        """The values a categorical column is made of."""
        return self.values if self.objects is None else self.objects


def _read(column, label):
    dtype = column.dtype
    pd = _pandas()
    if pd is not None and isinstance(column, pd.Series):
        if isinstance(dtype, pd.SparseDtype):
            raise TypeError(
                f"{_describe(label, dtype)} is sparse, which TableEncoder does not "
                "support; densify it with .sparse.to_dense()."
            )
        missing = column.isna().to_numpy()
        if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)):
            return _Raw(label, dtype, "object", column.to_numpy(dtype=object), missing)
        if dtype.kind == "M":
            if getattr(dtype, "tz", None) is not None:
                column = column.dt.tz_convert(None)
            return _Raw(label, dtype, "datetime", column.to_numpy(), missing)
        if dtype.kind in "iufb":
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            return _numbers(
                label, dtype, "bool" if dtype.kind == "b" else "number", values
            )
        return _read_values(label, dtype, column.to_numpy(), missing)
    return _read_values(label, dtype, column, None)


def _read_values(label, dtype, values, missing):
    kind = dtype.kind
    if kind == "c":
        raise _complex_error(label, dtype)
    if kind in "iufb" and isinstance(dtype, np.dtype):
        family = "bool" if kind == "b" else "number"
        return _numbers(label, dtype, family, values.astype(np.float64))
    if kind == "M" and isinstance(dtype, np.dtype):
        return _Raw(label, dtype, "datetime", values, np.isnat(values))
    if kind in "US":
        values = values.astype(object)
        return _Raw(label, dtype, "object", values, np.zeros(len(values), dtype=bool))
    if _is_object(dtype):
        if missing is None:
            missing = _object_missing(values)
        return _from_objects(label, dtype, values, missing)
    raise TypeError(
        f"{_describe(label, dtype)} is not supported: TableEncoder models numbers, "
        "booleans, datetimes and categories; convert the column to one of these "
        "(a timedelta, for example, to seconds with .dt.total_seconds())."
    )


def _numbers(label, dtype, family, values):
    if np.isinf(values).any():
        raise ValueError(
            f"{_describe(label, dtype)} holds infinite values; replace them with "
            "NaN to model them as missing, or with finite values."
        )
    return _Raw(label, dtype, family, values, np.isnan(values))


def _object_missing(values):
    pd = _pandas()
    if pd is not None:
        return np.asarray(pd.isna(values), dtype=bool)
    return np.array(
        [v is None or (isinstance(v, numbers.Number) and v != v) for v in values],
        dtype=bool,
    )


def _from_objects(label, dtype, values, missing):
    """Read an object column as numbers or booleans when that is all it holds."""
    observed = values[~missing]
    types = {type(value) for value in observed.tolist()}
    nested = next((t for t in types if issubclass(t, _NESTED)), None)
    if nested is not None:
        example = next(v for v in observed if isinstance(v, nested))
        raise TypeError(
            f"{_describe(label, dtype)} holds nested values such as {example!r} "
            f"(a {nested.__name__}); TableEncoder models scalars only: expand them "
            "into columns or convert them to str."
        )
    if any(
        issubclass(t, numbers.Complex) and not issubclass(t, numbers.Real)
        for t in types
    ):
        raise _complex_error(label, dtype)
    if types and all(issubclass(t, (bool, np.bool_)) for t in types):
        family = "bool"
    elif types and all(issubclass(t, numbers.Real) for t in types):
        family = "number"
    else:
        return _Raw(label, dtype, "object", values, missing)
    floats = np.full(len(values), np.nan)
    floats[~missing] = observed.astype(np.float64)
    raw = _numbers(label, dtype, family, floats)
    raw.objects = values
    return raw


def _complex_error(label, dtype):
    return ValueError(
        f"Complex data not supported: {_describe(label, dtype)} holds complex "
        "numbers; split them into real and imaginary columns (np.real, np.imag)."
    )


# --- one codec per column ----------------------------------------------------


def _fit_codec(raw, categorical, encoding):
    """The codec of one training column; ``categorical`` None means by dtype."""
    if raw.missing.all():
        raise ValueError(
            f"{_describe(raw.label, raw.dtype)} has no observed value: all "
            f"{raw.missing.size} are missing; drop it before fitting."
        )
    if _n_unique(raw.levels[~raw.missing]) == 1:
        return _Constant(raw)
    if categorical is None:
        categorical = raw.family == "object"
    if categorical:
        return _Categorical(raw, encoding)
    if raw.family == "object":
        observed = raw.values[~raw.missing]
        example = next(
            (v for v in observed if not isinstance(v, numbers.Number)), observed[0]
        )
        raise TypeError(
            f"{_describe(raw.label, raw.dtype)} holds values such as {example!r}, "
            "which only a categorical column can model; list it in "
            "categorical_features, or leave categorical_features='from_dtype'."
        )
    if raw.family == "datetime":
        return _Datetime(raw)
    if raw.family == "bool":
        return _Boolean(raw)
    return _Numeric(raw)


def _n_unique(values):
    if values.dtype == object:
        return len(set(values.tolist()))
    return np.unique(values).size


class _Codec:
    """Encodes one input column to ``width`` float columns and decodes it back.

    Subclasses set ``kind``, ``families`` (the families ``encode`` accepts),
    ``n_values`` (encoded columns before the missing indicator) and
    ``discrete``, and implement ``_encode`` and ``_decode``.
    """

    discrete = True
    families = ("number", "bool", "datetime", "object")

    def __init__(self, raw):
        self.label, self.dtype = raw.label, raw.dtype
        self.has_missing = bool(raw.missing.any())
        self.indicator = self.has_missing
        missing_values = raw.levels[raw.missing]
        self.marker = (
            missing_values[0] if _is_object(raw.dtype) and missing_values.size else None
        )

    @property
    def width(self):
        return self.n_values + self.indicator

    def names(self, name):
        return [name] * self.n_values + [f"{name}_missing"] * self.indicator

    def discrete_mask(self):
        return [self.discrete] * self.n_values + [True] * self.indicator

    def bounds(self):
        return [(self.low, self.high)] * self.n_values + [(0.0, 1.0)] * self.indicator

    def encode(self, raw):
        if raw.family not in self.families:
            raise ValueError(
                f"{_describe(raw.label, raw.dtype)} cannot be encoded as the "
                f"{self.kind} column of dtype {self.dtype} it was during fit; "
                "pass a table with the columns seen during fit."
            )
        if raw.missing.any() and not self.has_missing:
            raise ValueError(
                f"{_describe(raw.label, raw.dtype)} has missing values, but had "
                "none during fit; refit on data with missing values in it."
            )
        parts = [self._encode(raw).reshape(len(raw.missing), -1)]
        if self.indicator:
            parts.append(raw.missing[:, None].astype(np.float64))
        return np.hstack(parts)

    def decode(self, block):
        values = self._decode(block[:, : self.n_values])
        if self.indicator:
            return values, block[:, -1] >= 0.5
        return values, np.zeros(len(block), dtype=bool)


class _Numeric(_Codec):
    """Continuous or integer values, encoded as themselves."""

    families = ("number", "bool")
    n_values = 1

    def __init__(self, raw):
        super().__init__(raw)
        observed = self._values(raw)[~raw.missing]
        self.discrete = bool(np.all(observed == np.rint(observed)))
        self.kind = "integer" if self.discrete else "continuous"
        self.range = (float(observed.min()), float(observed.max()))
        self.low, self.high = self.range
        median = np.median(observed)
        self.fill = float(np.rint(median) if self.discrete else median)
        self.limits = _limits(raw.dtype, self.discrete)

    def _values(self, raw):
        return raw.values

    def to_encoded(self, value, key):
        if not isinstance(value, numbers.Real):
            raise TypeError(f"bounds[{key!r}] must hold numbers; got {value!r}.")
        return float(value)

    def _encode(self, raw):
        return np.where(raw.missing, self.fill, self._values(raw))

    def _decode(self, block):
        low, high = max(self.low, self.limits[0]), min(self.high, self.limits[1])
        values = block[:, 0]
        if self.discrete:
            values, low, high = _nearest(values), np.ceil(low), np.floor(high)
        return np.clip(values, low, high)


def _nearest(values):
    """The integer ``k`` whose cell ``[k - 0.5, k + 0.5)`` holds each value.

    Half-open cells invert dequantisation by ``U[-0.5, 0.5)`` exactly, where
    rounding half to even would not.
    """
    return np.floor(values + 0.5)


def _limits(dtype, integral):
    """The range of values the column's dtype can hold."""
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    if numpy_dtype.kind in "iu" or (integral and _is_object(numpy_dtype)):
        info = np.iinfo(numpy_dtype if numpy_dtype.kind in "iu" else np.int64)
        high = float(info.max)
        # float(2**63 - 1) rounds up to 2**63, which int64 cannot hold.
        if int(high) > info.max:
            high = float(np.nextafter(high, -np.inf))
        return float(info.min), high
    if numpy_dtype.kind == "f":
        info = np.finfo(numpy_dtype)
        return float(info.min), float(info.max)
    return -np.inf, np.inf


class _Datetime(_Numeric):
    """Times as steps from the earliest one, on the integer lattice."""

    families = ("datetime",)

    def __init__(self, raw):
        self.unit = np.datetime_data(raw.values.dtype)[0]
        ticks = self._ticks(raw.values)[~raw.missing]
        self.origin = int(ticks.min())
        self.step = int(np.gcd.reduce(ticks - self.origin))
        super().__init__(raw)
        self.kind, self.discrete = "datetime", True
        # Keep decoded ticks inside int64, clear of NaT at its minimum.
        self.limits = (
            np.ceil((-(2**62) - self.origin) / self.step),
            np.floor((2**62 - self.origin) / self.step),
        )

    def _ticks(self, values):
        return values.astype(f"M8[{self.unit}]").view(np.int64)

    def _values(self, raw):
        ticks = np.where(raw.missing, self.origin, self._ticks(raw.values))
        return (ticks - self.origin) / self.step

    def to_encoded(self, value, key):
        try:
            tick = self._ticks(np.array([_datetime64(value)]))[0]
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"bounds[{key!r}] must hold datetimes; got {value!r}."
            ) from error
        return (int(tick) - self.origin) / self.step

    def _decode(self, block):
        steps = super()._decode(block).astype(np.int64)
        return (self.origin + steps * self.step).view(f"M8[{self.unit}]")


def _datetime64(value):
    pd = _pandas()
    if pd is not None:
        stamp = pd.Timestamp(value)
        if stamp.tz is not None:
            stamp = stamp.tz_convert(None)
        return stamp.to_datetime64()
    return np.datetime64(value)


class _Boolean(_Codec):
    """True and False as 1 and 0."""

    kind = "boolean"
    families = ("bool", "number")
    n_values = 1
    low, high = 0.0, 1.0

    def __init__(self, raw):
        super().__init__(raw)
        self.fill = float(np.rint(np.median(raw.values[~raw.missing])))

    def _encode(self, raw):
        return np.where(raw.missing, self.fill, raw.values)

    def _decode(self, block):
        return block[:, 0] >= 0.5


class _Categorical(_Codec):
    """Levels as codes or one-hot columns; missing is one more level."""

    kind = "categorical"

    def __init__(self, raw, encoding):
        super().__init__(raw)
        self.families = (raw.family,)
        self.indicator = False
        self.categories = _categories(raw)
        if self.categories.dtype == object:
            self.lookup = {level: code for code, level in enumerate(self.categories)}
        self.n_levels = len(self.categories) + self.has_missing
        self.onehot = encoding == "onehot"
        self.n_values = self.n_levels if self.onehot else 1
        self.low, self.high = 0.0, float(1 if self.onehot else self.n_levels - 1)

    def names(self, name):
        if not self.onehot:
            return [name]
        levels = [f"{name}_{level}" for level in self.categories.tolist()]
        return levels + [f"{name}_missing"] * self.has_missing

    def _encode(self, raw):
        codes = self._codes(raw)
        if not self.onehot:
            return codes.astype(np.float64)
        onehot = np.zeros((len(codes), self.n_levels))
        onehot[np.arange(len(codes)), codes] = 1.0
        return onehot

    def _codes(self, raw):
        observed = ~raw.missing
        levels = raw.levels
        if self.categories.dtype == object:
            codes = np.array(
                [
                    self.lookup.get(v, -1) if seen else 0
                    for v, seen in zip(levels.tolist(), observed, strict=True)
                ],
                dtype=np.intp,
            )
        else:
            codes = np.searchsorted(self.categories, levels).clip(
                0, len(self.categories) - 1
            )
            codes = np.where(self.categories[codes] == levels, codes, -1)
        unknown = observed & (codes < 0)
        if unknown.any():
            raise ValueError(
                f"{_describe(raw.label, raw.dtype)} holds levels unseen during fit, "
                f"such as {levels[unknown][0]!r}; refit on data that has them."
            )
        return np.where(raw.missing, len(self.categories), codes)

    def decode(self, block):
        if self.onehot:
            codes = np.argmax(block, axis=1)
        else:
            codes = np.clip(_nearest(block[:, 0]), 0, self.n_levels - 1)
            codes = codes.astype(np.intp)
        missing = codes == len(self.categories)
        return self.categories[np.minimum(codes, len(self.categories) - 1)], missing


def _categories(raw):
    """Seen levels: in the dtype's order for pandas categoricals, else sorted."""
    observed = raw.levels[~raw.missing]
    pd = _pandas()
    if pd is not None and isinstance(raw.dtype, pd.CategoricalDtype):
        seen = set(observed.tolist())
        return _object_array([c for c in raw.dtype.categories if c in seen])
    if observed.dtype != object:
        return np.unique(observed)
    try:
        return _object_array(sorted(set(observed.tolist())))
    except TypeError as error:
        types = sorted({type(v).__name__ for v in observed.tolist()})
        raise TypeError(
            f"{_describe(raw.label, raw.dtype)} mixes values of types {types}, "
            "which cannot be sorted into levels; convert the column to str."
        ) from error


def _object_array(items):
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


class _Constant(_Codec):
    """A single value, repeated on the way back; only missingness is encoded."""

    kind = "constant"
    n_values = 0
    low = high = np.nan

    def __init__(self, raw):
        super().__init__(raw)
        self.value = raw.levels[~raw.missing][:1]

    def _encode(self, raw):
        return np.empty((len(raw.missing), 0))

    def _decode(self, block):
        return np.repeat(self.value, len(block))


# --- building the output -----------------------------------------------------


def _array(decoded, codecs, n):
    out = np.empty((n, len(codecs)), dtype=codecs[0].dtype)
    for j, ((values, missing), codec) in enumerate(zip(decoded, codecs, strict=True)):
        out[:, j] = _numpy_column(values, missing, codec)
    return out


def _numpy_column(values, missing, codec):
    """One decoded column in the column's NumPy dtype, with its missing marker."""
    dtype = codec.dtype
    if _is_object(dtype):
        if codec.kind == "integer":
            values = values.astype(np.int64)
        out = values.astype(object)
        out[missing] = codec.marker
        return out
    out = values.astype(dtype)
    if missing.any():
        out[missing] = np.datetime64("NaT") if dtype.kind == "M" else np.nan
    return out


def _frame(decoded, codecs, columns, index):
    import pandas as pd

    series = {
        j: _series(values, missing, codec, pd)
        for j, ((values, missing), codec) in enumerate(
            zip(decoded, codecs, strict=True)
        )
    }
    frame = pd.DataFrame(series)
    frame.columns = columns
    if index is not None:
        frame.index = index
    return frame


def _series(values, missing, codec, pd):
    dtype = codec.dtype
    if dtype.kind == "M":
        times = values.copy()
        times[missing] = np.datetime64("NaT")
        series = pd.Series(times)
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_localize("UTC").dt.tz_convert(dtype.tz)
        return series.astype(dtype)
    if isinstance(dtype, np.dtype):
        return pd.Series(_numpy_column(values, missing, codec), dtype=dtype)
    if dtype.kind in "iufb":
        values = values.astype(dtype.numpy_dtype)
    out = values.astype(object)
    out[missing] = None
    return pd.Series(out, dtype=dtype)
