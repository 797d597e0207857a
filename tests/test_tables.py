"""TableEncoder: typed tables to floats and back, exactly and validly."""

import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from adaptnoise.tables import TableEncoder

ENCODINGS = pytest.mark.parametrize("encoding", ["ordinal", "onehot"])


@pytest.fixture(scope="module")
def pd():
    return pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def table(pd):
    """One column of every supported kind, most with missing values."""
    rng = np.random.default_rng(0)
    n = 200
    zero_inflated = rng.lognormal(size=n)
    zero_inflated[rng.random(n) < 0.6] = 0.0
    floats = rng.normal(size=n)
    floats[rng.random(n) < 0.1] = np.nan
    days = pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    when = pd.Series(pd.Timestamp("2020-01-01") + days)
    when[rng.random(n) < 0.05] = pd.NaT
    levels = rng.choice(["lo", "mid", None], n, p=[0.5, 0.4, 0.1])
    return pd.DataFrame(
        {
            "float": floats,
            "int": rng.integers(-5, 5, n),
            "nullable": pd.array(
                [
                    None if i % 7 == 0 else int(v)
                    for i, v in enumerate(rng.poisson(3, n))
                ],
                dtype="Int64",
            ),
            "bool": rng.random(n) < 0.3,
            "category": pd.Categorical(
                levels, categories=["hi", "mid", "lo"], ordered=True
            ),
            "string": pd.Series(rng.choice(["a", "b", "c"], n), dtype="string"),
            "object": pd.Series(
                [
                    None if i % 9 == 0 else v
                    for i, v in enumerate(rng.choice(["x", "y"], n))
                ],
                dtype=object,
            ),
            "when": when,
            "tz": pd.Series(
                pd.date_range("2021-03-01", periods=n, freq="7h", tz="UTC")
            ).dt.tz_convert("Europe/Berlin"),
            "zero_inflated": zero_inflated,
            "constant": np.full(n, 7),
            "text": pd.Series(rng.choice(["p", "q"], n)).where(rng.random(n) > 0.2),
            "maybe": pd.array(
                [None if i % 5 == 0 else bool(i % 3) for i in range(n)], dtype="boolean"
            ),
        }
    )


KINDS = [
    "continuous",
    "integer",
    "integer",
    "boolean",
    "categorical",
    "categorical",
    "categorical",
    "datetime",
    "datetime",
    "continuous",
    "constant",
    "categorical",
    "boolean",
]


@ENCODINGS
def test_every_kind_round_trips_exactly(pd, table, encoding):
    encoder = TableEncoder(categorical_encoding=encoding).fit(table)
    assert encoder.kinds_.tolist() == KINDS
    Z = encoder.transform(table)
    assert Z.dtype == np.float64 and np.isfinite(Z).all()
    back = encoder.inverse_transform(Z)
    pd.testing.assert_frame_equal(back, table)
    assert list(back.columns) == list(table.columns)
    assert back.dtypes.tolist() == table.dtypes.tolist()


@ENCODINGS
def test_dequantisation_noise_decodes_to_the_same_table(pd, table, encoding):
    # The generator adds U[-0.5, 0.5) to discrete columns while training; the
    # way back must undo exactly that, missing values included.
    encoder = TableEncoder(categorical_encoding=encoding).fit(table)
    Z = encoder.transform(table)
    rng = np.random.default_rng(1)
    noise = rng.uniform(-0.5, 0.5, Z.shape) * encoder.discrete_
    pd.testing.assert_frame_equal(encoder.inverse_transform(Z + noise), table)
    # The cells are half-open, [k - 0.5, k + 0.5), as the noise is.
    edges = encoder.inverse_transform(Z - 0.5 * encoder.discrete_)
    pd.testing.assert_frame_equal(edges, table)


