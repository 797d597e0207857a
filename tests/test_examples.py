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


def test_quickstart_writes_its_figure(tmp_path, monkeypatch, capsys):
    quickstart = load(pathlib.Path("examples/quickstart.py"))
    monkeypatch.setattr(quickstart, "OUTPUT", tmp_path)
    quickstart.main(quick=True)
    figure = tmp_path / "quickstart.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "W1 to held-out data" in out and "tails chosen ['bounded', 'bounded']" in out


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
