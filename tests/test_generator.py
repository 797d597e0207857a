"""FlowMatchingGenerator: likelihood, sampling, reproducibility, errors."""

import pickle
import threading
import time
import warnings

import joblib
import numpy as np
import pytest
import torch
from scipy import integrate, stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from adaptnoise import FixedNoise, FlowMatchingGenerator, QuantileNoise
from adaptnoise._training import FlowTrainer
from adaptnoise.exceptions import DeviceWarning, TrainingDivergedError
from adaptnoise.metrics import energy_scorer
from adaptnoise.processes import KacProcess, LinearProcess, UniformProcess

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=(32, 32), max_iter=300, batch_size=128, n_steps=8)


def gaussian_data(n, mean=(1.0, -2.0), cov=((1.0, 0.6), (0.6, 0.5)), seed=0):
    return np.random.RandomState(seed).multivariate_normal(mean, cov, size=n)


@pytest.fixture(scope="module")
def fitted_2d():
    X = gaussian_data(3000)
    model = FlowMatchingGenerator(
        noise="gaussian",
        coupling="independent",
        random_state=0,
        **{**FAST, "hidden_layer_sizes": (64, 64), "max_iter": 2000},
    )
    return model.fit(X), X


def test_likelihood_of_a_known_gaussian_is_right(fitted_2d):
    model, X = fitted_2d
    X_test = gaussian_data(2000, seed=1)
    truth = stats.multivariate_normal([1.0, -2.0], [[1.0, 0.6], [0.6, 0.5]])
    assert abs(model.score(X_test) - truth.logpdf(X_test).mean()) < 0.05


def test_density_integrates_to_one_in_2d(fitted_2d):
    model, _ = fitted_2d
    g1, g2 = np.linspace(-4, 6, 81), np.linspace(-5.5, 1.5, 81)
    grid = np.stack(np.meshgrid(g1, g2, indexing="ij"), -1).reshape(-1, 2)
    density = np.exp(model.score_samples(grid)).reshape(81, 81)
    mass = integrate.trapezoid(integrate.trapezoid(density, g2, axis=1), g1)
    assert abs(mass - 1) < 0.02


def test_density_integrates_to_one_in_1d_with_learned_noise():
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(-2, 0.4, 1500), rng.normal(1, 0.8, 1500)])[:, None]
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(X)
    grid = np.linspace(-6, 6, 4001)
    density = np.exp(model.score_samples(grid[:, None]))
    assert abs(integrate.trapezoid(density, grid) - 1) < 0.02


def test_score_of_a_row_just_beyond_a_bounded_column_is_finite():
    rng = np.random.default_rng(0)
    u = rng.uniform(0, 1, 300)
    X = np.column_stack([u, u + rng.normal(0, 0.3, 300)])
    # Decorrelated, the uniform column would be mixed with its noisy copy and
    # lose the hard edges this test is about.
    model = FlowMatchingGenerator(
        whiten=False, random_state=0, **{**FAST, "max_iter": 50}
    ).fit(X)
    assert model.noise_.tails_[0] == "bounded"
    rows = np.array([[1 + 1e-3, 1.0], [-1e-3, 0.0], [1.1, 1.0], [-0.1, 0.0], [10, 1]])
    assert np.isfinite(model.score_samples(rows)).all()
    # Samples still keep to the column's training range (bounds="range").
    samples = model.sample(2000, random_state=0)[:, 0]
    assert u.min() <= samples.min() and samples.max() <= u.max()


def test_score_samples_does_not_depend_on_the_batch(fitted_2d):
    model, X = fitted_2d
    together = model.score_samples(X[:20])
    alone = np.concatenate([model.score_samples(row[None]) for row in X[:20]])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-7)


def test_samples_match_a_known_gaussian(fitted_2d):
    model, X = fitted_2d
    S = model.sample(4000, random_state=0)
    np.testing.assert_allclose(S.mean(0), [1.0, -2.0], atol=0.1)
    np.testing.assert_allclose(np.cov(S.T), [[1.0, 0.6], [0.6, 0.5]], atol=0.12)