@ENCODINGS
def test_any_matrix_decodes_to_valid_values(pd, table, encoding):
    encoder = TableEncoder(categorical_encoding=encoding).fit(table)
    Z = encoder.transform(table)
    rng = np.random.default_rng(2)
    scale = Z.std(axis=0) + 1.0
    out = encoder.inverse_transform(Z + rng.normal(size=Z.shape) * 3 * scale)
    assert out.dtypes.tolist() == table.dtypes.tolist()
    for name in ["category", "string", "object", "text"]:
        seen = set(table[name].dropna())
        assert set(out[name].dropna()) <= seen
    assert out["category"].cat.categories.tolist() == ["hi", "mid", "lo"]
    for name in ["float", "int", "nullable", "when", "tz", "zero_inflated"]:
        values = out[name].dropna()
        assert values.min() >= table[name].min()
        assert values.max() <= table[name].max()
    nullable = out["nullable"].dropna().to_numpy(dtype=float)
    assert np.array_equal(nullable, np.rint(nullable))
    assert (out["constant"] == 7).all()
    # Missing shows up only in the columns that had some.
    assert out.isna().any().tolist() == table.isna().any().tolist()


def test_missing_shares_follow_the_indicator(table):
    encoder = TableEncoder().fit(table)
    Z = encoder.transform(table)
    names = encoder.get_feature_names_out().tolist()
    rng = np.random.default_rng(3)
    # Noise on the values only: the indicators alone say what is missing (a
    # categorical column has a "missing" level instead).
    indicators = np.char.endswith(np.array(names, dtype=str), "_missing")
    noisy = Z + rng.normal(size=Z.shape) * 5 * ~indicators
    out = encoder.inverse_transform(noisy)
    assert indicators.sum() == 4
    for name in ["float", "nullable", "when", "maybe"]:
        assert out[name].isna().mean() == table[name].isna().mean()


def test_encoded_layout_and_attributes(pd):
    X = pd.DataFrame(
        {
            "size": [1.5, np.nan, 3.0, 2.5],
            "colour": pd.Categorical(["red", "blue", None, "red"]),
            "count": [3, 1, 2, 2],
            "flag": [True, False, False, True],
            "when": pd.to_datetime(["2020-01-01", "2020-01-03", "2020-01-09", None]),
            "unit": ["m", "m", "m", "m"],
        }
    )
    encoder = TableEncoder().fit(X)
    assert encoder.get_feature_names_out().tolist() == [
        "size",
        "size_missing",
        "colour",
        "count",
        "flag",
        "when",
        "when_missing",
    ]
    # Categories keep the dtype's (sorted) order; missing is the last code.
    assert encoder.categories_[1].tolist() == ["blue", "red"]
    assert [c is None for c in encoder.categories_] == [True, False] + [True] * 4
    assert encoder.discrete_.tolist() == [False, True, True, True, True, True, True]
    expected_bounds = [[1.5, 3], [0, 1], [0, 2], [1, 3], [0, 1], [0, 4], [0, 1]]
    np.testing.assert_array_equal(encoder.bounds_, expected_bounds)
    assert encoder.encoded_slices_[0] == slice(0, 2)
    assert encoder.encoded_slices_[5] == slice(7, 7)
    assert encoder.kinds_[5] == "constant"
    Z = encoder.transform(X)
    # The time lattice steps in the largest common gap, two days; a missing
    # time is filled with the median step.
    np.testing.assert_array_equal(Z[:, 5], [0, 1, 4, 1])
    np.testing.assert_array_equal(Z[:, 2], [1, 0, 2, 1])
    np.testing.assert_array_equal(Z[:, 0], [1.5, 2.5, 3.0, 2.5])


def test_onehot_columns_and_high_cardinality(pd):
    rng = np.random.default_rng(0)
    levels = np.array([f"id{i:03d}" for i in range(500)])
    X = pd.DataFrame({"id": rng.choice(levels, 5000), "v": rng.normal(size=5000)})
    ordinal = TableEncoder().fit(X)
    assert ordinal.transform(X).shape == (5000, 2)
    np.testing.assert_array_equal(ordinal.bounds_[0], [0, 499])
    onehot = TableEncoder(categorical_encoding="onehot").fit(X)
    Z = onehot.transform(X)
    assert Z.shape == (5000, 501)
    np.testing.assert_array_equal(Z[:, :500].sum(axis=1), 1.0)
    assert onehot.get_feature_names_out()[0] == "id_id000"
    out = ordinal.inverse_transform(rng.normal(250, 400, size=(100, 2)))
    assert set(out["id"]) <= set(levels)


