"""Progress lines: the helper's pacing, and sampling and scoring with ``verbose``."""

import re

import numpy as np
import pytest

import adaptnoise._base
from adaptnoise import FlowMatchingGenerator
from adaptnoise._progress import Progress

TINY = dict(
    noise="gaussian",
    hidden_layer_sizes=(16,),
    fourier_features=0,
    max_iter=20,
    batch_size=64,
    n_steps=5,
    random_state=0,
)
LINE = re.compile(
    r"^FlowMatchingGenerator\.(sample|score_samples): (\d+)/(\d+) rows "
    r"(sampled|scored), [\d.]+ rows/s, about \d+ s left$"
)


@pytest.fixture(scope="module")
def model():
    X = np.random.default_rng(0).normal(size=(200, 2))
    return FlowMatchingGenerator(**TINY).fit(X)


def _progress_lines(out, task):
    matches = [LINE.match(line) for line in out.splitlines()]
    return [(int(m[2]), int(m[3])) for m in matches if m and m[1] == task]


def test_progress_reports_first_marks_and_end_once(capsys):
    progress = Progress("Task", 100, n_reports=4)
    for done in [*range(1, 101), 100, 100]:
        progress.update(done, "loss = 1")
    lines = capsys.readouterr().out.splitlines()
    done = [int(re.search(r"iteration (\d+)/100", line)[1]) for line in lines]
    assert done == [1, 25, 50, 75, 100]
    assert all(", loss = 1, " in line and " it/s, about " in line for line in lines)


def test_progress_is_silent_without_verbose(capsys):
    progress = Progress("Task", 10, verbose=0)
    for done in range(1, 11):
        progress.update(done)
    progress.within(0, 10)(1.0)
    assert capsys.readouterr().out == ""


def _run(model, task, X):
    if task == "sample":
        return model.sample(len(X), random_state=0)
    return model.score_samples(X)


@pytest.mark.parametrize("task", ["sample", "score_samples"])
def test_one_chunk_reports_each_ode_step(model, capsys, task):
    X = model.sample(300, random_state=0)
    quiet = _run(model, task, X)
    model.set_params(verbose=1)
    try:
        loud = _run(model, task, X)
    finally:
        model.set_params(verbose=0)
    lines = _progress_lines(capsys.readouterr().out, task)
    # One line per RK4 step of the single chunk, the last at every row.
    assert [done for done, _ in lines] == [60, 120, 180, 240, 300]
    assert {total for _, total in lines} == {300}
    np.testing.assert_array_equal(loud, quiet)


@pytest.mark.parametrize("task", ["sample", "score_samples"])
def test_several_chunks_report_to_the_end(model, capsys, monkeypatch, task):
    monkeypatch.setattr(adaptnoise._base, "CHUNK_SIZE", 100)
    X = model.sample(250, random_state=0)
    capsys.readouterr()
    model.set_params(verbose=1)
    try:
        _run(model, task, X)
    finally:
        model.set_params(verbose=0)
    done = [done for done, _ in _progress_lines(capsys.readouterr().out, task)]
    assert done == sorted(set(done)) and done[-1] == 250
    # Chunk ends (100, 200) fall on the marks and are reported.
    assert {100, 200} <= set(done) and len(done) <= 21


def test_quiet_estimator_prints_nothing(model, capsys):
    model.sample(300, random_state=0)
    model.score_samples(np.zeros((10, 2)))
    assert capsys.readouterr().out == ""
