"""The 1D noising processes: laws, velocities, sampling, estimator contract."""

import itertools
import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from adaptnoise.processes import (
    AffineProcess,
    BaseProcess,
    KacProcess,
    LinearProcess,
    OUProcess,
    UniformProcess,
    resolve_process,
)

PROCESSES = [
    KacProcess(a=9.0, c=3.0),
    KacProcess(a=25.0, c=5.0, time_change="t2"),
    KacProcess(a=1.0, c=1.0),
    UniformProcess(b=1.0),
    UniformProcess(b=0.3),
    OUProcess(),
]
TIMES = [0.01, 0.3, 1.0]


def column(value):
    return torch.tensor([[value]], dtype=torch.float64)


def half_width(process, s):
    """Half-width of the support of Y_s; for the Gaussian, far into its tails."""
    if isinstance(process, KacProcess):
        return process.c * s
    if isinstance(process, UniformProcess):
        return process.b * -math.expm1(-s / process.b)
    return 20 * math.sqrt(s)


def closed_form_variance(process, s):
    if isinstance(process, KacProcess):
        a, c = process.a, process.c
        return c**2 / a * (s + math.expm1(-2 * a * s) / (2 * a))
    if isinstance(process, UniformProcess):
        return half_width(process, s) ** 2 / 3
    return s


def total_mass(process, s):
    width = half_width(process, s)
    continuous, _ = integrate.quad(
        lambda y: process.density(column(s), column(y))[0].item(),
        -width,
        width,
        epsabs=1e-12,
        epsrel=1e-12,
        limit=200,
    )
    _, atom = process.density(column(s), column(0.0))
    return continuous + 2 * atom.item()


def continuity_residual(process, s):
    """Relative residual of d_s p + d_y (p v) = 0 by central differences."""
    # For the Gaussian, 0.15 of the 20-sigma half-width is 3 standard deviations.
    interior = 0.15 if isinstance(process, OUProcess) else 0.9
    y = torch.linspace(-interior, interior, 37, dtype=torch.float64)
    y = y * half_width(process, s)
    h_s, h_y = 1e-4 * s, 1e-4 * half_width(process, s)

    def density(time, y):
        return process.density(torch.tensor(time, dtype=torch.float64), y)[0]

    def flux(y):
        time = torch.tensor(s, dtype=torch.float64)
        return density(s, y) * process.velocity_y(time, y)

    d_s = (density(s + h_s, y) - density(s - h_s, y)) / (2 * h_s)
    d_y = (flux(y + h_y) - flux(y - h_y)) / (2 * h_y)
    return ((d_s + d_y).abs().max() / d_s.abs().max()).item()


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_process_contract(process):
    # The law of Y_s: unit mass, transported by v_s, with the right variance.
    generator = torch.Generator().manual_seed(0)
    for s in TIMES:
        assert total_mass(process, s) == pytest.approx(1, abs=1e-6)
        assert continuity_residual(process, s) < 1e-4
        times = torch.full((20000, 1), s, dtype=torch.float64)
        y = process.sample_y(times, (20000, 2), generator)
        assert torch.isfinite(y).all()
        second, fourth = (y**2).mean().item(), (y**4).mean().item()
        standard_error = math.sqrt((fourth - second**2) / y.numel())
        assert abs(second - closed_form_variance(process, s)) < 3 * standard_error

    # The path starts at the data and its target is its time derivative.
    x0 = torch.randn(64, 3, generator=generator, dtype=torch.float64)
    zero = torch.zeros(64, 1, dtype=torch.float64)
    x_t, target = process.sample_path(x0, zero, generator)
    torch.testing.assert_close(x_t, x0, rtol=0, atol=0)
    if not isinstance(process, OUProcess):
        # The OU velocity is infinite at t = 0 (documented).
        assert torch.isfinite(target).all()
    t = torch.rand(64, 1, generator=generator, dtype=torch.float64) * 0.9 + 0.05
    x_t, target = process.sample_path(x0, t, generator)
    assert x_t.shape == target.shape == x0.shape
    assert torch.isfinite(x_t).all() and torch.isfinite(target).all()
    if process.deterministic:
        h = 1e-6

        def path(time):
            return process.sample_path(x0, time, torch.Generator().manual_seed(1))

        derivative = (path(t + h)[0] - path(t - h)[0]) / (2 * h)
        torch.testing.assert_close(path(t)[1], derivative, rtol=1e-6, atol=1e-6)
    else:
        _, df, _, dg = process.schedule(t)
        assert ((target - df * x0).abs() <= dg * process.c * (1 + 1e-12)).all()
    assert not process.uses_noise

    # The terminal law: draws and log-density of Y_{g(1)}.
    _, _, g1, _ = process.schedule(column(1.0))
    z = process.terminal_sample(20000, 2, generator)
    assert z.shape == (20000, 2) and z.dtype == torch.float64
    second, fourth = (z**2).mean().item(), (z**4).mean().item()
    standard_error = math.sqrt((fourth - second**2) / z.numel())
    assert abs(second - closed_form_variance(process, g1.item())) < 3 * standard_error
    y = torch.linspace(-2, 2, 41, dtype=torch.float64).reshape(-1, 1)
    torch.testing.assert_close(
        process.terminal_log_prob(y), process.density(g1, y)[0].log()
    )

    # Estimator contract and reproducibility from the generator alone.
    params = process.get_params()
    assert clone(process).get_params() == params
    numeric = {name: 2.0 for name in params if name != "time_change"}
    changed = clone(process).set_params(**numeric)
    assert {name: changed.get_params()[name] for name in numeric} == numeric
    state = torch.get_rng_state()
    first = process.sample_path(x0, t, torch.Generator().manual_seed(7))
    again = process.sample_path(x0, t, torch.Generator().manual_seed(7))
    other = process.sample_path(x0, t, torch.Generator().manual_seed(8))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first[0], other[0])
    assert torch.equal(torch.get_rng_state(), state)