def test_integer_valued_floats_stay_floats_but_integral(pd):
    X = pd.DataFrame({"age": [30.0, 41.0, 52.0, np.nan], "ratio": [0.5, 1, 2, 3]})
    encoder = TableEncoder().fit(X)
    assert encoder.kinds_.tolist() == ["integer", "continuous"]
    out = encoder.inverse_transform([[33.4, 0, 0.77], [60, 0, 9], [20, 1, -4]])
    assert out["age"].dtype == np.float64
    np.testing.assert_array_equal(out["age"], [33.0, 52.0, np.nan])
    np.testing.assert_array_equal(out["ratio"], [0.77, 3, 0.5])


def test_a_column_of_repeated_values_is_discrete_and_decodes_to_them(pd):
    X = pd.DataFrame(
        {
            "year": [1999, 2008] * 20,
            "rating": np.tile([0.5, 1.5, 4.0, 4.5], 10),
            "age": np.arange(40) % 10 + 20,
            "once": np.r_[np.arange(39) * 0.1, 0.0],
        }
    )
    encoder = TableEncoder().fit(X)
    assert encoder.kinds_.tolist() == ["discrete", "discrete", "integer", "continuous"]
    Z = encoder.transform(X)
    np.testing.assert_array_equal(Z[:4, :2], [[0, 0], [1, 1], [0, 2], [1, 3]])
    assert encoder.inverse_transform(Z).equals(X)
    noisy = np.random.default_rng(0).uniform(-3, 6, size=(500, 4))
    out = encoder.inverse_transform(noisy)
    assert out["year"].dtype == np.int64 and set(out["year"]) == {1999, 2008}
    assert set(out["rating"]) == {0.5, 1.5, 4.0, 4.5}


def test_discrete_features_turn_the_rule_off_or_list_the_columns(pd):
    X = pd.DataFrame(
        {
            "year": [1999, 2008] * 20,
            "x": np.r_[np.arange(39) * 0.1, 0.0],
            "colour": ["red", "blue"] * 20,
        }
    )
    off = TableEncoder(discrete_features=None).fit(X)
    assert off.kinds_.tolist() == ["integer", "continuous", "categorical"]
    listed = TableEncoder(discrete_features=["x"]).fit(X)
    assert listed.kinds_.tolist() == ["integer", "discrete", "categorical"]
    noisy = np.random.default_rng(0).uniform(-3, 60, size=(200, 3))
    assert set(listed.inverse_transform(noisy)["x"]) <= set(X["x"])
    with pytest.raises(ValueError, match="discrete_features lists column 'colour'"):
        TableEncoder(discrete_features=[2]).fit(X)
    with pytest.raises(ValueError, match="discrete_features names column 'z'"):
        TableEncoder(discrete_features=["z"]).fit(X)


def test_a_discrete_code_gives_each_level_a_unit_cell(pd):
    levels = np.array([0.5, 1.5, 4.0, 4.5])
    encoder = TableEncoder().fit(pd.DataFrame({"rating": np.repeat(levels, 5)}))
    x = np.linspace(-1.0, 6.0, 70001)
    grid = pd.DataFrame({"rating": x})
    code = encoder.transform(grid)[:, 0]
    assert np.all(np.diff(code) > 0)
    np.testing.assert_allclose(
        encoder.transform(pd.DataFrame({"rating": levels}))[:, 0], [0, 1, 2, 3]
    )
    # The derivative is what turns a density of the codes into one of the
    # values: over the values of each rank's unit cell it integrates to 1.
    density = np.exp(encoder.log_jacobian(grid))
    for rank in range(4):
        cell = (code >= rank - 0.5) & (code < rank + 0.5)
        assert np.trapezoid(density[cell], x[cell]) == pytest.approx(1, abs=1e-3)
    np.testing.assert_allclose(
        encoder.log_jacobian(pd.DataFrame({"rating": levels})),
        -np.log([1.0, 1.75, 1.5, 0.5]),
    )


