"""The example scripts and benchmarks run end to end in their quick modes."""

import importlib.util
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parents[1]


def load(relative):
    spec = importlib.util.spec_from_file_location(relative.stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_learned_noise_writes_its_figure(tmp_path, monkeypatch, capsys):
    example = load(pathlib.Path("examples/learned_noise.py"))
    monkeypatch.setattr(example, "OUTPUT", tmp_path)
    example.main(quick=True)
    figure = tmp_path / "learned_noise.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "W1 to held-out data" in out and "tails chosen ['bounded', 'bounded']" in out


def test_quickstart_compares_a_real_table_with_a_peer(tmp_path, monkeypatch, capsys):
    quickstart = load(pathlib.Path("examples/quickstart.py"))
    monkeypatch.setattr(quickstart, "OUTPUT", tmp_path)
    results = quickstart.main(quick=True)
    assert (tmp_path / "quickstart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(results) == 2
    for result in results.values():
        assert len(result["shape_errors"]) == 8
        assert all(0 <= e <= 1 for e in result["shape_errors"].values())
        assert 0 <= result["c2st_auc"] <= 1
    out = capsys.readouterr().out
    # Both models give back the table's own columns, dtypes and levels.
    assert out.count("same columns and dtypes: True") == 2
    assert out.count("categories among the seen ones: True") == 2


def test_noise_fit_benchmark_quick_mode():
    bench = load(pathlib.Path("benchmarks/bench_noise_fit.py"))
    rows = bench.main(quick=True)
    assert [(r["n_samples"], r["n_features"]) for r in rows] == [(2000, 2), (2000, 8)]
    assert all(np.isfinite(r["seconds_median"]) and r["w2_max"] > 0 for r in rows)


def test_generator_benchmark_quick_mode():
    bench = load(pathlib.Path("benchmarks/bench_generator.py"))
    report = bench.main(quick=True)
    assert set(report["datasets"]) == {"checkerboard", "gaussian_grid", "funnel"}
    checkerboard = report["datasets"]["checkerboard"]["quantile+ot (default)"]
    assert 0 <= checkerboard["on_squares"] <= 1
    assert all(np.isfinite(checkerboard[f"energy_{s}"]) for s in (2, 4, 8, 100))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_memorization_benchmark_quick_mode():
    bench = load(pathlib.Path("benchmarks/bench_memorization.py"))
    rows = bench.main(quick=True)
    assert len(rows) == 6 and all(r["dcr_ratio"] > 0 for r in rows)


def test_compare_processes_quick_mode():
    example = load(pathlib.Path("examples/compare_processes.py"))
    results = example.main(quick=True)
    assert len(results) == 7
    assert all(0 <= r["mode_tv"] <= 1 for r in results.values())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_step_size_benchmark_quick_mode():
    bench = load(pathlib.Path("benchmarks/bench_step_size.py"))
    rows = bench.main(quick=True)
    assert [r["learning_rate_init"] for r in rows] == [2e-3, 5e-3, 1e-2]
    assert all(0 <= r["on_squares"] <= 1 for r in rows)


def test_ode_steps_benchmark_scores_both_quadratures_against_the_reference(
    monkeypatch,
):
    # The script imports its helpers from its own folder.
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    bench = load(pathlib.Path("benchmarks/bench_ode_steps.py"))
    rows = bench.main(quick=True)
    wine = {(r["solver"], r["n_steps"]): r for r in rows if r["dataset"] == "wine"}
    assert wine[bench.REFERENCE]["loglik_error"] == 0
    assert wine[bench.STAGES]["divergences"] == 4 * bench.STAGES[1]
    assert all(wine["rk4", k]["divergences"] == k for k in bench.SCORE_STEPS)
    # Both quadratures converge to the same scores: at 30 midpoint steps and
    # at 10 steps with the divergence at every stage, a tiny network's scores
    # are within a tenth of a nat of 100 steps'.
    assert wine["rk4", 30]["loglik_error"] < 0.1
    assert wine[bench.STAGES]["loglik_error"] < 0.1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_coupling_benchmark_quick_mode():
    bench = load(pathlib.Path("benchmarks/bench_coupling.py"))
    rows = bench.main(quick=True)
    assert [r["dataset"] for r in rows[:3]] == list(bench.DATASETS)
    assert all(r["pair_ms"] > 0 and r["emd_ms"] > 0 for r in rows)
    assert all(np.isfinite(r["step_ms_worker"]) for r in rows[:3])


def run_example(name, tmp_path, monkeypatch):
    """Run ``examples/<name>.py`` in quick mode; check and return its numbers."""
    example = load(pathlib.Path(f"examples/{name}.py"))
    monkeypatch.setattr(example, "OUTPUT", tmp_path)
    results = example.main(quick=True)
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return example, results


def test_heavy_tails_quick_mode(tmp_path, monkeypatch):
    example, results = run_example("heavy_tails", tmp_path, monkeypatch)
    assert set(results) == {"gaussian", "student_t", "quantile"}
    for result in results.values():
        errors = result["x2_tail_errors"]
        assert len(errors) == len(example.QUANTILES)
        assert all(0 <= e < np.inf for e in errors)
        assert np.isfinite(result["energy"])


def test_compact_support_quick_mode(tmp_path, monkeypatch):
    _, results = run_example("compact_support", tmp_path, monkeypatch)
    assert set(results) == {"Gaussian noise", "learned noise"}
    for result in results.values():
        assert 0 <= result["on_squares"] <= 1
        assert np.isfinite(result["energy"])


def test_compact_support_paths_end_at_the_samples():
    example = load(pathlib.Path("examples/compact_support.py"))
    from adaptnoise import FlowMatchingGenerator
    from adaptnoise.datasets import make_checkerboard

    # Unclipped samples: the paths are the flow's own, before bounds apply.
    model = FlowMatchingGenerator(
        max_iter=20, hidden_layer_sizes=(8,), bounds=None, n_steps=5, random_state=0
    ).fit(make_checkerboard(300, random_state=0))
    states = example.paths(model, 50, 5, random_state=1)
    assert states.shape == (6, 50, 2)
    # One solver step per frame is the sampler's own integration.
    np.testing.assert_allclose(
        states[-1], model.sample(50, random_state=1), rtol=1e-5, atol=1e-5
    )


def test_few_step_sampling_quick_mode(tmp_path, monkeypatch):
    example, results = run_example("few_step_sampling", tmp_path, monkeypatch)
    assert set(results) == {"ot", "independent"}
    for energies in results.values():
        assert tuple(energies) == example.STEPS
        assert all(np.isfinite(e) for e in energies.values())


def test_memorization_example_quick_mode(tmp_path, monkeypatch):
    example, results = run_example("memorization", tmp_path, monkeypatch)
    assert tuple(r["sigma"] for r in results) == example.SIGMAS
    assert all(r["dcr_ratio"] > 0 and np.isfinite(r["energy"]) for r in results)


def test_kac_grid_search_quick_mode(tmp_path, monkeypatch):
    example, scores = run_example("kac_grid_search", tmp_path, monkeypatch)
    assert set(scores) == {(a, c) for a in example.A_VALUES for c in example.C_VALUES}
    # Scores are minus energy distances of finite samples.
    assert all(np.isfinite(s) and s < 0.1 for s in scores.values())