def test_fixed_seed_reproduces_fit_and_sample_without_global_rng():
    X = gaussian_data(500)
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()
    a = FlowMatchingGenerator(random_state=3, **{**FAST, "max_iter": 50}).fit(X)
    b = FlowMatchingGenerator(random_state=3, **{**FAST, "max_iter": 50}).fit(X)
    np.testing.assert_array_equal(
        a.sample(10, random_state=1), b.sample(10, random_state=1)
    )
    np.testing.assert_array_equal(a.score_samples(X[:10]), b.score_samples(X[:10]))
    assert not np.array_equal(a.sample(10), a.sample(10))
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_joblib_and_pickle_round_trip(fitted_2d, tmp_path):
    model, X = fitted_2d
    joblib.dump(model, tmp_path / "model.joblib")
    for loaded in (
        joblib.load(tmp_path / "model.joblib"),
        pickle.loads(pickle.dumps(model)),
    ):
        np.testing.assert_array_equal(
            loaded.score_samples(X[:5]), model.score_samples(X[:5])
        )
        np.testing.assert_array_equal(
            loaded.sample(5, random_state=0), model.sample(5, random_state=0)
        )


def test_pipeline_and_grid_search():
    X = gaussian_data(400)
    pipe = make_pipeline(
        StandardScaler(),
        FlowMatchingGenerator(random_state=0, **{**FAST, "max_iter": 30}),
    )
    search = GridSearchCV(pipe, {"flowmatchinggenerator__sigma": [0.0, 0.1]}, cv=2)
    search.fit(X)
    assert np.isfinite(search.best_score_)
    assert search.best_params_["flowmatchinggenerator__sigma"] in (0.0, 0.1)


def test_nested_noise_parameters_route():
    model = FlowMatchingGenerator(noise=QuantileNoise(n_bins=8))
    model.set_params(noise__n_bins=4)
    assert model.get_params()["noise__n_bins"] == 4


def test_warm_start_accumulates_iterations():
    X = gaussian_data(300)
    model = FlowMatchingGenerator(
        warm_start=True, random_state=0, **{**FAST, "max_iter": 100}
    )
    model.fit(X)
    first = model.velocity_.layers[0].weight.clone()
    model.fit(X)
    assert model.n_iter_ == 200 and len(model.loss_curve_) == 2
    assert not torch.equal(first, model.velocity_.layers[0].weight)


def test_verbose_reports_progress(capsys):
    FlowMatchingGenerator(verbose=1, random_state=0, **FAST).fit(gaussian_data(200))
    out = capsys.readouterr().out
    assert "FlowMatchingGenerator: iteration 300/300" in out and "it/s" in out


