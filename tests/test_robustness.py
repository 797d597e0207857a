"""Hostile and random input, reproducibility across processes, global RNG state."""

import contextlib
import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from adaptnoise import FlowMatchingGenerator, QuantileNoise
from adaptnoise.exceptions import TrainingDivergedError
from adaptnoise.processes import KacProcess, OUProcess, UniformProcess

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = dict(hidden_layer_sizes=(8,), max_iter=5, batch_size=16, n_steps=2)
DEFAULT_THREADS = torch.get_num_threads()


def tiny_generator(**params):
    return FlowMatchingGenerator(
        **{"noise": QuantileNoise(max_iter=3), **TINY, **params}
    )


def tiny_noise(**params):
    return QuantileNoise(**{"max_iter": 3, **params})


MAKERS = pytest.mark.parametrize(
    "make", [tiny_noise, tiny_generator], ids=["QuantileNoise", "Generator"]
)


@contextlib.contextmanager
def torch_threads(n):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # These models are tiny: on a busy 2-core machine torch's OpenMP workers
    # spin against each other and make each small op about 10x slower.
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def table():
    return np.random.RandomState(0).standard_t(3, size=(30, 2))


@pytest.fixture(scope="module")
def fitted(table):
    return {
        "QuantileNoise": tiny_noise().fit(table),
        "Generator": tiny_generator(random_state=0).fit(table),
    }


@st.composite
def tables(draw):
    """Small tables at any scale, with ties, constants, integers and non-finites."""
    n, d = draw(st.integers(2, 40)), draw(st.integers(1, 4))
    # Magnitudes within a column stay within four decades (or are 0), so that
    # the scale drawn below sets it: 1e-250 next to 0 is its own test.
    magnitudes = st.one_of(st.just(0.0), st.floats(1e-3, 10), st.floats(-10, -1e-3))
    values = draw(hnp.arrays(np.float64, (n, d), elements=magnitudes))
    if draw(st.booleans()):
        # Hypothesis favours repeated values; add continuous ones too.
        rng = np.random.RandomState(draw(st.integers(0, 2**16)))
        values = values + rng.standard_t(draw(st.sampled_from([1, 3, 50])), (n, d))
    offset = draw(st.sampled_from([0.0, 1.0, -1e3]))
    X = (values + offset) * 10.0 ** draw(st.floats(-12, 12))
    if draw(st.booleans()):
        X[:, draw(st.integers(0, d - 1))] = X[0, 0]
    X[1 : 1 + draw(st.integers(0, n - 1))] = X[0]
    if draw(st.booleans()):
        X = np.round(X)
        if np.abs(X).max() < 2**53:
            X = X.astype(np.int64)
    bad = draw(st.sampled_from([None] * 7 + [np.nan, np.inf, -np.inf]))
    if bad is not None:
        X = X.astype(np.float64)
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = bad
    if draw(st.booleans()) and np.isfinite(X).all():
        X = X.astype(np.float32)
    return X


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tables())
def test_random_tables_give_finite_samples_and_scores_or_a_named_error(X):
    as_float = X.astype(np.float64)
    missing = np.isnan(as_float).any(axis=0)
    with np.errstate(all="ignore"):
        span = np.nanmax(as_float, 0) - np.nanmin(as_float, 0)
    for make in (tiny_noise, tiny_generator):
        estimator = make(random_state=0)
        # The generator models missing values; the noise alone does not.
        if np.isinf(as_float).any() or (missing.any() and make is tiny_noise):
            with pytest.raises(
                ValueError, match="Input X contains (NaN|infinity)|infinite values"
            ):
                estimator.fit(X)
            continue
        try:
            estimator.fit(X)
        except TrainingDivergedError as error:
            assert "learning_rate_init" in str(error)
            continue
        except ValueError as error:
            # A generator has no distribution to learn from constants alone.
            assert (span == 0).all() and "Every column of X is constant" in str(error)
            continue
        samples = estimator.sample(5, random_state=0)
        assert samples.shape == (5, X.shape[1])
        assert np.isfinite(samples[:, ~missing]).all()
        # Rows far outside the data, too: the tails must score them finitely.
        far = np.vstack(
            [np.nanmin(as_float, 0) - 10 * (span + 1), np.nanmax(as_float, 0) + 1e6]
        )
        scores = estimator.score_samples(np.vstack([as_float, samples, far]))
        assert not np.isnan(scores).any() and (scores < np.inf).all()
        if (span > 0).all() and not missing.any():
            # Every noise these estimators use has a density positive everywhere.
            assert np.isfinite(scores).all()


