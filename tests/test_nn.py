"""Tests for adaptnoise.nn.VelocityMLP: shapes, time handling, gradients, errors."""

import pickle

import numpy as np
import pytest
import torch

from adaptnoise.nn import VelocityMLP, _check_sizes, _count_weights


def _net(n_features=3, seed=0, **kwargs):
    # Forked as the estimators do, so seeding leaves the other tests' RNG alone.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return VelocityMLP(n_features, **kwargs).double()


def _inputs(n_samples=5, n_features=3, seed=1):
    gen = torch.Generator().manual_seed(seed)
    t = torch.rand(n_samples, generator=gen, dtype=torch.float64)
    x = torch.randn(n_samples, n_features, generator=gen, dtype=torch.float64)
    return t, x


@pytest.mark.parametrize("n_features", [1, 2, 7])
@pytest.mark.parametrize("hidden_layer_sizes", [(), (8,), (256, 256, 256)])
@pytest.mark.parametrize("activation", ["silu", "gelu", "relu"])
def test_output_shape_and_architecture(n_features, hidden_layer_sizes, activation):
    net = _net(n_features, hidden_layer_sizes=hidden_layer_sizes, activation=activation)
    t, x = _inputs(4, n_features)
    assert net(t, x).shape == (4, n_features)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    widths = [(m.in_features, m.out_features) for m in linears]
    sizes = (32 + n_features + 128, *hidden_layer_sizes, n_features)
    assert widths == list(zip(sizes[:-1], sizes[1:], strict=True))


def test_scalar_time_broadcasts():
    net = _net()
    _, x = _inputs()
    shared = net(torch.tensor(0.3, dtype=torch.float64), x)
    assert torch.equal(shared, net(torch.full((5,), 0.3, dtype=torch.float64), x))
    assert torch.equal(shared, net(0.3, x))


