"""Tests for adaptnoise.solvers: accuracy, order, direction, NFE and divergences."""

import functools
import math

import pytest
import torch
from scipy.linalg import expm

from adaptnoise.exceptions import SolverError
from adaptnoise.nn import VelocityMLP
from adaptnoise.solvers import odeint, odeint_with_logdet

FIXED = ("euler", "heun", "rk4")


def cubic(t, x):
    """dx/dt = 3 t^2, so x(1) = x(0) + 1."""
    return 3 * t[:, None] ** 2 * torch.ones_like(x)


def decay(t, x):
    """dx/dt = -x, so x(t) = x(0) exp(-t)."""
    return -x


def swirl(t, x):
    """A nonlinear field whose rows evolve independently."""
    return torch.stack([torch.sin(x[:, 1]) + t, torch.cos(x[:, 0]) * x[:, 1]], dim=1)


class Counter:
    """A velocity that counts its calls and checks the time it is given."""

    def __init__(self, velocity):
        self.velocity, self.calls = velocity, 0

    def __call__(self, t, x):
        self.calls += 1
        assert t.shape == x.shape[:1] and t.dtype == x.dtype and t.device == x.device
        return self.velocity(t, x)


def _normal(*shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _mlp_field(d, seed=0, width=16):
    gen = torch.Generator().manual_seed(seed)
    w1 = torch.randn(d + 1, width, generator=gen, dtype=torch.float64) / math.sqrt(d)
    w2 = torch.randn(width, d, generator=gen, dtype=torch.float64) / math.sqrt(width)

    def velocity(t, x):
        return torch.tanh(torch.cat([x, t[:, None]], dim=1) @ w1) @ w2

    return velocity


@pytest.mark.parametrize(
    ("method", "tol"),
    [("euler", 2e-2), ("heun", 1e-4), ("rk4", 1e-12), ("dopri5", 1e-5)],
)
def test_polynomial_in_time(method, tol):
    x = torch.zeros(3, 2, dtype=torch.float64)
    x1, _ = odeint(cubic, x, 0.0, 1.0, 100, method)
    assert (x1 - 1).abs().max().item() < tol


@pytest.mark.parametrize(
    ("method", "tol"),
    [("euler", 5e-3), ("heun", 2e-5), ("rk4", 1e-10), ("dopri5", 1e-5)],
)
def test_linear_decay(method, tol):
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)[:, None]
    x1, _ = odeint(decay, x, 0.0, 1.0, 100, method)
    assert (x1 - x * math.exp(-1)).abs().max().item() < tol


@pytest.mark.parametrize(
    ("method", "tol"),
    [("euler", 5e-2), ("heun", 1e-5), ("rk4", 1e-9), ("dopri5", 1e-4)],
)
def test_backward_integration_inverts_forward(method, tol):
    x = _normal(10, 2, seed=0)
    forward, _ = odeint(swirl, x, 0.0, 1.0, 64, method)
    back, _ = odeint(swirl, forward, 1.0, 0.0, 64, method)
    assert (forward - x).abs().max().item() > 0.1
    assert (back - x).abs().max().item() < tol


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_convergence_order(method, order):
    x = torch.ones(1, 1, dtype=torch.float64)
    errors = [
        (odeint(decay, x, 1.0, 0.0, n, method)[0] - math.e).abs().item()
        for n in (20, 40, 80)
    ]
    for coarse, fine in zip(errors[:-1], errors[1:], strict=True):
        assert coarse / fine == pytest.approx(2**order, rel=0.1)


@pytest.mark.parametrize(
    ("method", "per_step"), [("euler", 1), ("heun", 2), ("rk4", 4)]
)
@pytest.mark.parametrize("n_steps", [1, 7, 50])
def test_fixed_step_nfe_is_exact(method, per_step, n_steps):
    velocity = Counter(swirl)
    _, nfe = odeint(velocity, torch.zeros(4, 2), 1.0, 0.0, n_steps, method)
    assert nfe == velocity.calls == per_step * n_steps