@pytest.mark.parametrize("noise", ["quantile", "gaussian"])
def test_a_constant_column_is_reproduced_and_leaves_scores_usable(noise):
    X = np.column_stack([np.random.RandomState(0).normal(size=200), np.full(200, 7.0)])
    model = tiny_generator(noise=noise, random_state=0).fit(X)
    np.testing.assert_array_equal(model.sample(20, random_state=0)[:, 1], 7.0)
    assert model.score(X) > -100
    # A point mass has no density: rows off it are impossible, not unlikely.
    assert model.score_samples([[0.0, 7.0 + 1e-9]])[0] == -np.inf


@pytest.mark.parametrize(
    "column",
    [np.full(30, 0.1), np.r_[1e-262, np.zeros(29)]],
    ids=["constant 0.1", "range 1e-262"],
)
def test_nearly_constant_columns_leave_training_rows_likely(column):
    X = np.column_stack([np.random.RandomState(0).normal(size=30), column])
    model = tiny_generator(random_state=0).fit(X)
    assert np.isfinite(model.score_samples(X)).all() and model.score(X) > -100


@MAKERS
@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        (np.array([[1j, 0.0]] * 5), ValueError, "Complex data not supported"),
        (
            sparse.csr_matrix(np.eye(5, 2)),
            TypeError,
            "Sparse data was passed for X, but dense data is required|"
            "does not support sparse input",
        ),
        (np.zeros((0, 2)), ValueError, r"0 sample\(s\)"),
        (np.zeros((5, 0)), ValueError, r"0 feature\(s\)"),
        (np.zeros((5, 2, 2)), ValueError, "dim 3|got a 3D array"),
    ],
    ids=["complex", "sparse", "no rows", "no columns", "3d"],
)
def test_bad_training_data_is_named(make, X, error, message):
    with pytest.raises(error, match=message):
        make().fit(X)


@pytest.mark.parametrize("name", ["QuantileNoise", "Generator"])
@pytest.mark.parametrize(
    ("n_samples", "error", "message"),
    [
        (-1, ValueError, "n_samples must be at least 1; got -1"),
        (2.0, TypeError, "n_samples must be an int; got 2.0"),
        (True, TypeError, "n_samples must be an int; got True"),
        ("3", TypeError, "n_samples must be an int; got '3'"),
        (None, TypeError, "n_samples must be an int; got None"),
    ],
)
def test_bad_sample_sizes_are_named(fitted, name, n_samples, error, message):
    with pytest.raises(error, match=message):
        fitted[name].sample(n_samples)


def test_numpy_integers_are_sample_sizes(fitted):
    for model in fitted.values():
        assert model.sample(np.int64(3), random_state=0).shape == (3, 2)
    with pytest.raises(ValueError, match="n_steps must be at least 1"):
        fitted["Generator"].sample(3, n_steps=0)


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("QuantileNoise", "score_samples"),
        ("QuantileNoise", "inverse_transform"),
        ("Generator", "score_samples"),
    ],
)
def test_bad_rows_after_fit_are_named(fitted, name, method):
    model = fitted[name]
    expected = "QuantileNoise" if name == "QuantileNoise" else "FlowMatchingGenerator"
    call = getattr(model, method)
    with pytest.raises(ValueError, match=f"3 features, but {expected} is expecting 2"):
        call(np.full((4, 3), 0.5))
    with pytest.raises(TypeError, match="dense data is required|sparse input"):
        call(sparse.csr_matrix(np.full((4, 2), 0.5)))
    with pytest.raises(ValueError, match="Complex data not supported"):
        call(np.array([[0.5j, 0.5]]))


ABSURD = [
    (FlowMatchingGenerator(max_iter=-1), "max_iter"),
    (FlowMatchingGenerator(sigma=-1), "sigma"),
    (FlowMatchingGenerator(solver="leapfrog"), "solver"),
    (FlowMatchingGenerator(coupling="greedy"), "coupling"),
    (FlowMatchingGenerator(ema_decay=1.5), "ema_decay"),
    (FlowMatchingGenerator(hidden_layer_sizes="wide"), "hidden_layer_sizes"),
    (FlowMatchingGenerator(noise=QuantileNoise(n_bins=0), **TINY), "n_bins"),
    (QuantileNoise(max_iter=-1), "max_iter"),
    (QuantileNoise(tails="heavy"), "tails"),
    (QuantileNoise(alpha=-1.0), "alpha"),
]


@pytest.mark.parametrize(
    ("estimator", "parameter"),
    ABSURD,
    ids=[f"{type(estimator).__name__}-{parameter}" for estimator, parameter in ABSURD],
)
def test_absurd_parameters_name_themselves(table, estimator, parameter):
    with pytest.raises(InvalidParameterError, match=f"'{parameter}' parameter"):
        estimator.fit(table)


