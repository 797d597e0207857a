"""Reproducers of the fuzz campaign's defects: threads, interrupts, extremes."""

import _thread
import random
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from adaptnoise import FixedNoise, FlowMatchingGenerator, QuantileNoise
from adaptnoise.exceptions import TrainingDivergedError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = dict(
    hidden_layer_sizes=(16,), fourier_features=8, max_iter=20, batch_size=32, n_steps=4
)


def table(n=200, scale=1.0, seed=0):
    rng = np.random.RandomState(seed)
    return scale * (rng.standard_normal((n, 2)) @ [[1.0, 0.5], [0.0, 1.0]])


def global_states():
    return (
        torch.random.get_rng_state(),
        np.random.get_state()[1].copy(),
        random.getstate(),
    )


def test_fits_in_sixteen_threads_are_identical_and_leave_global_state_alone():
    X = table(60)
    params = dict(noise="gaussian", hidden_layer_sizes=(256,) * 3, max_iter=2)
    before = global_states()
    models = [None] * 16

    def fit(i):
        models[i] = FlowMatchingGenerator(random_state=0, **params).fit(X)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lone = FlowMatchingGenerator(random_state=0, **params).fit(X)
    for model in models:
        for a, b in zip(
            model.velocity_.state_dict().values(),
            lone.velocity_.state_dict().values(),
            strict=True,
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    after = global_states()
    assert torch.equal(before[0], after[0])
    assert np.array_equal(before[1], after[1]) and before[2] == after[2]


def interrupt_after(seconds):
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises ``KeyboardInterrupt`` for the test, as in a user's session.

    Something earlier in the full suite at times leaves the test process's
    SIGINT at the operating system's default or ignored (``signal.getsignal``
    returns a ``Handlers`` member), and ``_thread.interrupt_main`` then
    presses nothing.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_in_the_noise_fit_ends_the_whole_fit_unfitted(ctrl_c_raises):
    model = FlowMatchingGenerator(
        noise=QuantileNoise(max_iter=10**5, tol=0), random_state=0, **TINY
    )
    interrupt_after(0.5)
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(table(3000))
    assert time.perf_counter() - start < 2.5
    with pytest.raises(NotFittedError):
        model.sample(2)
    assert np.isfinite(model.set_params(noise="gaussian").fit(table()).sample(5)).all()


def test_ctrl_c_in_the_marginal_phase_skips_the_joint_phase(ctrl_c_raises):
    noise = QuantileNoise(objective="joint", max_iter=10**5, tol=0)
    interrupt_after(0.5)
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="interrupted by user"):
        noise.fit(table(3000))
    assert time.perf_counter() - start < 2.5
    assert np.isfinite(noise.sample(10, random_state=0)).all()


FRESH_PROCESS = """
import _thread, threading, warnings
warnings.simplefilter("ignore")
import numpy as np
from adaptnoise import FlowMatchingGenerator
X = np.random.RandomState(0).standard_normal((200, 2))
params = dict(hidden_layer_sizes=(16,), fourier_features=8, max_iter=2000, n_steps=4)
threading.Timer({delay}, _thread.interrupt_main).start()
try:
    FlowMatchingGenerator(**params).fit(X)
except KeyboardInterrupt:
    pass
model = FlowMatchingGenerator(**dict(params, max_iter=20)).fit(X)
print(bool(np.isfinite(model.sample(5, random_state=0)).all()))
"""