def test_rows_do_not_interact():
    net = _net()
    t, x = _inputs()
    rows = torch.cat([net(t[i : i + 1], x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(net(t, x), rows, rtol=0, atol=1e-12)


def test_output_depends_on_time():
    net = _net()
    _, x = _inputs()
    early, late = net(torch.tensor(0.0), x), net(torch.tensor(1.0), x)
    nearby = net(torch.tensor(0.01), x)
    assert (early - late).abs().min() > 0
    assert (early - nearby).abs().max() < (early - late).abs().max()


def test_gradients_reach_every_parameter():
    net = _net()
    t, x = _inputs()
    net(t, x).square().sum().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_time_code_is_a_buffer_not_a_parameter():
    net = _net(time_embedding_dim=8)
    assert net.frequencies.dtype == torch.float64
    torch.testing.assert_close(
        net.frequencies, torch.logspace(0.0, 2.0, 4, dtype=torch.float64)
    )
    assert "frequencies" not in dict(net.named_parameters())
    assert "frequencies" not in net.state_dict()


@pytest.mark.parametrize("n_features", [1, 2, 50])
def test_fourier_code_is_a_seeded_buffer_with_the_documented_spread(n_features):
    net = _net(n_features, fourier_features=2000, fourier_scale=0.5)
    assert net.projection.shape == (n_features, 1000)
    assert "projection" in net.state_dict()
    assert "projection" not in dict(net.named_parameters())
    # Phases of a standardised row spread like 2 pi scale at any dimension.
    rows = torch.Generator().manual_seed(1)
    phases = (
        torch.randn(4000, n_features, dtype=torch.float64, generator=rows)
        @ net.projection
    )
    assert phases.std().item() == pytest.approx(2 * torch.pi * 0.5, rel=0.05)
    assert torch.equal(net.projection, _net(n_features, **_FOURIER).projection)


_FOURIER = {"fourier_features": 2000, "fourier_scale": 0.5}


def test_without_fourier_features_the_state_enters_alone():
    net = _net(fourier_features=0, hidden_layer_sizes=(8,))
    assert net.layers[0].in_features == 32 + 3
    t, x = _inputs()
    assert net(t, x).shape == (5, 3)


def _fit_step(fourier_features):
    # A jump at 0: the kind of edge a velocity field needs near a compact
    # support, which a plain MLP of this size smooths over.
    net = _net(1, hidden_layer_sizes=(32, 32), fourier_features=fourier_features)
    x = torch.linspace(-2, 2, 200, dtype=torch.float64)[:, None]
    target = torch.sign(x)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        loss = (net(0.5, x) - target).square().mean()
        loss.backward()
        optimizer.step()
    return loss.item()


def test_fourier_features_fit_a_sharp_edge_better():
    assert _fit_step(64) < 0.5 * _fit_step(0)


def test_seeded_init_is_reproducible_and_pickles():
    t, x = _inputs()
    net = _net(seed=3)
    assert torch.equal(net(t, x), _net(seed=3)(t, x))
    assert not torch.equal(net(t, x), _net(seed=4)(t, x))
    assert torch.equal(net(t, x), pickle.loads(pickle.dumps(net))(t, x))


def test_forward_leaves_global_rng_alone():
    net = _net()
    t, x = _inputs()
    state = torch.get_rng_state()
    net(t, x)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_features": 0}, "n_features"),
        ({"n_features": 2.0}, "n_features"),
        ({"hidden_layer_sizes": (16, 0)}, "hidden_layer_sizes"),
        ({"time_embedding_dim": 7}, "even"),
        ({"time_embedding_dim": 0}, "time_embedding_dim"),
        ({"activation": "tanh"}, "silu"),
        ({"fourier_features": 3}, "fourier_features"),
        ({"fourier_features": -2}, "fourier_features"),
        ({"fourier_scale": 0.0}, "fourier_scale"),
        ({"fourier_scale": float("inf")}, "fourier_scale"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VelocityMLP(**{"n_features": 2, **kwargs})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_velocity_stays_finite_at_the_ends_of_the_float_range(dtype):
    # x @ B overflows there, and the sine of an infinite phase is NaN.
    net = _net(fourier_features=256).to(dtype)
    big = torch.finfo(dtype).max
    x = torch.tensor(
        [[big, -big, 0.0], [0.9 * big, big, -big], [torch.inf, -torch.inf, 1.0]],
        dtype=dtype,
        requires_grad=True,
    )
    v = net(torch.tensor([0.0, 0.5, 1.0], dtype=dtype), x)
    (grad,) = torch.autograd.grad(v.sum(), x)
    assert torch.isfinite(v).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hidden_layer_sizes": (8, 10**18)}, r"hidden_layer_sizes .*2\*\*31.* 10+\.$"),
        ({"time_embedding_dim": 10**18}, r"time_embedding_dim .*2\*\*31.* 10+\.$"),
        ({"fourier_features": 10**18}, r"fourier_features .*2\*\*31.* 10+\.$"),
        # Each size is allowed alone, but the first layer is their product:
        # (32 + 2 + 128 + 1) 2**26 + (2**26 + 1) 2 + 2 * 64 + 16 numbers.
        ({"hidden_layer_sizes": (2**26,)}, r"\(67108864,\).* 11,072,962,706 weights"),
        ({"fourier_features": 2**28}, r"fourier_features=268435456 give .*2\*\*31"),
    ],
)
def test_sizes_too_large_to_allocate_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VelocityMLP(**{"n_features": 2, **kwargs})


def test_size_checks_allocate_nothing_and_count_every_weight():
    net = _net(3, hidden_layer_sizes=(8, 5), time_embedding_dim=6, fourier_features=10)
    held = [*net.parameters(), net.projection, net.frequencies]
    n_weights = sum(tensor.numel() for tensor in held)
    assert n_weights == _count_weights(3, (8, 5), 6, 10)
    # numpy ints, as the generator passes them, must not wrap around.
    # In int64 these four products of 2**62 sum to 2**64, which wraps to 0.
    sizes = (np.int64(2**31),) * 5
    with pytest.raises(ValueError, match=r" 18,446,744,436,634,288,274 weights"):
        _check_sizes(2, sizes, 32, "silu", 128)
    with pytest.raises(ValueError, match="fourier_features must be an even int"):
        _check_sizes(2, (8,), 32, "silu", 3)