def test_dopri5_adapts_its_steps():
    velocity = Counter(decay)
    x = torch.ones(2, 1, dtype=torch.float64)
    loose, loose_nfe = odeint(velocity, x, 0.0, 1.0, 1, "dopri5", rtol=1e-3, atol=1e-3)
    assert loose_nfe == velocity.calls
    tight, tight_nfe = odeint(decay, x, 0.0, 1.0, 1, "dopri5", rtol=1e-10, atol=1e-10)
    assert tight_nfe > loose_nfe
    assert (tight - math.exp(-1)).abs().max() < 1e-9
    assert (tight - math.exp(-1)).abs().max() < (loose - math.exp(-1)).abs().max()


def _stiff(t, x):
    """Relaxes onto cos(t) at rate 1e12: stable only for steps below 3e-12."""
    return -1e12 * (x - torch.cos(t)[:, None])


def test_dopri5_gives_up_within_its_step_budget():
    velocity = Counter(_stiff)
    x = torch.ones(2, 1, dtype=torch.float64)
    with pytest.raises(SolverError, match=r"max_steps=30 and reached only t=.*'rk4'"):
        odeint(velocity, x, 0.0, 1.0, 4, "dopri5", max_steps=30)
    assert velocity.calls == 1 + 6 * 30
    with pytest.raises(SolverError, match="max_steps=1000"):
        odeint(_stiff, x, 0.0, 1.0, 4, "dopri5")


def test_dopri5_stops_where_the_velocity_turns_nan():
    def velocity(t, x):
        return torch.where(t[:, None] < 0.5, -x, math.nan)

    with pytest.raises(SolverError, match=r"underflowed at t=0\.4999") as info:
        odeint(velocity, torch.ones(2, 1, dtype=torch.float64), 0.0, 1.0, 4, "dopri5")
    assert isinstance(info.value, RuntimeError)


def test_dopri5_refuses_to_step_into_an_overflow():
    # x(t) = 1e308 (1 + t) passes the largest double at t = 0.797; a step
    # that lands beyond it has an infinite error scale and a zero error.
    def velocity(t, x):
        return torch.full_like(x, 1e308)

    x = torch.full((1, 1), 1e308, dtype=torch.float64)
    with pytest.raises(SolverError, match="underflowed|max_steps"):
        odeint(velocity, x, 0.0, 1.0, 1, "dopri5")
    # A fixed-step solver returns the overflow as it is: it is not NaN.
    assert torch.isinf(odeint(velocity, x, 0.0, 1.0, 4, "rk4")[0]).all()


def test_dopri5_needs_a_finite_start():
    x = torch.tensor([[0.0, -math.inf]])
    with pytest.raises(ValueError, match="x must be finite for method='dopri5'"):
        odeint(decay, x, 0.0, 1.0, 4, "dopri5")


def _nan_velocity(t, x):
    """What a network with NaN weights returns."""
    return x * math.nan


def test_dopri5_reports_a_nan_velocity_at_once():
    velocity = Counter(_nan_velocity)
    with pytest.raises(SolverError, match="not finite at t=1.0 in 3 of 3 rows"):
        odeint(velocity, torch.ones(3, 2), 1.0, 0.0, 4, "dopri5")
    assert velocity.calls == 1


@pytest.mark.parametrize("method", FIXED)
@pytest.mark.parametrize("solver", [odeint, odeint_with_logdet])
def test_fixed_steps_report_nan_instead_of_returning_it(solver, method):
    def velocity(t, x):
        # Only the second row meets NaN, and only late along the way.
        nan_late = (t[:, None] > 0.5) & (torch.arange(3)[:, None] == 1)
        return torch.where(nan_late, math.nan, -x)

    with pytest.raises(SolverError, match=f"{method}.*NaN .* of 1 of 3 rows"):
        solver(velocity, torch.ones(3, 2, dtype=torch.float64), 0.0, 1.0, 4, method)