def test_kac_finite_and_bounded_in_extreme_regimes():
    s = torch.tensor([1e-8, 1e-6, 1e-3, 0.1, 1.0], dtype=torch.float64)
    fractions = torch.tensor(
        [0.0, 1e-300, 1e-15, 1e-8, 0.5, 1 - 1e-8, 1 - 1e-15, 1.0, 1.5],
        dtype=torch.float64,
    )
    fractions = torch.cat([fractions, -fractions])
    for a in np.logspace(-1, 4, 6):
        for c in np.logspace(-1, 2, 4):
            process = KacProcess(a=a, c=c)
            times = s.reshape(-1, 1)
            y = c * times * fractions
            edge = torch.nextafter(c * times, torch.zeros_like(times))
            y = torch.cat([y, edge, -edge], dim=1)
            v = process.velocity_y(times, y)
            assert torch.isfinite(v).all() and (v.abs() <= c).all()
            density, atom = process.density(times, y)
            assert torch.isfinite(density).all() and (density >= 0).all()
            assert torch.isfinite(atom).all()
            assert not process.log_density(times, y).isnan().any()
            draws = process.sample_y(times, (len(s), 2000), torch.Generator())
            assert torch.isfinite(draws).all()
            assert (draws.abs() <= c * times).all()


def test_kac_matches_high_precision_reference():
    rng = np.random.default_rng(0)
    mpmath.mp.dps = 30
    for _ in range(100):
        a = 10 ** rng.uniform(-1, math.log10(300))
        c = 10 ** rng.uniform(-1, 2)
        s = 10 ** rng.uniform(-6, 0)
        y = rng.uniform(-0.99, 0.99) * c * s
        process = KacProcess(a=a, c=c)
        velocity = process.velocity_y(column(s), column(y)).item()
        density = process.density(column(s), column(y))[0].item()

        a_, c_, s_, y_ = (mpmath.mpf(value) for value in (a, c, s, y))
        r = mpmath.sqrt((c_ * s_) ** 2 - y_**2)
        z = a_ / c_ * r
        i0, i1 = mpmath.besseli(0, z), mpmath.besseli(1, z)
        exact_density = mpmath.exp(-a_ * s_) / 2 * (a_ / c_) * (i0 + c_ * s_ * i1 / r)
        exact_velocity = y_ / (s_ + r / c_ * i0 / i1)
        assert density == pytest.approx(float(exact_density), rel=1e-10)
        assert velocity == pytest.approx(float(exact_velocity), rel=1e-10, abs=1e-300)


def test_kac_velocity_jumps_at_the_cone_edge():
    # Inside, v tends to c s / (s + 2 / a) < c; on the atoms it is c.
    process = KacProcess(a=9.0, c=3.0)
    s = column(0.5)
    inner = torch.nextafter(3.0 * s, torch.zeros_like(s))
    assert process.velocity_y(s, inner).item() == pytest.approx(1.5 / (0.5 + 2 / 9))
    assert process.velocity_y(s, 3.0 * s).item() == 3.0
    assert process.velocity_y(s, -3.0 * s).item() == -3.0


