"""Column codecs: one table column read, encoded as floats and decoded back."""

import numbers
import sys

import numpy as np

__all__ = [
    "BOUNDED_KINDS",
    "decoded_array",
    "decoded_frame",
    "describe",
    "fit_codec",
    "imported_pandas",
    "read_column",
]

# Values an object column may not hold: they have no place on a number line
# and no stable identity as a category.
_NESTED = (list, tuple, dict, set, frozenset, np.ndarray)
BOUNDED_KINDS = ("continuous", "integer", "discrete", "datetime")
# A numeric column is "discrete" when at most this share of its rows hold a
# value seen only once: Good and Turing's estimate of the chance that a new
# row holds a value never seen, so that the values seen are, as far as the
# data tell, all the values the column takes.
_UNSEEN_SHARE = 0.01


def imported_pandas():
    """The pandas module if something has imported it, else None."""
    # pandas is optional: when it was never imported, no input can be pandas.
    return sys.modules.get("pandas")


# --- reading columns ---------------------------------------------------------


def _is_object(dtype):
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def describe(label, dtype):
    """A column as error messages name it."""
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


def read_column(column, label):
    """One column (a pandas Series or a 1D ndarray) as a ``_Raw``."""
    dtype = column.dtype
    pd = imported_pandas()
    if pd is not None and isinstance(column, pd.Series):
        if isinstance(dtype, pd.SparseDtype):
            raise TypeError(
                f"{describe(label, dtype)} is sparse, which TableEncoder does not "
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
        f"{describe(label, dtype)} is not supported: TableEncoder models numbers, "
        "booleans, datetimes and categories; convert the column to one of these "
        "(a timedelta, for example, to seconds with .dt.total_seconds())."
    )


def _numbers(label, dtype, family, values):
    if np.isinf(values).any():
        raise ValueError(
            f"{describe(label, dtype)} holds infinite values; replace them with "
            "NaN to model them as missing, or with finite values."
        )
    return _Raw(label, dtype, family, values, np.isnan(values))


def _object_missing(values):
    pd = imported_pandas()
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
            f"{describe(label, dtype)} holds nested values such as {example!r} "
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
        f"Complex data not supported: {describe(label, dtype)} holds complex "
        "numbers; split them into real and imaginary columns (np.real, np.imag)."
    )


# --- one codec per column ----------------------------------------------------


def fit_codec(raw, categorical, encoding, discrete=None):
    """The codec of one training column.

    ``categorical`` None means by dtype, ``discrete`` None by the rule of
    :func:`_levels`.
    """
    if raw.missing.all():
        raise ValueError(
            f"{describe(raw.label, raw.dtype)} has no observed value: all "
            f"{raw.missing.size} are missing; drop it before fitting."
        )
    if _n_unique(raw.levels[~raw.missing]) == 1:
        return _Constant(raw)
    if categorical is None:
        categorical = raw.family == "object"
    if categorical:
        _check_not_discrete(raw, discrete, "categorical")
        return _Categorical(raw, encoding)
    if raw.family == "object":
        observed = raw.values[~raw.missing]
        example = next(
            (v for v in observed if not isinstance(v, numbers.Number)), observed[0]
        )
        raise TypeError(
            f"{describe(raw.label, raw.dtype)} holds values such as {example!r}, "
            "which only a categorical column can model; list it in "
            "categorical_features, or leave categorical_features='from_dtype'."
        )
    if raw.family in ("datetime", "bool"):
        _check_not_discrete(raw, discrete, raw.family)
        return _Datetime(raw) if raw.family == "datetime" else _Boolean(raw)
    if discrete is None:
        levels = _levels(raw)
    else:
        levels = np.unique(raw.values[~raw.missing]) if discrete else None
    return _Numeric(raw) if levels is None else _Levels(raw, levels)


def _check_not_discrete(raw, discrete, kind):
    if discrete:
        raise ValueError(
            f"discrete_features lists {describe(raw.label, raw.dtype)}, which "
            f"is {kind}; only numeric columns can be discrete."
        )


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
                f"{describe(raw.label, raw.dtype)} cannot be encoded as the "
                f"{self.kind} column of dtype {self.dtype} it was during fit; "
                "pass a table with the columns seen during fit."
            )
        if raw.missing.any() and not self.has_missing:
            raise ValueError(
                f"{describe(raw.label, raw.dtype)} has missing values, but had "
                "none during fit; refit on data with missing values in it."
            )
        parts = [self._encode(raw).reshape(len(raw.missing), -1)]
        if self.indicator:
            parts.append(raw.missing[:, None].astype(np.float64))
        return np.hstack(parts)

    def log_jacobian(self, raw):
        """Log-derivative of the code at each value, 0 where it is the value's
        own units or a lattice of them."""
        return np.zeros(raw.missing.size)

    def unseen(self, raw):
        """Where the column holds a level unseen during fit: nowhere but in
        categorical columns."""
        return np.zeros(raw.missing.size, dtype=bool)

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
        self.discrete = self.integral = _integral(observed, raw.dtype)
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


def _levels(raw):
    """The sorted values of a discrete numeric column, or None.

    Consecutive integers are left to the integer lattice, which codes them
    alike.
    """
    observed = raw.values[~raw.missing]
    levels, counts = np.unique(observed, return_counts=True)
    if np.count_nonzero(counts == 1) > _UNSEEN_SHARE * observed.size:
        return None
    if _integral(levels, raw.dtype) and levels[-1] - levels[0] + 1 == levels.size:
        return None
    return levels