def test_logdet_returns_infinite_states_as_they_are():
    x = torch.tensor([[0.0, math.inf], [1.0, 2.0]], dtype=torch.float64)
    x1, delta = odeint_with_logdet(lambda t, x: torch.ones_like(x), x, 0.0, 1.0, 2)
    torch.testing.assert_close(x1, x + 1, rtol=0, atol=1e-12)
    assert torch.equal(delta, torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("quadrature", ["stages", "midpoint"])
@pytest.mark.parametrize("method", FIXED)
@pytest.mark.parametrize(("t0", "t1"), [(0.0, 1.0), (1.0, 0.25)])
def test_logdet_of_linear_field_is_trace_times_duration(method, t0, t1, quadrature):
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64)

    def solve(quadrature):
        return odeint_with_logdet(
            lambda t, x: x @ a.T, x, t0, t1, 20, method, quadrature=quadrature
        )

    x1, delta = solve(quadrature)
    expected = torch.full((6,), torch.trace(a).item() * (t1 - t0), dtype=torch.float64)
    torch.testing.assert_close(delta, expected, rtol=0, atol=1e-10)
    # The midpoint quadrature leaves the state's integration as it was.
    assert torch.equal(x1, solve("stages")[0])
    if method == "rk4":
        exact = x @ torch.as_tensor(expm(a.numpy() * (t1 - t0))).T
        torch.testing.assert_close(x1, exact, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "velocity", [lambda t, x: torch.ones_like(x), lambda t, x: 0 * x + 1]
)
def test_logdet_of_a_shift_is_zero(velocity):
    x = _normal(5, 2, seed=2)
    x1, delta = odeint_with_logdet(velocity, x, 0.0, 1.0, 3)
    torch.testing.assert_close(x1, x + 1, rtol=0, atol=1e-12)
    assert torch.equal(delta, torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize("quadrature", ["stages", "midpoint"])
@pytest.mark.parametrize("method", ["heun", "rk4"])
def test_logdet_rows_do_not_depend_on_the_batch(method, quadrature):
    velocity = _mlp_field(3)
    x = _normal(7, 3, seed=3)
    solve = functools.partial(
        odeint_with_logdet,
        t0=0.0,
        t1=1.0,
        n_steps=10,
        method=method,
        quadrature=quadrature,
    )
    x1, delta = solve(velocity, x)
    for i in range(7):
        row = x[i : i + 1]
        row, row_delta = solve(velocity, row)
        torch.testing.assert_close(row, x1[i : i + 1], rtol=0, atol=1e-10)
        torch.testing.assert_close(row_delta, delta[i : i + 1], rtol=0, atol=1e-10)


def test_logdet_matches_the_jacobian_determinant_of_the_flow():
    velocity = _mlp_field(2, seed=4)
    x = _normal(3, 2, seed=4)
    _, delta = odeint_with_logdet(velocity, x, 0.0, 1.0, 40)
    for i in range(3):
        jacobian = torch.autograd.functional.jacobian(
            lambda y: odeint(velocity, y[None], 0.0, 1.0, 40, "rk4")[0][0], x[i]
        )
        assert delta[i].item() == pytest.approx(torch.logdet(jacobian).item(), abs=1e-8)


def test_midpoint_logdet_converges_to_the_log_determinant_as_steps_shrink():
    velocity = _mlp_field(2, seed=4)
    x = _normal(3, 2, seed=4)
    exact = torch.stack(
        [
            torch.logdet(
                torch.autograd.functional.jacobian(
                    lambda y: odeint(velocity, y[None], 0.0, 1.0, 400, "rk4")[0][0],
                    row,
                )
            )
            for row in x
        ]
    )
    errors = [
        (odeint_with_logdet(velocity, x, 0.0, 1.0, n, quadrature="midpoint")[1] - exact)
        .abs()
        .max()
        .item()
        for n in (5, 10, 20)
    ]
    # Midpoint rule, order 2 in the step; the Hermite state errs at order 4.
    assert errors[2] < 1e-4
    assert errors[0] / errors[1] > 3 and errors[1] / errors[2] > 3


def test_midpoint_logdet_takes_one_divergence_and_one_more_velocity_per_step():
    velocity = Counter(swirl)
    x = _normal(4, 2, seed=5)
    odeint_with_logdet(velocity, x, 0.0, 1.0, 6, "rk4", quadrature="midpoint")
    # Four stages per step, the first shared with the previous step's end,
    # one velocity at the very start and one pass per divergence.
    assert velocity.calls == 1 + 4 * 6 + 6


def test_logdet_rejects_an_unknown_quadrature():
    with pytest.raises(ValueError, match="quadrature must be one of"):
        odeint_with_logdet(
            swirl, _normal(2, 2, seed=6), 0.0, 1.0, 2, quadrature="gauss"
        )


def _velocity_mlp(d, seed=0, **params):
    gen = torch.Generator().manual_seed(seed)
    net = VelocityMLP(d, time_embedding_dim=4, generator=gen, **params)
    return net.double()


class Tanh(torch.nn.Module):
    """A velocity module that is not a VelocityMLP, so takes the generic path."""

    def __init__(self, d):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(d + 1, 16), torch.nn.Tanh(), torch.nn.Linear(16, d)
        ).double()

    def forward(self, t, x):
        return self.net(torch.cat([x, t[:, None]], dim=1))