def test_bounds_can_be_widened_or_turned_off(pd):
    X = pd.DataFrame(
        {
            "x": [0.0, 1.0, 2.5],
            "n": [1, 2, 3],
            "t": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-04"]),
        }
    )
    Z = [[-10.0, -10.0, -10.0], [10.0, 10.0, 10.0]]
    ranged = TableEncoder().fit(X).inverse_transform(Z)
    np.testing.assert_array_equal(ranged["x"], [0.0, 2.5])
    np.testing.assert_array_equal(ranged["n"], [1, 3])
    assert ranged["t"].tolist() == [X["t"].min(), X["t"].max()]
    free = TableEncoder(bounds=None).fit(X)
    assert np.isinf(free.bounds_).all()
    np.testing.assert_array_equal(free.inverse_transform(Z)["x"], [-10.0, 10.0])
    widened = TableEncoder(
        bounds={"x": (None, 4.0), 1: (-0.5, 5.5), "t": ("2019-12-30", None)}
    ).fit(X)
    out = widened.inverse_transform(Z)
    np.testing.assert_array_equal(out["x"], [-10.0, 4.0])
    np.testing.assert_array_equal(out["n"], [0, 5])
    assert out["t"].tolist() == [pd.Timestamp("2019-12-30"), pd.Timestamp("2020-01-11")]


def test_numpy_float_input_gives_numpy_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    X[:, 1] = rng.integers(0, 4, 50)
    X[::10, 2] = np.nan
    encoder = TableEncoder().fit(X)
    assert encoder.kinds_.tolist() == ["continuous", "integer", "continuous"]
    assert not hasattr(encoder, "feature_names_in_")
    assert encoder.get_feature_names_out().tolist() == ["x0", "x1", "x2", "x2_missing"]
    back = encoder.inverse_transform(encoder.transform(X))
    assert isinstance(back, np.ndarray) and back.dtype == np.float64
    np.testing.assert_array_equal(back, X)


def test_object_array_with_categorical_features():
    X = np.array(
        [
            [1.5, "a", True, None, 3],
            [2.5, "b", False, 3, 3],
            [np.nan, None, True, 4, 3],
            [0.5, "a", True, 5, 3],
        ],
        dtype=object,
    )
    encoders = [
        TableEncoder(categorical_features=[1]),
        TableEncoder(categorical_features=[False, True, False, False, False]),
        TableEncoder(),
    ]
    for encoder in encoders:
        encoder.fit(X)
        assert encoder.kinds_.tolist() == [
            "continuous",
            "categorical",
            "boolean",
            "integer",
            "constant",
        ]
        back = encoder.inverse_transform(encoder.transform(X))
        assert back.dtype == object
        # The missing markers come back as they were: NaN, None, None.
        assert back[2, 0] != back[2, 0] and back[2, 1] is None and back[0, 3] is None
        mask = np.array([[v is None or v != v for v in row] for row in X])
        assert (back[~mask] == X[~mask]).all()


def test_listed_numeric_column_is_categorical(pd):
    X = pd.DataFrame({"sex": [1, 2, 2, 1, 2], "bmi": [20.1, 25.3, 31.0, 22.2, 27.5]})
    by_name = TableEncoder(categorical_features=["sex"]).fit(X)
    by_index = TableEncoder(categorical_features=np.array([0])).fit(X)
    assert by_name.kinds_.tolist() == by_index.kinds_.tolist()
    assert by_name.kinds_.tolist() == ["categorical", "continuous"]
    np.testing.assert_array_equal(by_name.categories_[0], [1, 2])
    out = by_name.inverse_transform([[-3.0, 25.0], [0.6, 25.0], [7.0, 25.0]])
    assert out["sex"].dtype == np.int64
    assert out["sex"].tolist() == [1, 2, 2]