def test_running_out_of_iterations_warns_only_with_early_stopping():
    X, params = gaussian_data(200), {**FAST, "max_iter": 100}
    with pytest.warns(ConvergenceWarning, match="max_iter=100"):
        FlowMatchingGenerator(early_stopping=True, tol=0, random_state=0, **params).fit(
            X
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = FlowMatchingGenerator(random_state=0, **params).fit(X)
    assert model.n_iter_ == 100 and model.validation_loss_curve_ == []


def test_early_stopping_stops_on_a_stalled_validation_loss():
    X = gaussian_data(1000)
    model = FlowMatchingGenerator(
        early_stopping=True,
        tol=10.0,
        n_iter_no_change=2,
        random_state=0,
        **{**FAST, "max_iter": 2000},
    ).fit(X)
    # A tol no loss can beat stops after the first record and two stalls.
    assert model.n_iter_ == 300
    assert len(model.validation_loss_curve_) == 3
    assert all(np.isfinite(model.validation_loss_curve_))


def test_validation_loss_falls_as_training_goes_on():
    model = FlowMatchingGenerator(
        early_stopping=True,
        tol=0,
        # Decorrelated, these rows are a near-standard Gaussian, which the
        # noise already is: the flow has next to nothing left to learn.
        whiten=False,
        sigma=0.0,
        random_state=0,
        **{**FAST, "max_iter": 1000},
    ).fit(gaussian_data(1000))
    curve = model.validation_loss_curve_
    # The curve follows the bias-corrected average, already trained at the
    # first check; from there it still falls.
    assert len(curve) == 10 and curve[-1] < 0.95 * curve[0]


def test_validation_fraction_must_leave_rows_on_both_sides():
    with pytest.raises(ValueError, match="validation_fraction=0.01 leaves no"):
        FlowMatchingGenerator(
            early_stopping=True, validation_fraction=0.01, **FAST
        ).fit(gaussian_data(20))


def test_divergence_raises_with_advice():
    model = FlowMatchingGenerator(
        learning_rate_init=1e12, max_grad_norm=None, random_state=0, **FAST
    )
    with pytest.raises(TrainingDivergedError, match="learning_rate_init"):
        model.fit(gaussian_data(200) * 1e20)


def test_ctrl_c_keeps_a_usable_model_and_stops_the_worker(monkeypatch):
    loss = FlowTrainer.loss
    calls = 0

    def interrupted(*args):
        nonlocal calls
        calls += 1
        if calls == 31:
            raise KeyboardInterrupt
        return loss(*args)

    monkeypatch.setattr(FlowTrainer, "loss", interrupted)
    threads = threading.active_count()
    with pytest.warns(UserWarning, match="interrupted by user"):
        model = FlowMatchingGenerator(random_state=0, **FAST).fit(gaussian_data(300))
    assert model.n_iter_ == 30
    assert np.isfinite(model.sample(20, random_state=0)).all()
    # The coupling's worker thread is joined, not left running.
    assert threading.active_count() == threads


def test_ot_coupling_needs_a_deterministic_path():
    class Random(LinearProcess):
        deterministic = False

    with pytest.raises(ValueError, match="coupling='independent'"):
        FlowMatchingGenerator(process=Random(), **FAST).fit(gaussian_data(50))


def test_joint_noise_training_needs_learned_noise():
    with pytest.raises(ValueError, match="noise_training='joint'"):
        FlowMatchingGenerator(noise="gaussian", noise_training="joint").fit(
            gaussian_data(50)
        )


def test_joint_noise_training_moves_the_noise():
    X = gaussian_data(500)
    model = FlowMatchingGenerator(
        noise_training="joint", random_state=0, **{**FAST, "max_iter": 100}
    ).fit(X)
    frozen = FlowMatchingGenerator(random_state=0, **{**FAST, "max_iter": 100}).fit(X)
    assert not torch.equal(model.noise_.module_.heights, frozen.noise_.module_.heights)
    assert np.isfinite(model.score_samples(X[:5])).all()


@pytest.mark.parametrize(
    ("X", "message"),
    [
        ([[0.0, np.nan], [1.0, np.nan]], "column 1 .* missing"),
        ([[0.0, np.inf], [1.0, 2.0]], "column 1 .* infinite values"),
        ([0.0, 1.0, 2.0], "Expected a 2D array"),
        ([[1.0, 2.0]], "minimum of 2 is required"),
    ],
)
def test_bad_training_data_is_named(X, message):
    with pytest.raises(ValueError, match=message):
        FlowMatchingGenerator(**FAST).fit(X)


def test_bad_calls_after_fit_are_named(fitted_2d):
    model, _ = fitted_2d
    with pytest.raises(ValueError, match="3 features, but FlowMatchingGenerator"):
        model.score_samples(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="n_samples must be at least 1"):
        model.sample(0)
    with pytest.raises(TypeError, match="n_steps must be an int"):
        model.sample(3, n_steps=2.5)
    with pytest.raises(NotFittedError):
        FlowMatchingGenerator().sample(2)


def test_fixed_noises_are_unit_variance():
    for law in ("gaussian", "student_t", "uniform"):
        noise = FixedNoise(law=law).fit(np.zeros((2, 2)))
        draws = noise.sample(200000, random_state=0)
        np.testing.assert_allclose(draws.var(0), 1, atol=0.05)
        grid = np.linspace(-30, 30, 60001)
        density = np.exp(noise.score_samples(np.column_stack([grid, grid * 0])))
        density /= np.exp(noise.score_samples(np.zeros((1, 2))))
        marginal = density * np.exp(
            FixedNoise(law=law).fit(np.zeros((2, 1))).score_samples([[0.0]])
        )
        assert abs(integrate.trapezoid(marginal, grid) - 1) < 1e-3


def test_model_fitted_on_a_missing_gpu_loads_on_cpu(fitted_2d):
    model, X = fitted_2d
    moved = pickle.loads(pickle.dumps(model))
    # Pretend the model was fitted on CUDA: its modules are stored on the CPU
    # by __getstate__, so only the recorded device differs.
    moved.device_ = torch.device("cuda:0")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the fallback path is not taken")
    with pytest.warns(DeviceWarning, match="loaded on the CPU"):
        loaded = pickle.loads(pickle.dumps(moved))
    assert loaded.device_ == torch.device("cpu")
    np.testing.assert_array_equal(
        loaded.score_samples(X[:3]), model.score_samples(X[:3])
    )


@pytest.mark.parametrize("process", ["ou", "kac", "uniform", KacProcess(a=25.0, c=5.0)])
def test_every_process_trains_samples_and_scores(process):
    X = gaussian_data(600)
    coupling = "independent" if "kac" in str(process).lower() else "ot"
    model = FlowMatchingGenerator(
        process=process, coupling=coupling, random_state=0, **FAST
    ).fit(X)
    assert model.noise_ is None
    assert np.isfinite(model.sample(50, random_state=0)).all()
    scores = model.score_samples(X[:20])
    # Compact terminal laws (Kac, uniform) score -inf where the flow ends
    # outside them; the Gaussian one of OU never does. NaN is never allowed.
    assert not np.isnan(scores).any() and np.all(scores < np.inf)
    if process == "ou":
        assert np.isfinite(scores).all()


def test_kac_rejects_ot_coupling_with_advice():
    with pytest.raises(ValueError, match="KacProcess.*coupling='independent'"):
        FlowMatchingGenerator(process="kac", **FAST).fit(gaussian_data(50))


def test_grid_search_over_kac_parameters_in_parallel():
    X = gaussian_data(300)
    model = FlowMatchingGenerator(
        process=KacProcess(),
        coupling="independent",
        random_state=0,
        **{**FAST, "max_iter": 30},
    )
    grid = {"process__a": [9.0, 25.0], "process__c": [3.0, 5.0]}
    search = GridSearchCV(model, grid, cv=3, n_jobs=2).fit(X)
    assert np.isfinite(search.best_score_)
    assert search.best_params_["process__a"] in (9.0, 25.0)


def test_grid_search_over_uniform_b_with_the_sample_scorer():
    X = gaussian_data(300)
    model = FlowMatchingGenerator(
        process=UniformProcess(),
        coupling="independent",
        random_state=0,
        **{**FAST, "max_iter": 30},
    )
    search = GridSearchCV(
        model, {"process__b": [0.5, 2.0]}, cv=3, scoring=energy_scorer
    ).fit(X)
    assert np.isfinite(search.best_score_) and search.best_score_ <= 0


def test_parallel_grid_search_over_noise_and_coupling():
    model = FlowMatchingGenerator(
        noise=QuantileNoise(max_iter=5), random_state=0, **{**FAST, "max_iter": 30}
    )
    grid = {"noise__n_bins": [4, 8], "coupling": ["ot", "independent"]}
    search = GridSearchCV(model, grid, cv=2, n_jobs=2, scoring=energy_scorer)
    search.fit(gaussian_data(300))
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.noise_.n_bins == search.best_params_["noise__n_bins"]


def test_weight_average_forgets_the_random_start():
    # The moving average starts at the random initial weights, and bias
    # correction must take them out: after one step it is that step's weights
    # whatever the decay (uncorrected, 0.9 would keep 90% of the start).
    X = gaussian_data(200)
    params = dict(FAST, noise="gaussian", max_iter=1, random_state=0)
    last = FlowMatchingGenerator(ema_decay=0, **params).fit(X)
    averaged = FlowMatchingGenerator(ema_decay=0.9, **params).fit(X)
    for a, b in zip(
        last.velocity_.parameters(), averaged.velocity_.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_bad_parameter_fails_before_any_work():
    X = gaussian_data(3000)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="fourier_features"):
        FlowMatchingGenerator(fourier_features=3).fit(X)
    assert time.perf_counter() - start < 0.1


def test_a_failed_fit_leaves_the_estimator_unfitted():
    model = FlowMatchingGenerator(random_state=0, **FAST).fit(gaussian_data(100))
    with pytest.raises(ValueError, match="fourier_features"):
        model.set_params(fourier_features=3).fit(gaussian_data(100))
    with pytest.raises(NotFittedError):
        model.sample(2)


@pytest.mark.parametrize(
    "params, nested",
    [
        (dict(), dict(noise__n_bins=8)),
        (dict(process="kac", coupling="independent"), dict(process__a=4.0)),
    ],
)
def test_nested_parameters_of_named_noises_and_processes_route(params, nested):
    model = FlowMatchingGenerator(**params).set_params(**nested)
    ((key, value),) = nested.items()
    assert model.get_params()[key] == value
    assert clone(model).get_params()[key] == value


def test_sample_rejects_a_seed_torch_cannot_hold(fitted_2d):
    model, _ = fitted_2d
    with pytest.raises(ValueError, match=r"random_state must be .* \[0, 2\*\*64\)"):
        model.sample(2, random_state=2**64)


def test_n_steps_must_be_a_plain_int():
    with pytest.raises(TypeError, match="n_steps must be an int"):
        FlowMatchingGenerator(**{**FAST, "n_steps": True}).fit(gaussian_data(50))


def test_an_average_over_very_many_steps_is_still_the_steps_mean():
    X = gaussian_data(200)
    params = dict(FAST, noise="gaussian", max_iter=20, random_state=0)
    slow = FlowMatchingGenerator(ema_decay=1 - 1e-9, **params).fit(X)
    plain = FlowMatchingGenerator(ema_decay=0, **params).fit(X)
    for a, b in zip(
        slow.velocity_.parameters(), plain.velocity_.parameters(), strict=True
    ):
        # The mean of 20 steps lies near the last one, never at zero.
        assert torch.isfinite(a).all()
        assert (a - b).abs().max() < 0.5 * b.abs().max() + 1e-3


@pytest.mark.parametrize("learning_rate", [10.0, 1e6])
def test_divergence_on_the_last_steps_is_reported(learning_rate):
    params = dict(FAST, max_iter=5, max_grad_norm=None, noise="gaussian")
    model = FlowMatchingGenerator(learning_rate_init=learning_rate, **params)
    with pytest.raises(TrainingDivergedError, match="learning_rate_init"):
        model.fit(gaussian_data(200))
    with pytest.raises(NotFittedError):
        model.sample(2)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(noise="cauchy"), "Unknown noise 'cauchy'"),
        (dict(process="brownian"), "Unknown process 'brownian'"),
        (dict(noise=object()), "is not a BaseNoise; it lacks fit"),
        (dict(process=object()), "is not a BaseProcess; it lacks deterministic"),
    ],
)
def test_noises_and_processes_that_are_not_ones_are_named(params, message):
    with pytest.raises((ValueError, TypeError), match=message) as error:
        FlowMatchingGenerator(**params, **FAST).fit(gaussian_data(50))
    assert error.type is (ValueError if "Unknown" in message else TypeError)


