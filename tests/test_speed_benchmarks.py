"""The timing benchmarks (speed, wide tables, devices) in quick mode."""

import importlib.util
import json
import math
import pathlib

import numpy as np
import pytest
import torch

ROOT = pathlib.Path(__file__).parents[1]


def _load(name):
    with pytest.MonkeyPatch.context() as patch:
        # The scripts import their helpers from their own folder.
        patch.syspath_prepend(str(ROOT / "benchmarks"))
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "benchmarks" / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def test_bench_wide_quick_reports_seconds_and_likelihoods(tmp_path):
    bench = _load("bench_wide")
    figures = bench.main(quick=True, output=tmp_path, threads=1)["figures"]
    for key in ("fit_s", "sample_s", "score_s", "hutchinson_score_s", "gmm_fit_s"):
        assert math.isfinite(figures[key]) and figures[key] > 0, key
    # One probe per row: an estimate, so it errs, by a finite amount.
    assert 0 < figures["hutchinson_error_std"] < math.inf
    # Likelihoods of a 12-column Gaussian: finite, and no model above the truth
    # by more than the noise of 50 rows.
    for key in ("loglik", "gmm_loglik"):
        assert figures[key] < figures["true_loglik"] + 2, key
    assert json.loads((tmp_path / "wide.json").read_text())["figures"] == figures
    assert "score_samples" in (tmp_path / "wide.md").read_text()


def test_bench_speed_quick_times_every_figure(tmp_path):
    bench = _load("bench_speed")
    report = bench.main(quick=True, output=tmp_path, threads=1)
    ours = report["rows"]["ours"]
    for key in bench.LABELS:
        assert math.isfinite(ours[key]) and ours[key] > 0, key
    # The scikit-learn peers always run, on the same fits, samples and scores.
    for peer in ("gmm", "kde"):
        row = report["rows"][peer]
        assert set(row) == {
            "fit_wine",
            "fit_breast_cancer",
            "fit_gaussian_10",
            "sample_10",
            "score_10",
            "score_64",
        }
        assert all(seconds > 0 for seconds in row.values())
    assert set(report["rows"]) | set(report["skipped"]) == {"ours", *bench.PEERS}
    saved = json.loads((tmp_path / "speed.json").read_text())
    assert saved["rows"]["ours"]["fit_wine"] == pytest.approx(ours["fit_wine"])
    table = [
        line
        for line in (tmp_path / "speed.md").read_text().splitlines()
        if line.startswith("| ")
    ]
    assert len(table) == 2 + len(bench.LABELS)
    assert all(line.count("|") == table[0].count("|") for line in table)
    # A quick run judges no goal.
    assert not any("(missed)" in line for line in table)


def test_bench_device_quick_runs_the_cpu_and_checks_agreement(tmp_path):
    bench = _load("bench_device")
    report = bench.main(quick=True, output=tmp_path, threads=1, max_iter=5)
    cpu = report["rows"]["cpu"]
    assert cpu["device"] == "cpu"
    assert all(cpu[k] > 0 for k in ("fit_seconds", "sample_seconds", "score_seconds"))
    assert np.isfinite(cpu["held_out_log_likelihood"])
    text = (tmp_path / "device.md").read_text()
    if torch.cuda.is_available():
        assert report["checks"]["auto_device"].startswith("cuda")
    else:
        assert report["checks"] is None and "CUDA was absent" in text
    # The checks, with the CPU standing in for the other device: a model
    # moved to where it already is scores the same, and agrees with itself.
    settings = bench.SETTINGS["quick"]
    X, law = bench.correlated_gaussian(500, settings["n_features"], 0)
    row, model = bench.run_device("cpu", (X[:400], X[400:], law), settings, 5)
    checks = bench.checks(row, row, model, "cpu", X[400:], 0.01)
    assert checks["same_model_score_gap"] == 0.0
    assert checks["log_likelihoods_agree"] and checks["energy_distances_agree"]