@pytest.mark.parametrize(
    ("process", "parameter"),
    [
        (KacProcess(a=-1.0), "a"),
        (KacProcess(c=0.0), "c"),
        (KacProcess(time_change="t3"), "time_change"),
        (OUProcess(beta_min=-1.0), "beta_min"),
        (UniformProcess(b=-1.0), "b"),
    ],
    ids=repr,
)
def test_absurd_process_parameters_name_themselves(table, process, parameter):
    model = FlowMatchingGenerator(process=process, coupling="independent", **TINY)
    with pytest.raises(InvalidParameterError, match=f"'{parameter}' parameter"):
        model.fit(table)


@MAKERS
@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu0", "'gpu0' is not a torch device"), ("meta", "'meta' is not supported")],
)
def test_unusable_devices_are_named(table, make, device, message):
    with pytest.raises(ValueError, match=message):
        make(device=device).fit(table)


@MAKERS
def test_dataframe_columns_are_recorded_and_checked(table, make):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(table, columns=["height", "weight"])
    model = make().fit(frame)
    assert list(model.feature_names_in_) == ["height", "weight"]
    assert np.isfinite(model.score_samples(frame)).all()
    with pytest.raises(ValueError, match="feature names should match"):
        model.score_samples(frame.rename(columns={"weight": "mass"}))


def test_fits_and_samples_in_worker_processes_match_this_process():
    X = np.random.RandomState(1).standard_t(3, size=(300, 2))
    estimators = [
        tiny_generator(random_state=0),
        FlowMatchingGenerator(
            noise="gaussian", coupling="sinkhorn", random_state=0, **TINY
        ),
        QuantileNoise(objective="joint", max_iter=10, random_state=0),
    ]
    # Here at torch's default thread count, as a user runs it; loky workers
    # get one thread each.
    with torch_threads(DEFAULT_THREADS):
        here = [clone(estimator).fit(X) for estimator in estimators]
    with Parallel(n_jobs=2, backend="loky") as parallel:
        there = parallel(delayed(clone(estimator).fit)(X) for estimator in estimators)
        drawn_there = parallel(
            delayed(model.sample)(20, random_state=1) for model in here
        )
    for ours, theirs, drawn in zip(here, there, drawn_there, strict=True):
        np.testing.assert_array_equal(
            ours.sample(20, random_state=1), theirs.sample(20, random_state=1)
        )
        np.testing.assert_array_equal(ours.sample(20, random_state=1), drawn)
        np.testing.assert_array_equal(ours.score_samples(X), theirs.score_samples(X))


def test_the_generator_seed_covers_an_unseeded_noise_estimator(table):
    def fit():
        noise = QuantileNoise(objective="joint", max_iter=5)
        return FlowMatchingGenerator(noise=noise, random_state=0, **TINY).fit(table)

    np.testing.assert_array_equal(
        fit().sample(5, random_state=0), fit().sample(5, random_state=0)
    )


@pytest.fixture
def global_states_restored():
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])


def global_states():
    numpy_state = np.random.get_state()
    return (
        random.getstate(),
        numpy_state[1].tobytes(),
        numpy_state[2:],
        torch.get_rng_state().numpy().tobytes(),
    )


@pytest.mark.usefixtures("global_states_restored")
@pytest.mark.parametrize(
    "estimator",
    [
        QuantileNoise(objective="joint", max_iter=5, random_state=0),
        FlowMatchingGenerator(
            coupling="sinkhorn",
            noise_training="joint",
            divergence="hutchinson",
            random_state=0,
            **TINY,
        ),
        FlowMatchingGenerator(
            process="kac", coupling="independent", random_state=0, **TINY
        ),
        FlowMatchingGenerator(process="ou", random_state=0, **TINY),
    ],
    ids=["joint QuantileNoise", "sinkhorn+joint", "kac", "ou"],
)
def test_global_random_state_is_neither_read_nor_changed(table, estimator):
    outputs = []
    for seed in (1, 2):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        before = global_states()
        model = clone(estimator).fit(table)
        outputs.append(
            (model.sample(5, random_state=0), model.score_samples(table[:5]))
        )
        model.sample(5)
        clone(estimator).set_params(random_state=None).fit(table).sample(5)
        assert global_states() == before
    for ours, theirs in zip(*outputs, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_text_is_an_error_for_the_noise_and_a_category_for_the_generator():
    X = np.array([["a", "b"], ["c", "b"], ["a", "d"]] * 5, dtype=object)
    with pytest.raises(ValueError, match="could not convert string to float"):
        tiny_noise().fit(X)
    samples = tiny_generator(random_state=0).fit(X).sample(20, random_state=0)
    assert set(samples[:, 0]) <= {"a", "c"} and set(samples[:, 1]) <= {"b", "d"}
