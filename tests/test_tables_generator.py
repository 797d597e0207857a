"""FlowMatchingGenerator on real tables: every kind of column in, the same out."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from adaptnoise import FlowMatchingGenerator

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=(64, 64), fourier_features=32, max_iter=400, n_steps=8)


def every_kind(n=600, seed=0):
    rng = np.random.default_rng(seed)
    counts = pd.array(rng.poisson(4, n), dtype="Int64")
    counts[rng.random(n) < 0.15] = pd.NA
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, n),
            "children": rng.integers(0, 5, n),
            "visits": counts,
            "member": rng.random(n) < 0.3,
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "city": rng.choice(["Oslo", "Rome"], n).astype(object),
            "joined": pd.Timestamp("2021-03-01")
            + pd.to_timedelta(rng.integers(0, 400, n), "D"),
            "gain": np.where(rng.random(n) < 0.7, 0.0, rng.lognormal(3, 1, n)),
            "country": "NO",
        }
    )


@pytest.fixture(scope="module")
def fitted():
    df = every_kind()
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(df)
    return model, df, model.sample(2000, random_state=0)


def test_every_kind_of_column_comes_back_with_its_name_order_and_dtype(fitted):
    _, df, synthetic = fitted
    assert list(synthetic.columns) == list(df.columns)
    assert synthetic.dtypes.equals(df.dtypes)
    assert set(synthetic["colour"].dropna()) <= set(df["colour"])
    assert list(synthetic["colour"].cat.categories) == list(df["colour"].cat.categories)
    assert set(synthetic["city"]) <= {"Oslo", "Rome"}
    assert (synthetic["country"] == "NO").all()


def test_values_stay_valid(fitted):
    _, df, synthetic = fitted
    for column in ("height", "children", "gain", "joined"):
        assert synthetic[column].min() >= df[column].min()
        assert synthetic[column].max() <= df[column].max()
    assert (synthetic["gain"] >= 0).all()
    observed = synthetic["visits"].dropna().to_numpy(dtype=float)
    np.testing.assert_array_equal(observed, np.round(observed))


def test_missing_values_come_back_at_the_data_rate(fitted):
    _, df, synthetic = fitted
    rate = df["visits"].isna().mean()
    standard_error = np.sqrt(rate * (1 - rate) / len(synthetic))
    assert abs(synthetic["visits"].isna().mean() - rate) < 3 * standard_error + 0.02


def test_category_shares_follow_the_data(fitted):
    _, df, synthetic = fitted
    real = df["colour"].value_counts(normalize=True)
    fake = synthetic["colour"].value_counts(normalize=True)
    assert (real - fake).abs().max() < 0.08


def test_rows_with_missing_values_score_without_nan(fitted):
    model, df, _ = fitted
    scores = model.score_samples(df.head(50))
    assert np.isfinite(scores).all()
    # A constant column is a point mass: a row off it is impossible.
    assert model.score_samples(df.head(1).assign(country="SE"))[0] == -np.inf


def test_a_zero_inflated_column_keeps_its_zero_share(fitted):
    _, df, synthetic = fitted
    share = (df["gain"] == 0).mean()
    standard_error = np.sqrt(share * (1 - share) / len(synthetic))
    fake = synthetic["gain"]
    # 3 standard errors and a small allowance for the flow's own error.
    assert abs((fake == 0).mean() - share) < 3 * standard_error + 0.02
    # The atom is no smear of small values: none lie just above zero.
    smallest = df["gain"][df["gain"] > 0].min()
    assert not ((fake > 0) & (fake < smallest / 2)).any()


def test_a_heaped_integer_column_keeps_its_heap_next_to_a_category():
    # Years of schooling: 12 is held by 70% to 10% of the rows, by group. On
    # unit cells the flow blurred the heap into 11 and 13 (28% of samples
    # at 12 for 44.5% of rows); stretched to its share, 12 is a wide cell.
    rng = np.random.default_rng(0)
    group = rng.integers(0, 4, 1200)
    heap = rng.random(group.size) < np.array([0.7, 0.5, 0.3, 0.1])[group]
    spread = np.clip(np.rint(rng.normal(8 + 2 * group, 2.5)), 0, 20)
    df = pd.DataFrame(
        {
            "years": np.where(heap, 12, spread).astype(int),
            "group": pd.Categorical(np.array(list("abcd"))[group]),
        }
    )
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(df)
    synthetic = model.sample(4000, random_state=1)
    share = (df["years"] == 12).mean()
    standard_error = np.sqrt(share * (1 - share) / len(synthetic))
    assert abs((synthetic["years"] == 12).mean() - share) < 3 * standard_error + 0.03


def test_an_integer_columns_scores_are_probabilities_that_sum_to_one():
    # A Poisson count, stretched so that each value's cell spans its share:
    # its density at the code times the cell's width is the value's mass.
    counts = np.random.default_rng(0).poisson(3, 600)
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(counts[:, None])
    k = np.arange(-40, 60)
    mass = np.exp(model.score_samples(k[:, None].astype(float)))
    assert mass.sum() == pytest.approx(1, abs=0.05)
    assert mass[k == 3][0] == pytest.approx((counts == 3).mean(), abs=0.05)


def test_a_discrete_column_samples_only_its_values_at_their_shares():
    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame(
        {
            "year": rng.choice([1999, 2008], n, p=[0.3, 0.7]),
            "cylinders": rng.choice([4, 6, 8], n),
            "x": rng.normal(size=n),
        }
    )
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(df)
    assert model.encoder_.kinds_.tolist() == ["discrete", "discrete", "continuous"]
    samples = model.sample(2000, random_state=0)
    assert set(samples["year"]) == {1999, 2008}
    assert set(samples["cylinders"]) == {4, 6, 8}
    assert (samples["year"] == 2008).mean() == pytest.approx(0.7, abs=0.05)
    brief = {**FAST, "max_iter": 20}
    off = FlowMatchingGenerator(discrete_features=["year"], **brief).fit(df)
    assert off.encoder_.kinds_.tolist() == ["discrete", "integer", "continuous"]


def test_a_discrete_column_scores_as_a_density_of_its_values():
    rng = np.random.default_rng(0)
    levels, shares = np.array([0.5, 1.5, 4.0]), np.array([0.2, 0.5, 0.3])
    df = pd.DataFrame({"rating": rng.choice(levels, 500, p=shares)})
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(df)
    x = np.linspace(-3.0, 9.0, 4001)
    density = np.exp(model.score_samples(pd.DataFrame({"rating": x})))
    assert np.trapezoid(density, x) == pytest.approx(1, abs=0.05)
    # The level between the others is scored, not refused: its cell's share
    # is spread over the values half way to its neighbours.
    cell = (x >= 1.0) & (x < 2.75)
    assert np.trapezoid(density[cell], x[cell]) == pytest.approx(0.5, abs=0.05)


def with_missing(row, **columns):
    """``row`` with the named columns missing, each in its own dtype's way."""
    row = row.copy()
    for name in columns:
        row[name] = pd.NaT if row[name].dtype.kind == "M" else None
    return row


