"""Fidelity, utility, privacy and validity of a synthetic table against real rows.

Every metric takes pandas DataFrames with the real table's columns and
reads each column by its *kind*, decided from the real training table by
:func:`column_kinds`: ``"numeric"`` (float and integer dtypes),
``"datetime"``, ``"boolean"`` and ``"categorical"`` (everything else).
Datetimes are compared as seconds since the epoch. Missing values (NaN,
None, ``pd.NA``, NaT) are part of every comparison, as the docstrings say,
never dropped silently.

The fidelity scores follow SDMetrics' quality report ("Column Shapes" and
"Column Pair Trends") but report errors, one minus its similarities, in
percent, and bin numeric columns on the real rows' edges for both sides
where SDMetrics bins each side on its own.
"""

import numpy as np
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

__all__ = [
    "KINDS",
    "aligned",
    "classifier_auc",
    "column_kinds",
    "column_pair_trend_errors",
    "column_shape_errors",
    "dcr_ratio",
    "ml_efficacy",
    "validity",
]

KINDS = ("numeric", "datetime", "boolean", "categorical")
_NUMBER_LINE = ("numeric", "datetime")
# The boosted trees run on one OpenMP thread: their threads busy-wait at
# every barrier, which on a shared 2-core machine made them 20 times slower.
_OPENMP_THREADS = 1
# SDMetrics' ContingencySimilarity bins numeric columns into 10 equal widths.
N_BINS = 10
# HistGradientBoosting models a categorical feature of at most this many
# levels natively (its max_bins); wider ones enter as their codes.
_MAX_NATIVE_LEVELS = 255


def column_kinds(real):
    """The kind of each column of the real table.

    Parameters
    ----------
    real : DataFrame
        The real training table.

    Returns
    -------
    kinds : dict of str to str
        Column name to one of :data:`KINDS`: boolean dtypes are
        ``"boolean"``, datetime dtypes ``"datetime"``, other numeric dtypes
        ``"numeric"``, and the rest (category, string, object)
        ``"categorical"``.
    """
    kinds = {}
    for name, column in real.items():
        dtype = column.dtype
        if pd.api.types.is_bool_dtype(dtype):
            kinds[name] = "boolean"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kinds[name] = "datetime"
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[name] = "numeric"
        else:
            kinds[name] = "categorical"
    return kinds


def aligned(synthetic, real):
    """``synthetic`` with the real table's columns, in their order.

    Raises
    ------
    ValueError
        If ``synthetic`` lacks some of the real columns, naming them.
    """
    missing = [name for name in real.columns if name not in synthetic.columns]
    if missing:
        raise ValueError(
            f"the synthetic table lacks the columns {missing} of the real table; "
            "a generator must return every column it was fitted on."
        )
    return synthetic[list(real.columns)]