def test_bare_numpy_stays_free_of_pandas():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pandas"] = None  # any import of pandas now fails
        import numpy as np
        from adaptnoise.tables import TableEncoder
        X = np.array([[1.5, "a", True], [np.nan, "b", False], [2.0, None, True]],
                     dtype=object)
        encoder = TableEncoder().fit(X)
        back = encoder.inverse_transform(encoder.transform(X))
        assert back[1, 0] != back[1, 0] and back[2, 1] is None, back
        assert back[0].tolist() == [1.5, "a", True], back
        print(encoder.kinds_.tolist())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['continuous', 'categorical', 'boolean']"


def _frame(pd, **columns):
    return pd.DataFrame({"ok": np.arange(3.0), **columns})


UNSUPPORTED = [
    (lambda pd: np.array([1 + 1j, 2, 3]), ValueError, "'bad' (dtype complex128)"),
    (
        lambda pd: pd.Series([[1], [2], [3]], dtype=object),
        TypeError,
        "'bad' (dtype object) holds nested values such as [1] (a list)",
    ),
    (
        lambda pd: pd.Series([{"a": 1}, None, None], dtype=object),
        TypeError,
        "'bad' (dtype object) holds nested values such as {'a': 1} (a dict)",
    ),
    (
        lambda pd: pd.Series([None, np.nan, None], dtype=object),
        ValueError,
        "'bad' (dtype object) has no observed value: all 3 are missing",
    ),
    (
        lambda pd: pd.array([None, None, None], dtype="Int64"),
        ValueError,
        "'bad' (dtype Int64) has no observed value",
    ),
    (
        lambda pd: pd.to_timedelta([1, 2, 3], unit="s"),
        TypeError,
        "'bad' (dtype timedelta64[",
    ),
    (
        lambda pd: pd.period_range("2020", periods=3),
        TypeError,
        "'bad' (dtype period[D]) is not supported",
    ),
    (
        lambda pd: pd.arrays.SparseArray([0.0, 1.0, 0.0]),
        TypeError,
        "'bad' (dtype Sparse[float64, nan]) is sparse",
    ),
    (
        lambda pd: [1.0, np.inf, 2.0],
        ValueError,
        "'bad' (dtype float64) holds infinite values",
    ),
    (
        lambda pd: pd.Series(["a", 1, 2.5], dtype=object),
        TypeError,
        "'bad' (dtype object) mixes values of types ['float', 'int', 'str']",
    ),
]


@pytest.mark.parametrize("make, error, message", UNSUPPORTED)
def test_unsupported_columns_are_named_with_their_dtype(pd, make, error, message):
    with pytest.raises(error, match="column " + re.escape(message)):
        TableEncoder().fit(_frame(pd, bad=make(pd)))


def test_text_in_an_unlisted_column_says_to_list_it(pd):
    X = _frame(pd, city=pd.Series(["Rome", "Oslo", "Rome"], dtype=object))
    message = "column 'city' (dtype object) holds values such as 'Rome'"
    with pytest.raises(TypeError, match=re.escape(message)):
        TableEncoder(categorical_features=None).fit(X)
    with pytest.raises(TypeError, match="list it in categorical_features"):
        TableEncoder(categorical_features=[0]).fit(X)
    coded = _frame(pd, group=pd.Categorical([3, 1, 3]))
    message = "column 'group' (dtype category) holds values such as 3"
    with pytest.raises(TypeError, match=re.escape(message)):
        TableEncoder(categorical_features=None).fit(coded)


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ([3], ValueError, r"index 3, outside \[0, 1\] for X's 2 columns"),
        ([-1], ValueError, r"index -1, outside \[0, 1\]"),
        (["town"], ValueError, r"names column 'town', which X does not have"),
        ([True], ValueError, r"boolean mask must have shape \(n_features,\) = \(2,\)"),
        ([0.5], TypeError, "got an array of dtype float64"),
    ],
)
def test_bad_categorical_features(pd, spec, error, message):
    with pytest.raises(error, match=message):
        TableEncoder(categorical_features=spec).fit(_frame(pd, v=[1, 2, 3]))


