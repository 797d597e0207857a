"""The peer benchmark ``benchmarks/run.py`` in its quick mode: the report's content."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest
from sklearn.base import BaseEstimator

ROOT = pathlib.Path(__file__).parents[1]
METRICS = ("energy_distance", "sliced_wasserstein", "c2st_auc", "dcr_ratio")
MODELS = ["default", "gmm", "kde", "bad"]
BLOCK = (
    "before\n<!-- results:start (generated) -->\nold\nlines\n"
    "<!-- results:end -->\nafter\n"
)


class ShiftedGaussian(BaseEstimator):
    """A deliberately bad generator: a Gaussian three deviations off the data."""

    def fit(self, X, y=None):
        self.mean_, self.scale_ = X.mean(0), X.std(0)
        return self

    def sample(self, n_samples, random_state=None):
        noise = np.random.default_rng(random_state).standard_normal(
            (n_samples, len(self.mean_))
        )
        return self.mean_ + self.scale_ * (3.0 + noise)


@pytest.fixture(scope="module")
def run():
    """``benchmarks/run.py`` as a module, with a bad model registered."""
    with pytest.MonkeyPatch.context() as patch:
        # run.py imports its helper _peers from its own folder, as a script does.
        patch.syspath_prepend(str(ROOT / "benchmarks"))
        spec = importlib.util.spec_from_file_location("run", ROOT / "benchmarks/run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        patch.setitem(module.MODELS, "bad", module.Model("bad model", ShiftedGaussian))
        yield module


@pytest.fixture(scope="module")
def quick(run, tmp_path_factory):
    output = tmp_path_factory.mktemp("benchmark")
    report = run.main(
        quick=True, datasets=["moons", "wine"], models=MODELS, output=output
    )
    return report, output


def test_every_metric_is_finite_or_explained(quick):
    report, _ = quick
    assert list(report["datasets"]) == ["moons", "wine"]
    for result in report["datasets"].values():
        rows = result["rows"]
        assert list(rows) == ["floor", *MODELS]
        for row in rows.values():
            assert "error" not in row, row
            assert all(np.isfinite(row[m]) for m in (*METRICS, "energy_ratio_to_floor"))
            if row["held_out_log_likelihood"] is None:
                assert any(n.startswith("log-likelihood") for n in row["notes"])
            else:
                assert np.isfinite(row["held_out_log_likelihood"])
        for key in MODELS:
            assert rows[key]["fit_seconds"] > 0 and rows[key]["sample_seconds"] > 0
        # The bad model has no density; the peers have one everywhere.
        assert rows["bad"]["held_out_log_likelihood"] is None
        assert np.isfinite(rows["gmm"]["held_out_log_likelihood"])
        # Quick mode samples with 2 RK4 steps: 8 velocity evaluations.
        assert rows["default"]["velocity_evaluations"] == 8
        assert rows["gmm"]["velocity_evaluations"] is None


def test_energy_distance_is_the_mean_over_draws(quick, run):
    report, _ = quick
    n_draws = run.SETTINGS["quick"]["n_energy_draws"]
    n_replicates = run.SETTINGS["quick"]["n_floor_replicates"]
    for result in report["datasets"].values():
        for row in result["rows"].values():
            draws = row["energy_distance_draws"]
            assert np.mean(draws) == pytest.approx(row["energy_distance"])
        floor = result["rows"]["floor"]
        assert len(floor["energy_replicates"]) == n_replicates
        assert floor["energy_scale"] == pytest.approx(
            np.sqrt(np.mean(np.square(floor["energy_replicates"])))
        )
    rows = report["datasets"]["moons"]["rows"]
    # Independent draws of one fitted model differ; the floor's draws too.
    assert len(set(rows["default"]["energy_distance_draws"])) == n_draws
    assert len(set(rows["floor"]["energy_distance_draws"])) == n_draws
    # The wine table's floor is one held-out half against the other.
    assert (
        len(report["datasets"]["wine"]["rows"]["floor"]["energy_distance_draws"]) == 1
    )


def test_synthetic_draws_meet_their_own_fresh_held_out_rows(run):
    settings = run.SETTINGS["quick"]
    n_draws = settings["n_energy_draws"]
    moons = run.DATASETS["moons"](settings)
    references = moons.energy_references_for(moons.reference, n_draws)
    assert len(references) == n_draws
    firsts = {tuple(R[0]) for R in references}
    assert len(firsts) == n_draws
    assert not any(np.isin(R, moons.reference).all() for R in references)
    # A table has no fresh rows: every draw meets its held-out half.
    wine = run.DATASETS["wine"](settings)
    assert all(
        R is wine.reference for R in wine.energy_references_for(wine.reference, 3)
    )


def test_floor_is_near_zero_and_below_a_bad_model(quick):
    report, _ = quick
    for name, result in report["datasets"].items():
        floor, bad = result["rows"]["floor"], result["rows"]["bad"]
        assert floor["energy_scale"] > 0
        assert abs(floor["energy_distance"]) < 0.05 * bad["energy_distance"], name
        assert bad["energy_ratio_to_floor"] > 10
        assert floor["sliced_wasserstein"] < bad["sliced_wasserstein"]
        assert abs(floor["c2st_auc"] - 0.5) < 0.2
    # The quick classifier test has too few rows on wine to see anything.
    assert report["datasets"]["moons"]["rows"]["bad"]["c2st_auc"] > 0.9
    # Fresh rows of the true law sit as far from the training rows as
    # held-out rows do.
    assert 0.8 < report["datasets"]["moons"]["rows"]["floor"]["dcr_ratio"] < 1.25


def test_report_files(quick):
    report, output = quick
    assert json.loads((output / "run.json").read_text())["datasets"].keys() == {
        "moons",
        "wine",
    }
    text = (output / "run.md").read_text()
    assert "2 CPUs" in text or "CPUs (" in text
    for name, result in report["datasets"].items():
        section = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        table = [line for line in section.splitlines() if line.startswith("|")]
        assert table[0].startswith("| model | energy distance | ED / floor |")
        assert set(table[1].replace("|", "").split()) <= {"---", "---:"}
        labels = [line.split("|")[1].strip() for line in table[2:]]
        assert labels == [row["label"] for row in result["rows"].values()]
        assert len(table[2].split("|")) == len(table[0].split("|"))


def test_quick_or_partial_runs_leave_the_results_alone(run, tmp_path, monkeypatch):
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text(BLOCK)
    monkeypatch.setattr(run, "README", readme)
    run.main(quick=True, datasets=["moons"], models=["bad"])
    assert not (tmp_path / "results").exists()
    assert readme.read_text() == BLOCK


def test_readme_section(run, quick):
    report, _ = quick
    text = run.readme_section(report)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0].split("|")[1:-1] == [
        " dataset ",
        " floor ",
        " ours: default ",
        " ours: best other ",
        " GaussianMixture (BIC) ",
        " KernelDensity (CV bandwidth) ",
        " bad model ",
    ]
    assert [line.split("|")[1].strip() for line in table[2:]] == ["moons", "wine"]
    bad = report["datasets"]["moons"]["rows"]["bad"]
    assert f"{bad['energy_ratio_to_floor']:.1f} / {bad['c2st_auc']:.3f}" in table[2]
    # Only the 2D sets are checked; the bad model is a peer the default beats.
    checks = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(checks) == 1 and checks[0].startswith("- moons: ")
    assert "bad model" not in checks[0]
    assert "(benchmarks/results/run.md)" in text


def test_replace_readme_block(run):
    new = run.replace_readme_block(BLOCK, "new\n")
    assert new == (
        "before\n<!-- results:start (generated) -->\n\nnew\n\n"
        "<!-- results:end -->\nafter\n"
    )
    assert run.replace_readme_block(new, "new\n") == new
    with pytest.raises(ValueError, match="found 0"):
        run.replace_readme_block("no markers\n", "new\n")
    with pytest.raises(ValueError, match="found 2"):
        run.replace_readme_block(BLOCK + BLOCK, "new\n")


def test_readme_block_is_the_committed_results(run):
    report = json.loads((ROOT / "benchmarks/results/run.json").read_text())
    readme = (ROOT / "README.md").read_text()
    # Rerun ``python benchmarks/run.py --readme-only`` if this fails.
    assert run.replace_readme_block(readme, run.readme_section(report)) == readme


def test_velocity_evaluations_follow_the_sampling_steps(run):
    import _evaluation

    from adaptnoise import FlowMatchingGenerator

    # RK4 takes four evaluations a step; "auto" samples in 5 steps.
    assert _evaluation.velocity_evaluations(FlowMatchingGenerator()) == 20
    assert _evaluation.velocity_evaluations(FlowMatchingGenerator(n_steps=3)) == 12