def test_a_user_process_and_a_user_noise_fit_and_sample_end_to_end():
    import math

    from sklearn.utils.validation import validate_data

    from adaptnoise.noise import BaseNoise, NoiseLaw
    from adaptnoise.processes import BaseProcess

    class LaplaceLaw(NoiseLaw):
        def __init__(self, n_features):
            super().__init__()
            self.register_buffer("carrier", torch.zeros(n_features))

        @property
        def n_features(self):
            return self.carrier.shape[0]

        def sample(self, n_samples, generator=None):
            like = dict(dtype=self.carrier.dtype, device=self.carrier.device)
            u = torch.rand(n_samples, self.n_features, generator=generator, **like)
            return -torch.sign(u - 0.5) * torch.log1p(-2 * (u - 0.5).abs())

        def log_prob(self, y):
            return -y.abs() - math.log(2)

    class LaplaceNoise(BaseNoise):
        def fit(self, X, y=None):
            X = validate_data(self, X)
            self.device_ = torch.device("cpu")
            self.module_ = LaplaceLaw(X.shape[1]).double()
            return self

    class CosineProcess(BaseProcess):
        def path(self, x0, z, t):
            angle = math.pi / 2 * t
            x_t = torch.cos(angle) * x0 + torch.sin(angle) * z
            velocity = math.pi / 2 * (torch.cos(angle) * z - torch.sin(angle) * x0)
            return x_t, velocity

    X = gaussian_data(1000)
    model = FlowMatchingGenerator(
        process=CosineProcess(), noise=LaplaceNoise(), random_state=0, **FAST
    ).fit(X)
    assert isinstance(model.noise_, LaplaceNoise)
    S = model.sample(2000, random_state=0)
    np.testing.assert_allclose(S.mean(0), X.mean(0), atol=0.2)
    np.testing.assert_allclose(S.std(0), X.std(0), rtol=0.25)
    assert np.isfinite(model.score_samples(X[:10])).all()