def _numbers(column, kind, name):
    """A column of the number line as floats, NaN where missing."""
    if kind == "datetime":
        times = pd.to_datetime(column)
        if getattr(times.dt, "tz", None) is not None:
            times = times.dt.tz_convert(None)
        seconds = (times - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
        return seconds.to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any():
        raise TypeError(
            f"column {name!r} holds non-numeric values such as "
            f"{column[bad].iloc[0]!r}, but it is {kind} in the real table."
        )
    return values.to_numpy(dtype=float, na_value=np.nan)


def _codes(columns):
    """Integer codes shared across several columns of one categorical column.

    Missing values get a code of their own, as one more level. Levels are
    told apart by equality, so ``1``, ``1.0`` and ``True`` are one level.
    """
    values = pd.concat(columns, ignore_index=True).astype(object)
    missing = values.isna().to_numpy()
    codes, uniques = pd.factorize(values[~missing])
    out = np.full(len(values), len(uniques), dtype=np.intp)
    out[~missing] = codes
    return np.split(out, np.cumsum([len(c) for c in columns])[:-1])


def _total_variation(a, b, n_levels):
    """Total variation distance between the frequencies of two code arrays."""
    p = np.bincount(a, minlength=n_levels) / len(a)
    q = np.bincount(b, minlength=n_levels) / len(b)
    return 0.5 * float(np.abs(p - q).sum())


def _ks(a, b):
    """Kolmogorov-Smirnov statistic, with NaN as a point mass above every value.

    Without missing values this is the two-sample KS statistic; with them,
    that of the whole column, so a difference in the missing share counts
    as much as the same shift of observed mass would.
    """
    a = np.sort(np.where(np.isnan(a), np.inf, a))
    b = np.sort(np.where(np.isnan(b), np.inf, b))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def column_shape_errors(real, synthetic, kinds):
    """Per-column error of the marginals: 1 - SDMetrics' KS or TV complement.

    Parameters
    ----------
    real, synthetic : DataFrame
        The real rows to compare with and the synthetic rows, with the
        columns of ``kinds``.
    kinds : dict of str to str
        Each column's kind (:func:`column_kinds`).

    Returns
    -------
    errors : dict of str to float
        In [0, 1] per column: the Kolmogorov-Smirnov statistic for numeric
        and datetime columns (missing values as a point mass above every
        value), the total variation distance of the level frequencies for
        boolean and categorical ones (missing as one more level). The
        benchmark reports their mean in percent.
    """
    errors = {}
    for name, kind in kinds.items():
        if kind in _NUMBER_LINE:
            errors[name] = _ks(
                _numbers(real[name], kind, name), _numbers(synthetic[name], kind, name)
            )
        else:
            a, b = _codes([real[name], synthetic[name]])
            errors[name] = _total_variation(a, b, max(a.max(), b.max()) + 1)
    return errors


def _pearson(x, y):
    """Pearson correlation on the rows where both are observed; 0 if undefined.

    A side with fewer than two such rows, or constant on them, has no linear
    trend to speak of, which is what a correlation of 0 states.
    """
    both = ~(np.isnan(x) | np.isnan(y))
    x, y = x[both], y[both]
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def _binned(real_values, synthetic_values):
    """Bin codes on the real values' equal-width bins, for both sides.

    Codes 1 to :data:`N_BINS` are the real bins; values below or above the
    real range get codes 0 and ``N_BINS + 1``, and missing values
    ``N_BINS + 2``, so neither hides in an edge bin.
    """
    observed = real_values[~np.isnan(real_values)]
    edges = np.histogram_bin_edges(observed, bins=N_BINS)

    def codes(values):
        inner = np.searchsorted(edges[1:-1], values, side="right") + 1
        out = np.where(
            values < edges[0], 0, np.where(values > edges[-1], N_BINS + 1, inner)
        )
        return np.where(np.isnan(values), N_BINS + 2, out).astype(np.intp)

    return codes(real_values), codes(synthetic_values)


def column_pair_trend_errors(real, synthetic, kinds):
    """Per-pair error of the joint trends: 1 - SDMetrics' pair similarities.

    Parameters
    ----------
    real, synthetic : DataFrame
        The real rows to compare with and the synthetic rows.
    kinds : dict of str to str
        Each column's kind (:func:`column_kinds`).

    Returns
    -------
    errors : dict of (str, str) to float
        In [0, 1] for every pair of columns. Two numeric or datetime columns:
        ``|rho_real - rho_synthetic| / 2``, Pearson correlations on the rows
        where both are observed (0 for a constant side). Any other pair: the
        total variation distance of the pair's joint frequencies, missing
        values as one more level and numeric columns binned on the real
        rows' :data:`N_BINS` equal-width bins for both sides (values outside
        the real range, and missing ones, in bins of their own).
    """
    real_codes, synthetic_codes, numbers = {}, {}, {}
    for name, kind in kinds.items():
        if kind in _NUMBER_LINE:
            numbers[name] = (
                _numbers(real[name], kind, name),
                _numbers(synthetic[name], kind, name),
            )
            real_codes[name], synthetic_codes[name] = _binned(*numbers[name])
        else:
            real_codes[name], synthetic_codes[name] = _codes(
                [real[name], synthetic[name]]
            )
    names = list(kinds)
    errors = {}
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if first in numbers and second in numbers:
                (x_real, x_syn), (y_real, y_syn) = numbers[first], numbers[second]
                errors[first, second] = (
                    abs(_pearson(x_real, y_real) - _pearson(x_syn, y_syn)) / 2
                )
            else:
                errors[first, second] = _contingency_error(
                    (real_codes[first], real_codes[second]),
                    (synthetic_codes[first], synthetic_codes[second]),
                )
    return errors


def _contingency_error(real_pair, synthetic_pair):
    """Total variation distance between two joint tables of code pairs."""
    width = max(real_pair[1].max(), synthetic_pair[1].max()) + 1
    joint_real = real_pair[0] * width + real_pair[1]
    joint_syn = synthetic_pair[0] * width + synthetic_pair[1]
    n_levels = max(joint_real.max(), joint_syn.max()) + 1
    return _total_variation(joint_real, joint_syn, n_levels)


def _model_frames(frames, kinds):
    """The frames as gradient-boosting features, with shared categories.

    Numeric, boolean and datetime columns become floats (NaN where missing);
    categorical ones a pandas ``category`` over the levels of all the frames
    (missing stays missing), or their shared codes when there are more than
    :data:`_MAX_NATIVE_LEVELS` levels.
    """
    columns = [{} for _ in frames]
    for name, kind in kinds.items():
        if kind == "categorical":
            codes = _codes([frame[name] for frame in frames])
            n_levels = max(c.max() for c in codes)  # the missing code
            for out, code in zip(columns, codes, strict=True):
                code = np.where(code == n_levels, np.nan, code)
                out[name] = (
                    code
                    if n_levels > _MAX_NATIVE_LEVELS
                    else pd.Categorical(code, categories=np.arange(n_levels))
                )
        else:
            number_kind = "numeric" if kind == "boolean" else kind
            for out, frame in zip(columns, frames, strict=True):
                out[name] = _numbers(frame[name], number_kind, name)
    return [pd.DataFrame(out) for out in columns]


def classifier_auc(real, synthetic, kinds, n_splits=5, random_state=0):
    """Cross-validated AUC of gradient-boosted trees telling real from synthetic.

    Parameters
    ----------
    real, synthetic : DataFrame
        Held-out real rows and synthetic rows; the first
        ``min(len(real), len(synthetic))`` of each are used, so the classes
        are balanced.
    kinds : dict of str to str
        Each column's kind (:func:`column_kinds`).
    n_splits : int, default=5
        Stratified folds.
    random_state : int, default=0
        Seeds the folds and the trees.

    Returns
    -------
    auc : float
        Mean ROC AUC over the folds of
        ``HistGradientBoostingClassifier(categorical_features="from_dtype")``:
        0.5 when the classifier cannot tell the rows apart, 1 when it always
        can.
    """
    n = min(len(real), len(synthetic))
    X = pd.concat(_model_frames([real[:n], synthetic[:n]], kinds), ignore_index=True)
    y = np.repeat([0, 1], n)
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    classifier = HistGradientBoostingClassifier(
        categorical_features="from_dtype", random_state=random_state
    )
    with threadpool_limits(_OPENMP_THREADS, user_api="openmp"):
        scores = cross_val_score(classifier, X, y, cv=folds, scoring="roc_auc")
    return float(scores.mean())


def ml_efficacy(train, synthetic, holdout, target, kinds, random_state=0):
    """Train on synthetic rows, test on real ones, against training on real rows.

    Parameters
    ----------
    train, synthetic, holdout : DataFrame
        Real training rows, synthetic rows and real held-out (test) rows.
        Both models train on ``n = min(len(train), len(synthetic))`` rows:
        the first ``n`` synthetic rows, and the first ``n`` training rows.
        Rows whose target is missing are left out on every side.
    target : str
        The column to predict from the others: a classification for a
        boolean or categorical column (scored by accuracy), a regression
        otherwise (scored by R^2).
    kinds : dict of str to str
        Each column's kind (:func:`column_kinds`).
    random_state : int, default=0
        Seeds the trees.

    Returns
    -------
    result : dict
        ``target``, ``task``, ``metric``, ``n_rows`` (the ``n`` above),
        ``synthetic`` (the score of the model trained on synthetic rows) and
        ``real`` (trained on real rows).
    """
    n = min(len(train), len(synthetic))
    frames = [
        frame[frame[target].notna()] for frame in (train[:n], synthetic[:n], holdout)
    ]
    features = {name: kind for name, kind in kinds.items() if name != target}
    X_train, X_syn, X_test = _model_frames(frames, features)
    classify = kinds[target] in ("boolean", "categorical")
    if classify:
        y_train, y_syn, y_test = _codes([frame[target] for frame in frames])
        make = HistGradientBoostingClassifier
        score = accuracy_score
    else:
        y_train, y_syn, y_test = (
            _numbers(frame[target], kinds[target], target) for frame in frames
        )
        make = HistGradientBoostingRegressor
        score = r2_score
    scores = {}
    for side, X, y in (("synthetic", X_syn, y_syn), ("real", X_train, y_train)):
        if classify and np.unique(y).size < 2:
            # One class cannot train a classifier; it predicts that class.
            predicted = np.full(len(y_test), y[0] if len(y) else -1)
        else:
            model = make(categorical_features="from_dtype", random_state=random_state)
            with threadpool_limits(_OPENMP_THREADS, user_api="openmp"):
                predicted = model.fit(X, y).predict(X_test)
        scores[side] = float(score(y_test, predicted))
    return {
        "target": target,
        "task": "classification" if classify else "regression",
        "metric": "accuracy" if classify else "r2",
        "n_rows": n,
        **scores,
    }


def _dcr_encoding(train, kinds):
    """A function that encodes a frame as train-standardised numbers and one-hots.

    Numeric and datetime columns are standardised on the training rows,
    missing values filled with the training mean (0) and flagged in a 0/1
    column; boolean and categorical columns are one-hot over the training
    levels, missing as one more level, and a level unseen in training is a
    row of zeros.
    """
    steps = []
    for name, kind in kinds.items():
        if kind in _NUMBER_LINE:
            values = _numbers(train[name], kind, name)
            mean = np.nanmean(values)
            scale = np.nanstd(values) or 1.0
            steps.append((name, kind, (mean, scale)))
        else:
            levels = train[name].astype(object)
            missing_level = levels.isna().any()
            seen = pd.unique(levels[levels.notna()])
            steps.append((name, kind, (seen, missing_level)))

    def encode(frame):
        blocks = []
        for name, kind, state in steps:
            if kind in _NUMBER_LINE:
                mean, scale = state
                values = (_numbers(frame[name], kind, name) - mean) / scale
                missing = np.isnan(values)
                blocks += [np.where(missing, 0.0, values)[:, None], missing[:, None]]
            else:
                seen, missing_level = state
                levels = frame[name].astype(object)
                onehot = [levels.eq(level).to_numpy() for level in seen]
                if missing_level:
                    onehot.append(levels.isna().to_numpy())
                blocks.append(np.column_stack(onehot))
        return np.hstack(blocks).astype(float)

    return encode


def dcr_ratio(synthetic, train, holdout, kinds):
    """Distance-to-closest-record ratio: how closely rows hug the training rows.

    Parameters
    ----------
    synthetic, train, holdout : DataFrame
        Synthetic rows, the real rows they were fitted on, and real held-out
        rows.
    kinds : dict of str to str
        Each column's kind (:func:`column_kinds`).

    Returns
    -------
    ratio : float
        The median Euclidean distance from a synthetic row to its nearest
        training row over the same median for held-out rows, in the encoding
        of ``_dcr_encoding`` (numeric columns standardised on the training
        rows, categorical ones one-hot). About 1 for rows as fresh as real
        data; 0 for copies of training rows.

    Raises
    ------
    ValueError
        If the held-out rows' median distance is 0 (half of them copy a
        training row), where the ratio is undefined.
    """
    encode = _dcr_encoding(train, kinds)
    neighbours = NearestNeighbors(n_neighbors=1).fit(encode(train))
    synthetic_distance = np.median(neighbours.kneighbors(encode(synthetic))[0])
    holdout_distance = np.median(neighbours.kneighbors(encode(holdout))[0])
    if holdout_distance == 0:
        raise ValueError(
            "the DCR ratio is undefined: the held-out rows' median distance to the "
            "training rows is 0, as at least half of them copy a training row."
        )
    return float(synthetic_distance / holdout_distance)


def _share(hits, total):
    return None if total == 0 else float(hits / total)


def validity(synthetic, train, kinds):
    """Whether synthetic values could be values of the real table.

    Parameters
    ----------
    synthetic, train : DataFrame
        Synthetic rows and the real rows they were fitted on.
    kinds : dict of str to str
        Each column's kind (:func:`column_kinds`).

    Returns
    -------
    result : dict
        ``seen_category_share``: of the observed synthetic values of boolean
        and categorical columns, the share that are levels seen in training;
        ``integral_share``: of the observed synthetic values of the numeric
        columns whose training values are all integers, the share that are
        integers; ``in_bounds_share``: of the observed synthetic values of
        numeric and datetime columns, the share within the column's training
        ``[min, max]`` (each share None where no column applies);
        ``missing_share``: per column, the share of missing values in the
        training rows (``real``) and the synthetic ones (``synthetic``);
        ``missing_share_error``: the largest difference between those two,
        over the columns, in percentage points; ``unseen_levels``: per
        categorical column with unseen levels, up to three of them;
        ``dtype_mismatches``: per column whose synthetic dtype is not the
        training one, ``"<training dtype> -> <synthetic dtype>"``.
    """
    seen = [0, 0]
    integral = [0, 0]
    in_bounds = [0, 0]
    unseen_levels = {}
    for name, kind in kinds.items():
        if kind in _NUMBER_LINE:
            real_values = _numbers(train[name], kind, name)
            values = _numbers(synthetic[name], kind, name)
            values = values[~np.isnan(values)]
            low, high = np.nanmin(real_values), np.nanmax(real_values)
            in_bounds[0] += np.count_nonzero((values >= low) & (values <= high))
            in_bounds[1] += len(values)
            observed = real_values[~np.isnan(real_values)]
            if kind == "numeric" and np.all(observed == np.round(observed)):
                integral[0] += np.count_nonzero(values == np.round(values))
                integral[1] += len(values)
        else:
            levels = synthetic[name].astype(object)
            levels = levels[levels.notna()]
            known = levels.isin(set(train[name].dropna().astype(object)))
            seen[0] += int(known.sum())
            seen[1] += len(levels)
            if not known.all():
                unseen_levels[name] = [repr(v) for v in pd.unique(levels[~known])[:3]]
    missing_share = {
        name: {
            "real": float(train[name].isna().mean()),
            "synthetic": float(synthetic[name].isna().mean()),
        }
        for name in kinds
    }
    return {
        "seen_category_share": _share(*seen),
        "integral_share": _share(*integral),
        "in_bounds_share": _share(*in_bounds),
        "missing_share": missing_share,
        "missing_share_error": 100
        * max(abs(s["real"] - s["synthetic"]) for s in missing_share.values()),
        "unseen_levels": unseen_levels,
        "dtype_mismatches": {
            name: f"{train[name].dtype} -> {synthetic[name].dtype}"
            for name in kinds
            if synthetic[name].dtype != train[name].dtype
        },
    }