def test_names_need_a_frame():
    with pytest.raises(ValueError, match="X has no string column names"):
        TableEncoder(categorical_features=["a"]).fit(np.eye(3))


@pytest.mark.parametrize(
    "bounds, error, message",
    [
        ({"c": (0, 1)}, ValueError, "'c' .* is categorical; bounds apply to"),
        ({"x": (3, 1)}, ValueError, r"bounds\['x'\] = \(3, 1\) has low above high"),
        ({"x": 3}, ValueError, r"bounds\['x'\] must be a pair \(low, high\)"),
        ({"x": ("a", None)}, TypeError, r"bounds\['x'\] must hold numbers"),
        ({"zz": (0, 1)}, ValueError, "bounds names column 'zz', which X does not"),
    ],
)
def test_bad_bounds(pd, bounds, error, message):
    X = pd.DataFrame({"x": [1.0, 2.5, 3.0], "c": ["p", "q", "p"]})
    with pytest.raises(error, match=message):
        TableEncoder(bounds=bounds).fit(X)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_transform_rejects_other_columns(pd):
    X = pd.DataFrame({"x": [1.0, 2.5, 3.0], "c": ["p", "q", "p"]})
    encoder = TableEncoder().fit(X)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        encoder.transform(X[["c", "x"]])
    with pytest.raises(ValueError, match="X has 1 features, but TableEncoder is"):
        encoder.transform(X[["x"]].to_numpy())
    with pytest.raises(ValueError, match="'c' .* holds levels unseen during fit"):
        encoder.transform(X.assign(c=["p", "r", "q"]))
    with pytest.raises(ValueError, match="'x' .* has missing values, but had none"):
        encoder.transform(X.assign(x=[1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="'x' .* cannot be encoded as the continuous"):
        encoder.transform(X.assign(x=["a", "b", "c"]))
    with pytest.raises(ValueError, match="X has 3 features, but TableEncoder is "):
        encoder.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Input contains NaN"):
        encoder.inverse_transform(np.full((2, 2), np.nan))


def test_clone_params_and_pickle(table):
    encoder = TableEncoder(categorical_encoding="onehot", bounds={"float": (-9, 9)})
    assert clone(encoder).get_params() == encoder.get_params()
    encoder.fit(table)
    assert not hasattr(clone(encoder), "kinds_")
    restored = pickle.loads(pickle.dumps(encoder))
    Z = encoder.transform(table)
    np.testing.assert_array_equal(restored.transform(table), Z)
    assert restored.inverse_transform(Z).equals(encoder.inverse_transform(Z))


def test_pipeline_has_a_way_back(pd, table):
    pipe = Pipeline([("table", TableEncoder()), ("scale", StandardScaler())])
    Z = pipe.fit_transform(table)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    pd.testing.assert_frame_equal(pipe.inverse_transform(Z), table)


def test_pandas_output_keeps_names_and_index(pd, table):
    encoder = TableEncoder().set_output(transform="pandas").fit(table)
    shifted = table.set_axis(table.index + 100)
    Z = encoder.transform(shifted)
    assert Z.columns.tolist() == encoder.get_feature_names_out().tolist()
    pd.testing.assert_frame_equal(encoder.inverse_transform(Z), shifted)


@parametrize_with_checks([TableEncoder()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_auto_encoding_one_hot_encodes_narrow_columns_and_codes_wide_ones(pd):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "narrow": pd.Categorical(rng.choice(list("abc"), 200)),
            "wide": pd.Categorical(rng.choice([f"l{i:02d}" for i in range(40)], 200)),
        }
    )
    encoder = TableEncoder(categorical_encoding="auto").fit(X)
    assert encoder.get_feature_names_out().tolist() == [
        "narrow_a",
        "narrow_b",
        "narrow_c",
        "wide",
    ]
    assert encoder.inverse_transform(encoder.transform(X)).equals(X)