class _Levels(_Numeric):
    """The values of a discrete column, coded by their rank.

    The code is piecewise linear through ``(levels[r], r)`` and extends the
    outer pieces beyond the ends, so it maps the half-way points between
    levels to the edges of the unit cells of the ranks: a rank spread over
    its cell is its level spread over the level's share of the line, and
    any value, seen or not, has a code and a density.
    """

    def __init__(self, raw, levels):
        self.levels, self.gaps = levels, np.diff(levels)
        super().__init__(raw)
        self.kind, self.discrete = "discrete", True
        self.integral = _integral(levels, raw.dtype)
        observed = np.sort(raw.values[~raw.missing])
        self.fill = float(np.searchsorted(levels, observed[(observed.size - 1) // 2]))
        self.range = self.limits = (0.0, float(levels.size - 1))
        self.low, self.high = self.range

    def _values(self, raw):
        return self._code(raw.values)

    def _code(self, values):
        ranks = np.arange(self.levels.size, dtype=np.float64)
        codes = np.interp(values, self.levels, ranks)
        below, above = values < self.levels[0], values > self.levels[-1]
        codes[below] = (values[below] - self.levels[0]) / self.gaps[0]
        codes[above] = ranks[-1] + (values[above] - self.levels[-1]) / self.gaps[-1]
        return codes

    def to_encoded(self, value, key):
        return float(self._code(np.array([super().to_encoded(value, key)]))[0])

    def _decode(self, block):
        return self.levels[super()._decode(block).astype(np.intp)]

    def log_jacobian(self, raw):
        """Log-derivative of the code at each value: the code's density over
        a level's cell becomes a density over the level's share of the line.

        At a level the derivative jumps; there it is the mean over the
        level's cell, the inverse of the cell's width.
        """
        values = np.where(raw.missing, self.levels[int(self.fill)], raw.values)
        gaps = np.r_[self.gaps[0], self.gaps, self.gaps[-1]]
        segment = np.searchsorted(self.levels, values, side="right")
        width = gaps[segment]
        at_level = self.levels[np.clip(segment - 1, 0, None)] == values
        width = np.where(at_level, self.cells()[np.clip(segment - 1, 0, None)], width)
        return -np.log(width)

    def cells(self):
        """The width of each level's share of the line, half way to its
        neighbours (the whole gap to the one neighbour of an end level)."""
        gaps = np.r_[self.gaps[0], self.gaps, self.gaps[-1]]
        return (gaps[:-1] + gaps[1:]) / 2


def _integral(values, dtype):
    """Whether every value is an integer that its dtype tells from its neighbours.

    Past 2**53 every float64 is an integer, so a float column there says
    nothing about integrality; an integer dtype always does.
    """
    if not np.all(values == np.rint(values)):
        return False
    if getattr(dtype, "numpy_dtype", dtype).kind != "f":
        return True
    return bool(np.all(np.abs(values) < 2.0**53))


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
    pd = imported_pandas()
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


# Most levels (missing included) that categorical_encoding="auto" one-hot
# encodes: every column of the benchmark's tables has at most 9, and each
# level is a dimension of the flow, which the exact divergence of scoring
# pays for once per row and step; wider columns take a single code.
MAX_ONEHOT_LEVELS = 16


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
        self.onehot = encoding == "onehot" or (
            encoding == "auto" and self.n_levels <= MAX_ONEHOT_LEVELS
        )
        self.n_values = self.n_levels if self.onehot else 1
        self.low, self.high = 0.0, float(1 if self.onehot else self.n_levels - 1)
        codes = self._known_codes(raw)[~raw.missing]
        counts = np.bincount(codes, minlength=len(self.categories))
        # The stand-ins for an unseen level: the levels seen least often, of
        # which a new level is given the chance of those seen once (Good and
        # Turing), or of one row when none was, since a finite sample never
        # rules new levels out.
        self.rare = self.categories[counts == counts.min()]
        once = np.count_nonzero(counts == 1)
        self.rare_log_weight = float(
            np.log(max(once, 1) / (counts.min() * len(self.rare)))
        )

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

    def unseen(self, raw):
        """Where the column holds a level unseen during fit."""
        return ~raw.missing & (self._known_codes(raw) < 0)

    def _codes(self, raw):
        codes = self._known_codes(raw)
        unknown = ~raw.missing & (codes < 0)
        if unknown.any():
            raise ValueError(
                f"{describe(raw.label, raw.dtype)} holds levels unseen during fit, "
                f"such as {raw.levels[unknown][0]!r}; refit on data that has them."
            )
        return np.where(raw.missing, len(self.categories), codes)

    def _known_codes(self, raw):
        """Each entry's code, -1 for an unseen level (and 0 where missing)."""
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
        return codes

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
    pd = imported_pandas()
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
            f"{describe(raw.label, raw.dtype)} mixes values of types {types}, "
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


def decoded_array(decoded, codecs, n):
    """The decoded ``(values, missing)`` pairs as an array of ``n`` rows."""
    out = np.empty((n, len(codecs)), dtype=codecs[0].dtype)
    for j, ((values, missing), codec) in enumerate(zip(decoded, codecs, strict=True)):
        out[:, j] = _numpy_column(values, missing, codec)
    return out


def _numpy_column(values, missing, codec):
    """One decoded column in the column's NumPy dtype, with its missing marker."""
    dtype = codec.dtype
    if _is_object(dtype):
        if codec.kind in ("integer", "discrete") and codec.integral:
            values = values.astype(np.int64)
        out = values.astype(object)
        out[missing] = codec.marker
        return out
    out = values.astype(dtype)
    if missing.any():
        out[missing] = np.datetime64("NaT") if dtype.kind == "M" else np.nan
    return out


def decoded_frame(decoded, codecs, columns, index):
    """The decoded ``(values, missing)`` pairs as a DataFrame, dtypes restored."""
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