def test_kac_terminal_law_has_atoms_without_density():
    process = KacProcess(a=1.0, c=2.0)
    y = torch.tensor([-3.0, -2.0, 0.0, 2.0, 3.0], dtype=torch.float64)
    log_p = process.terminal_log_prob(y)
    assert torch.isinf(log_p[[0, 1, 3, 4]]).all() and torch.isfinite(log_p[2])
    z = process.terminal_sample(40000, 1, torch.Generator().manual_seed(0))
    on_atoms = (z.abs() == 2.0).double().mean().item()
    assert on_atoms == pytest.approx(math.exp(-1.0), abs=4 * math.sqrt(0.25 / 40000))


class CosineProcess(BaseProcess):
    """A user's process: the cosine schedule towards the generator's noise."""

    def path(self, x0, z, t):
        angle = math.pi / 2 * t
        x_t = torch.cos(angle) * x0 + torch.sin(angle) * z
        velocity = math.pi / 2 * (torch.cos(angle) * z - torch.sin(angle) * x0)
        return x_t, velocity


DETERMINISTIC = [
    LinearProcess(),
    OUProcess(),
    OUProcess(beta_min=1.0, beta_max=5.0),
    UniformProcess(b=1.0),
    UniformProcess(b=0.3),
    CosineProcess(),
]
OWN_LAW = [process for process in PROCESSES + DETERMINISTIC if not process.uses_noise]


def data_and_ends(n_samples=64, n_features=3):
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(n_samples, n_features, generator=generator, dtype=torch.float64)
    z = torch.randn(n_samples, n_features, generator=generator, dtype=torch.float64)
    return x0, z


@pytest.mark.parametrize("process", DETERMINISTIC, ids=repr)
def test_deterministic_paths_join_data_to_their_terminal_draw(process):
    x0, z = data_and_ends()
    x_start, _ = process.path(x0, z, torch.zeros(64, 1, dtype=torch.float64))
    torch.testing.assert_close(x_start, x0, rtol=0, atol=1e-15)
    x_end, _ = process.path(x0, z, torch.ones(64, 1, dtype=torch.float64))
    # Only the OU schedule leaves the data a weight f(1) > 0 at t = 1 (documented).
    f1 = process.schedule(column(1.0))[0] if isinstance(process, OUProcess) else 0
    torch.testing.assert_close(x_end, z + f1 * x0, rtol=0, atol=1e-15)

    t = torch.linspace(0.05, 0.95, 64, dtype=torch.float64).reshape(-1, 1)
    h = 1e-6
    forward, _ = process.path(x0, z, t + h)
    backward, _ = process.path(x0, z, t - h)
    _, velocity = process.path(x0, z, t)
    torch.testing.assert_close(velocity, (forward - backward) / (2 * h))