def _autograd_trace(velocity, t, x):
    """Trace of each row's full Jacobian, row by row."""
    times = torch.full((1,), t, dtype=x.dtype)
    return torch.stack(
        [
            torch.trace(
                torch.autograd.functional.jacobian(
                    lambda y: velocity(times, y[None])[0], row
                )
            )
            for row in x
        ]
    )


def _one_euler_step(velocity, x, t):
    # One Euler step over unit time returns x + v(t, x) and div v(t, x); t
    # and t + 1 are exact in binary for the times used.
    return odeint_with_logdet(velocity, x, t, t + 1.0, 1, "euler")


@pytest.mark.parametrize(
    "params",
    [
        dict(hidden_layer_sizes=(16, 16), fourier_features=8),
        dict(hidden_layer_sizes=(), fourier_features=6),
        dict(hidden_layer_sizes=(8,), fourier_features=0, activation="relu"),
        dict(hidden_layer_sizes=(8, 8, 8), activation="gelu", fourier_scale=3.0),
    ],
)
def test_exact_divergence_of_velocity_mlp_is_the_autograd_trace(params):
    net = _velocity_mlp(3, **params)
    x = _normal(20, 3, seed=10)
    # Coordinates the network clamps move nothing, at the bound and past it.
    bound = torch.finfo(x.dtype).max ** 0.5
    x[0, 0], x[1, 1], x[2, 2], x[3, 0] = math.inf, -1e300, bound, -bound
    x1, divergence = _one_euler_step(net, x, 0.5)
    with torch.no_grad():
        assert torch.equal(x1, x + net(torch.tensor(0.5), x))
    expected = _autograd_trace(net, 0.5, x)
    torch.testing.assert_close(divergence, expected, rtol=0, atol=1e-10)


def test_exact_divergence_of_a_generic_module_is_the_autograd_trace():
    velocity = Tanh(4)
    x = _normal(10, 4, seed=11)
    _, divergence = _one_euler_step(velocity, x, 0.25)
    expected = _autograd_trace(velocity, 0.25, x)
    torch.testing.assert_close(divergence, expected, rtol=0, atol=1e-10)


def test_a_velocity_mlp_subclass_is_differentiated_as_it_computes():
    class Doubled(VelocityMLP):
        def forward(self, t, x):
            return 2 * super().forward(t, x)

    gen = torch.Generator().manual_seed(12)
    doubled = Doubled(3, (8,), 4, fourier_features=4, generator=gen).double()
    plain = VelocityMLP(3, (8,), 4, fourier_features=4).double()
    plain.load_state_dict(doubled.state_dict())
    x = _normal(5, 3, seed=12)
    _, twice = _one_euler_step(doubled, x, 0.5)
    _, once = _one_euler_step(plain, x, 0.5)
    torch.testing.assert_close(twice, 2 * once, rtol=0, atol=1e-12)