@pytest.mark.parametrize("delay", [0.01, 0.3])
def test_ctrl_c_early_in_a_fresh_process_leaves_the_next_fit_working(delay):
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS.format(delay=delay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "True", result.stderr[-2000:]


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_extreme_finite_scales_standardise_like_ordinary_ones(scale):
    X = table(scale=scale)
    model = FlowMatchingGenerator(noise="gaussian", random_state=0, **TINY).fit(X)
    S = model.sample(500, random_state=0)
    assert np.isfinite(S).all()
    np.testing.assert_allclose((S / scale).std(0) / (X / scale).std(0), 1, atol=0.5)
    scores = model.score_samples(X[:5])
    reference = FlowMatchingGenerator(noise="gaussian", random_state=0, **TINY).fit(
        X / scale
    )
    np.testing.assert_allclose(
        scores, reference.score_samples(X[:5] / scale) - 2 * np.log(scale), rtol=1e-6
    )


def test_float32_data_beyond_the_float32_square_root_standardise():
    X = table(scale=1e30).astype(np.float32)
    model = FlowMatchingGenerator(noise="gaussian", random_state=0, **TINY).fit(X)
    assert np.isfinite(model.sample(50, random_state=0)).all()
    assert np.isfinite(model.score_samples(X[:5])).all()


def test_a_row_near_the_largest_float_scores_minus_inf_or_finite():
    model = FlowMatchingGenerator(noise="gaussian", random_state=0, **TINY).fit(table())
    scores = model.score_samples([[1e308, 0.0], [-1.7e308, 1.7e308]])
    assert not np.isnan(scores).any()


@pytest.mark.parametrize(
    "params, parameter",
    [
        (dict(sigma=1e300), "sigma"),
        (dict(fourier_scale=1e300), "fourier_scale"),
        (dict(hidden_layer_sizes=(10**18,)), "hidden_layer_sizes"),
        (dict(fourier_features=10**18), "fourier_features"),
        (dict(time_embedding_dim=10**18), "time_embedding_dim"),
    ],
)
def test_absurd_sizes_and_scales_name_their_parameter(params, parameter):
    with pytest.raises(ValueError, match=parameter):
        FlowMatchingGenerator(**{**TINY, **params}).fit(table(50))


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    noise=st.sampled_from(["quantile", "gaussian", "student_t", "uniform"]),
    process=st.sampled_from(["linear", "ou", "uniform"]),
    coupling=st.sampled_from(["ot", "independent", "sinkhorn"]),
    sigma=st.floats(0, 1),
    learning_rate_init=st.floats(1e-4, 1e-1),
    ema_decay=st.floats(0, 0.999),
    solver=st.sampled_from(["euler", "heun", "rk4"]),
    n_rows=st.integers(2, 60),
)
@example(
    noise="quantile",
    process="ou",
    coupling="ot",
    sigma=1.0,
    learning_rate_init=0.0625,
    ema_decay=0.0,
    solver="euler",
    n_rows=7,
)
def test_random_valid_generator_parameters_give_finite_results_or_a_named_error(
    noise, process, coupling, sigma, learning_rate_init, ema_decay, solver, n_rows
):
    params = dict(
        TINY,
        noise=noise,
        process=process,
        coupling=coupling,
        sigma=sigma,
        learning_rate_init=learning_rate_init,
        ema_decay=ema_decay,
        solver=solver,
        max_iter=5,
        random_state=0,
    )
    X = table(n_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = FlowMatchingGenerator(**params)
        try:
            model.fit(X)
        except TrainingDivergedError as error:
            # A clear error is a valid outcome: it says what to change, and
            # leaves the model unfitted.
            assert "learning_rate_init" in str(error)
            assert not hasattr(model, "velocity_")
            return
    assert np.isfinite(model.sample(20, random_state=0)).all()
    assert not np.isnan(model.score_samples(X[:5])).any()


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(
    n_bins=st.integers(1, 64),
    tails=st.sampled_from(["auto", "logit", "bounded"]),
    alpha=st.floats(0, 1e-2),
    n_rows=st.integers(2, 300),
    scale=st.sampled_from([1e-6, 1.0, 1e6]),
)
def test_random_valid_quantile_noise_parameters_give_finite_results(
    n_bins, tails, alpha, n_rows, scale
):
    X = table(n_rows, scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        noise = QuantileNoise(
            n_bins=n_bins, tails=tails, alpha=alpha, max_iter=20, random_state=0
        ).fit(X)
    S = noise.sample(50, random_state=0)
    assert np.isfinite(S).all()
    # Samples stay on the data's scale, whatever the parameters.
    assert np.abs(S).max() < 100 * np.abs(X).max()
    assert not np.isnan(noise.score_samples(X[:5])).any()


@given(
    law=st.sampled_from(["gaussian", "student_t", "uniform"]),
    df=st.floats(2.5, 1e3),
)
@settings(max_examples=15, deadline=None, derandomize=True, database=None)
def test_random_valid_fixed_noise_parameters_give_finite_results(law, df):
    noise = FixedNoise(law=law, df=df).fit(np.zeros((2, 3)))
    S = noise.sample(200, random_state=0)
    assert np.isfinite(S).all() and 0.5 < S.std() < 2
    assert np.isfinite(noise.score_samples(S)).all()


def test_a_masked_array_is_refused_rather_than_read_through_its_mask():
    X = np.ma.masked_array(table(50), mask=np.zeros((50, 2), dtype=bool))
    with pytest.raises(TypeError, match="masked arrays"):
        FlowMatchingGenerator(**TINY).fit(X)


@pytest.mark.parametrize("n_bins", [1000, 10**18])
def test_too_many_spline_bins_name_the_parameter_and_its_maximum(n_bins):
    with pytest.raises(ValueError, match=r"'n_bins' parameter .* range \[1, 999\]"):
        QuantileNoise(n_bins=n_bins).fit(table(50))