@pytest.mark.parametrize(
    "process", [p for p in DETERMINISTIC if isinstance(p, AffineProcess)], ids=repr
)
def test_affine_paths_follow_their_coefficients(process):
    x0, z = data_and_ends()
    t = torch.linspace(0.05, 1.0, 64, dtype=torch.float64).reshape(-1, 1)
    alpha, dalpha, beta, dbeta = process.coefficients(t)
    x_t, velocity = process.path(x0, z, t)
    torch.testing.assert_close(x_t, alpha * x0 + beta * z, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(velocity, dalpha * x0 + dbeta * z)


@pytest.mark.parametrize("process", OWN_LAW, ids=repr)
def test_terminal_law_is_the_terminal_sample_as_a_module(process):
    law = process.terminal_law(3)
    assert isinstance(law, torch.nn.Module) and law.n_features == 3
    draws = law.sample(500, torch.Generator().manual_seed(0))
    expected = process.terminal_sample(500, 3, torch.Generator().manual_seed(0))
    assert draws.dtype == torch.float64
    torch.testing.assert_close(draws, expected, rtol=0, atol=0)
    torch.testing.assert_close(law.log_prob(draws), process.terminal_log_prob(draws))

    law = law.float()
    draws = law.sample(500, torch.Generator().manual_seed(0))
    expected = process.terminal_sample(
        500, 3, torch.Generator().manual_seed(0), dtype=torch.float32
    )
    assert draws.dtype == torch.float32 and draws.shape == (500, 3)
    torch.testing.assert_close(draws, expected, rtol=0, atol=0)
    assert law.state_dict() == {}


@pytest.mark.parametrize("process", [p for p in OWN_LAW if p.deterministic], ids=repr)
def test_fresh_path_is_the_path_to_a_terminal_draw(process):
    x0, _ = data_and_ends()
    x0 = x0.float()
    t = torch.linspace(0.05, 1.0, 64).reshape(-1, 1)
    fresh = process.sample_path(x0, t, torch.Generator().manual_seed(3))
    z = process.terminal_sample(
        64, 3, torch.Generator().manual_seed(3), dtype=torch.float32
    )
    assert fresh[0].dtype == torch.float32
    torch.testing.assert_close(fresh, process.path(x0, z, t), rtol=0, atol=0)


def test_a_process_on_the_generators_noise_needs_only_path():
    process = CosineProcess()
    assert resolve_process(process) is process
    assert process.deterministic and process.uses_noise
    assert clone(process).get_params() == {}
    x0, z = data_and_ends()
    t = torch.full((64, 1), 0.5, dtype=torch.float64)
    x_t, _ = process.path(x0, z, t)
    torch.testing.assert_close(x_t, (x0 + z) / math.sqrt(2))
    message = "CosineProcess.{} is not available: its paths end at the generator's"
    with pytest.raises(TypeError, match=message.format("sample_path")):
        process.sample_path(x0, t, torch.Generator())
    with pytest.raises(TypeError, match=message.format("terminal_law")):
        process.terminal_law(3)


def test_linear_path_is_the_straight_line_to_the_noise():
    x0, z = data_and_ends()
    t = torch.rand(64, 1, generator=torch.Generator().manual_seed(0))
    x_t, velocity = LinearProcess().path(x0, z, t.double())
    assert torch.equal(x_t, x0 + t.double() * (z - x0))
    assert torch.equal(velocity, z - x0)
    with pytest.raises(TypeError, match="LinearProcess.terminal_law is not available"):
        LinearProcess().terminal_law(3)


def test_kac_paths_have_no_path_to_their_end():
    x0, z = data_and_ends()
    t = torch.full((64, 1), 0.5, dtype=torch.float64)
    with pytest.raises(NotImplementedError, match="KacProcess.path is not defined"):
        KacProcess().path(x0, z, t)


def test_resolve_process_names_and_instances():
    first, second = resolve_process("ou"), resolve_process("ou")
    assert isinstance(first, OUProcess) and first is not second
    process = UniformProcess(b=0.5)
    assert resolve_process(process) is process
    with pytest.raises(ValueError, match="Unknown process 'brownian'"):
        resolve_process("brownian")
    lacks = "it lacks deterministic, uses_noise, path, sample_path, terminal_law"
    with pytest.raises(TypeError, match=f"is not a BaseProcess; {lacks}"):
        resolve_process(object())

    class HalfProcess:
        deterministic = uses_noise = True

        def path(self, x0, z, t):
            return x0, z

    with pytest.raises(TypeError, match="it lacks sample_path, terminal_law"):
        resolve_process(HalfProcess())


OUT_OF_RANGE = [
    (OUProcess(beta_max=1e300), "beta_max"),
    (OUProcess(beta_min=1e300), "beta_min"),
    (UniformProcess(b=1e-300), "b"),
    (UniformProcess(b=1e300), "b"),
    (KacProcess(a=1e300), "a"),
    (KacProcess(a=1e-300), "a"),
    (KacProcess(c=1e300), "c"),
    (KacProcess(c=1e-300), "c"),
]


@pytest.mark.parametrize(("process", "parameter"), OUT_OF_RANGE, ids=repr)
def test_parameters_out_of_float32_range_name_themselves(process, parameter):
    name = type(process).__name__
    with pytest.raises(
        InvalidParameterError, match=f"'{parameter}' parameter of {name}"
    ):
        process._validate_params()


def corners(process_type):
    """Processes with each numeric parameter at one of its two bounds."""
    constraints = {
        name: constraint[0]
        for name, constraint in process_type._parameter_constraints.items()
        if name != "time_change"
    }
    ends = [(c.left, c.right) for c in constraints.values()]
    return [
        process_type(**dict(zip(constraints, values, strict=True)))
        for values in itertools.product(*ends)
    ]


@pytest.mark.parametrize(
    "process",
    corners(OUProcess) + corners(UniformProcess) + corners(KacProcess),
    ids=repr,
)
def test_float32_training_stays_finite_at_the_parameter_bounds(process):
    process._validate_params()
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(256, 2, generator=generator)
    # As in training: t in (0, 1], never 0, where the OU velocity is infinite,
    # down to the smallest float32 draw 2**-24.
    t = 1 - torch.rand(256, 1, generator=generator)
    t[:2, 0] = torch.tensor([2.0**-24, 1.0])
    x_t, velocity = process.sample_path(x0, t, generator)
    assert torch.isfinite(x_t).all() and torch.isfinite(velocity).all()
    assert torch.isfinite((velocity**2).sum())
    law = process.terminal_law(2).float()
    z = law.sample(256, generator)
    assert torch.isfinite(z).all() and not law.log_prob(z).isnan().any()