def test_a_missing_value_is_summed_over_a_small_columns_values(fitted):
    # None of these columns missed a value in fit: the row's score is the
    # joint one summed over the column's values (its one value, if constant).
    model, df, _ = fitted
    row = df.iloc[[3]]
    for name in ["children", "member", "colour", "city", "country"]:
        every = pd.concat([row.assign(**{name: v}) for v in df[name].unique()])
        every[name] = every[name].astype(df[name].dtype)
        expected = logsumexp(model.score_samples(every))
        missing = model.score_samples(with_missing(row, **{name: None}))
        assert missing[0] == pytest.approx(expected, abs=1e-9), name


def test_a_missing_value_integrates_a_wide_column_out(fitted):
    model, df, _ = fitted
    row = df.iloc[[3]]
    lowest, highest = df["height"].min(), df["height"].max()
    heights = np.linspace(lowest, highest, 2001)
    many = pd.concat([row] * heights.size).assign(height=heights)
    integral = np.log(np.trapezoid(np.exp(model.score_samples(many)), heights))
    missing = model.score_samples(with_missing(row, height=None))[0]
    assert missing == pytest.approx(integral, abs=0.02)
    # 400 days, summed over the training range from 32 rounded nodes.
    days = pd.date_range(df["joined"].min(), df["joined"].max())
    many = pd.concat([row] * days.size).assign(joined=days)
    total = logsumexp(model.score_samples(many))
    assert model.score_samples(with_missing(row, joined=None))[0] == pytest.approx(
        total, abs=0.1
    )


def test_a_missing_value_counts_an_atom_by_its_window(fitted):
    # The flow spread the zeros' mass over their window; a row at the atom
    # scores the density there, which the window's width turns into a mass.
    model, df, _ = fitted
    row = df.iloc[[3]]
    j = model.encoder_.encoded_slices_[list(df.columns).index("gain")].start
    _, below, above = model.columns_.atoms_[j]
    atom = np.log(above - below)[0] + model.score_samples(row.assign(gain=0.0))[0]
    gains = np.linspace(above[0], df["gain"].max(), 20001)
    many = pd.concat([row] * gains.size).assign(gain=gains)
    rest = np.log(np.trapezoid(np.exp(model.score_samples(many)), gains))
    missing = model.score_samples(with_missing(row, gain=None))[0]
    assert missing == pytest.approx(np.logaddexp(atom, rest), abs=0.05)


def test_two_missing_values_are_integrated_jointly(fitted):
    model, df, _ = fitted
    row = df.iloc[[3]]
    heights = np.linspace(df["height"].min(), df["height"].max(), 201)
    many = with_missing(pd.concat([row] * heights.size), gain=None)
    inner = model.score_samples(many.assign(height=heights))
    integral = np.log(np.trapezoid(np.exp(inner), heights))
    both = model.score_samples(with_missing(row, gain=None, height=None))[0]
    assert both == pytest.approx(integral, abs=0.05)


