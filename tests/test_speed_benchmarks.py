"""The timing benchmark ``bench_device.py`` in quick mode."""

import importlib.util
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