def test_exact_divergence_of_velocity_mlp_matches_the_generic_path_along_a_flow():
    net = _velocity_mlp(5, seed=13, hidden_layer_sizes=(16, 16), fourier_features=8)
    x = _normal(30, 5, seed=13)
    fast = odeint_with_logdet(net, x, 0.0, 1.0, 6)
    generic = odeint_with_logdet(lambda t, x: net(t, x), x, 0.0, 1.0, 6)
    for ours, theirs in zip(fast, generic, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


def test_velocity_mlp_rows_do_not_depend_on_the_batch():
    # 700 rows of 4 features span several blocks of tangents on one or two
    # threads; the rows tried alone sit at the blocks' edges.
    net = _velocity_mlp(4, seed=14, hidden_layer_sizes=(8, 8), fourier_features=8)
    x = _normal(700, 4, seed=14)
    x1, delta = odeint_with_logdet(net, x, 0.0, 1.0, 3)
    for i in (0, 255, 256, 511, 512, 699):
        row, row_delta = odeint_with_logdet(net, x[i : i + 1], 0.0, 1.0, 3)
        torch.testing.assert_close(row, x1[i : i + 1], rtol=0, atol=1e-12)
        torch.testing.assert_close(row_delta, delta[i : i + 1], rtol=0, atol=1e-12)


def test_hutchinson_is_unbiased():
    velocity = _mlp_field(3, seed=5)
    x = _normal(1, 3, seed=5)
    _, exact = odeint_with_logdet(velocity, x, 0.0, 1.0, 8)
    gen = torch.Generator().manual_seed(6)
    _, estimates = odeint_with_logdet(
        velocity, x.expand(4000, 3), 0.0, 1.0, 8, divergence="hutchinson", generator=gen
    )
    standard_error = estimates.std().item() / math.sqrt(4000)
    assert standard_error > 1e-4
    assert abs(estimates.mean().item() - exact.item()) < 3 * standard_error


def test_hutchinson_probe_is_fixed_along_the_trajectory():
    a = _normal(3, 3, seed=7)
    signs = torch.cartesian_prod(*[torch.tensor([-1.0, 1.0], dtype=torch.float64)] * 3)
    quadratic_forms = torch.einsum("pi,ij,pj->p", signs, a, signs)
    gen = torch.Generator().manual_seed(8)
    x = torch.ones(50, 3, dtype=torch.float64)
    _, delta = odeint_with_logdet(
        lambda t, x: x @ a.T, x, 0.0, 0.5, 10, divergence="hutchinson", generator=gen
    )
    distance = (delta[:, None] - 0.5 * quadratic_forms[None]).abs().min(dim=1).values
    assert distance.max().item() < 1e-12


def test_hutchinson_is_reproducible_and_leaves_global_rng_alone():
    velocity = _mlp_field(2, seed=9)
    x = _normal(20, 2, seed=9)
    state = torch.get_rng_state()

    def run(generator):
        return odeint_with_logdet(
            velocity, x, 0.0, 1.0, 4, divergence="hutchinson", generator=generator
        )[1]

    runs = [run(torch.Generator().manual_seed(seed)) for seed in (0, 0, 1)]
    run(None)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_logdet_outputs_are_detached():
    weight = torch.eye(2, dtype=torch.float64, requires_grad=True)
    x = torch.ones(3, 2, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        x1, delta = odeint_with_logdet(lambda t, x: x @ weight, x, 0.0, 1.0, 2)
    assert not x1.requires_grad and not delta.requires_grad
    assert weight.grad is None
    torch.testing.assert_close(delta, torch.full((3,), 2.0, dtype=torch.float64))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_steps": 0}, "n_steps"),
        ({"n_steps": -3}, "n_steps"),
        ({"n_steps": 2.0}, "n_steps"),
        ({"n_steps": True}, "n_steps"),
        ({"method": "rk45"}, "euler"),
        ({"x": torch.zeros(3)}, "2-D"),
        ({"t1": float("nan")}, "finite"),
        ({"x": torch.tensor([[0.0, math.nan]])}, "x contains NaN"),
    ],
)
@pytest.mark.parametrize("solver", [odeint, odeint_with_logdet])
def test_bad_inputs_raise_value_error(solver, kwargs, match):
    call = {"velocity": decay, "x": torch.zeros(3, 2), "t0": 0.0, "t1": 1.0}
    with pytest.raises(ValueError, match=match):
        solver(**{**call, "n_steps": 4, **kwargs})


@pytest.mark.parametrize(
    ("solver", "kwargs", "match"),
    [
        (odeint, {"method": "dopri5", "rtol": 0.0}, "rtol"),
        (odeint, {"method": "dopri5", "atol": -1.0}, "atol"),
        (odeint, {"method": "dopri5", "max_steps": 0}, "max_steps"),
        (odeint, {"method": "dopri5", "max_steps": 10.0}, "max_steps"),
        (odeint_with_logdet, {"method": "dopri5"}, "rk4"),
        (odeint_with_logdet, {"divergence": "skilling"}, "hutchinson"),
    ],
)
def test_solver_specific_bad_inputs(solver, kwargs, match):
    with pytest.raises(ValueError, match=match):
        solver(decay, torch.zeros(3, 2), 0.0, 1.0, 4, **kwargs)