def test_a_marginal_density_integrates_to_one():
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], 600)
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(X)
    a = np.linspace(-6, 6, 601)
    rows = np.column_stack([a, np.full_like(a, np.nan)])
    assert np.trapezoid(np.exp(model.score_samples(rows)), a) == pytest.approx(
        1, abs=0.03
    )
    # Nothing left to score: the whole density, integrated, is 1.
    assert model.score_samples(np.full((2, 2), np.nan)).tolist() == [0.0, 0.0]


def rare_makers(n_rare, n=300, seed=0):
    rng = np.random.default_rng(seed)
    rare = [f"r{i}" for i in range(n_rare)]
    maker = np.r_[rng.choice(["a", "b", "c"], n - n_rare), rare]
    return pd.DataFrame({"maker": maker, "x": rng.normal(size=n)}), rare


def test_an_unseen_level_scores_as_the_levels_seen_once():
    df, rare = rare_makers(5)
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(df)
    new = pd.DataFrame({"maker": ["zz", "a"], "x": [0.1, 0.2]})
    scores = model.score_samples(new)
    as_rare = model.score_samples(pd.DataFrame({"maker": rare, "x": 0.1}))
    assert scores[0] == pytest.approx(logsumexp(as_rare))
    assert scores[1] == pytest.approx(model.score_samples(new.iloc[[1]])[0])
    # With no level seen once, a new one gets one row's chance, spread as
    # the rarest levels are.
    common = df.iloc[:-5]
    fewest = common["maker"].value_counts().idxmin()
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(common)
    as_fewest = model.score_samples(pd.DataFrame({"maker": [fewest], "x": [0.1]}))
    count = (common["maker"] == fewest).sum()
    assert model.score_samples(new)[0] == pytest.approx(as_fewest[0] - np.log(count))


def test_an_unseen_level_among_many_rare_ones_is_scored_from_a_spread_of_them():
    df, rare = rare_makers(100)
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(df)
    new = pd.DataFrame({"maker": ["zz"], "x": [0.1]})
    # 32 of the 100, evenly spread in level order, each standing for 100/32.
    spread = [sorted(rare)[i * 100 // 32] for i in range(32)]
    as_rare = model.score_samples(pd.DataFrame({"maker": spread, "x": 0.1}))
    estimate = logsumexp(as_rare) + np.log(100 / 32)
    assert model.score_samples(new)[0] == pytest.approx(estimate)
    every = logsumexp(model.score_samples(pd.DataFrame({"maker": rare, "x": 0.1})))
    assert abs(estimate - every) < 1


def test_a_zero_inflated_column_next_to_a_correlated_one():
    rng = np.random.default_rng(0)
    other = rng.normal(size=500)
    zero = rng.random(500) < 0.9
    amount = np.where(zero, 0.0, np.exp(0.5 * other + 0.3 * rng.normal(size=500)))
    X = np.column_stack([amount, other])
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(X)
    samples = model.sample(4000, random_state=1)
    share = (amount == 0).mean()
    standard_error = np.sqrt(share * (1 - share) / len(samples))
    assert abs((samples[:, 0] == 0).mean() - share) < 3 * standard_error + 0.02
    assert np.isfinite(model.score_samples(X[:50])).all()


def test_interpolant_noise_leaves_nominal_columns_alone():
    from adaptnoise._columns import TableColumns
    from adaptnoise.tables import TableEncoder

    frame = pd.DataFrame(
        {
            "x": [0.5, 1.5, np.nan, 2.5],
            "n": [1, 2, 3, 4],
            "c": pd.Categorical(["a", "b", "a", "c"]),
            "b": [True, False, True, True],
        }
    )
    columns = TableColumns(TableEncoder(categorical_encoding="onehot"), True)
    columns.fit(frame, 0)
    # x, its missing indicator, n, three one-hot columns, b.
    assert columns.nominal_columns().tolist() == [
        False,
        True,
        False,
        True,
        True,
        True,
        True,
    ]


def test_a_strong_interpolant_noise_keeps_categories_with_their_values():
    # Each level sits on its own value of x; a blur of the codes would pair
    # rows of one level with values of another.
    rng = np.random.default_rng(0)
    level = rng.integers(0, 3, 600)
    frame = pd.DataFrame(
        {
            "c": pd.Categorical.from_codes(level, ["a", "b", "c"]),
            "x": 4.0 * level + rng.normal(0, 0.3, 600),
        }
    )
    # One code column, the encoding a blur of codes would hurt most: 0.89
    # of the samples matched when sigma blurred the codes too, 0.94 now.
    model = FlowMatchingGenerator(
        categorical_encoding="ordinal",
        sigma=0.2,
        max_iter=400,
        hidden_layer_sizes=(64, 64),
        random_state=0,
    ).fit(frame)
    samples = model.sample(1000, random_state=1)
    nearest = np.clip(np.round(samples["x"] / 4.0), 0, 2).astype(int)
    assert (nearest == samples["c"].cat.codes).mean() > 0.92
