"""The training run without an estimator: steps, averaging, validation, interrupts."""

import itertools
import warnings

import pytest
import torch

from adaptnoise._batches import Batch
from adaptnoise._training import FlowTrainer, Seeds, fit_session, minimize


class Affine(torch.nn.Module):
    """v(t, x) = x W + b: small enough that its optimum is known."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, t, x):
        return self.linear(x)


def batches(seed=0):
    """Endless batches whose target is the velocity -x: the fit's optimum."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        x = torch.randn(64, 2, generator=generator)
        yield Batch(x, torch.rand(64, 1, generator=generator), x, -x, None)


def trainer(ema_decay=0.9, max_iter=200, velocity=None):
    torch.manual_seed(0)
    return FlowTrainer(
        velocity or Affine(),
        batches(),
        learning_rate=0.05,
        max_iter=max_iter,
        ema_decay=ema_decay,
        max_grad_norm=None,
    )


def test_steps_reach_the_known_optimum():
    run = trainer()
    losses = [run.step() for _ in range(200)]
    assert losses[-1] < 1e-3 < losses[0]
    weights = run.averaged_velocity().linear.weight
    torch.testing.assert_close(weights, -torch.eye(2), atol=0.02, rtol=0)


def test_the_starting_network_is_left_alone():
    start = Affine()
    before = [p.clone() for p in start.parameters()]
    run = trainer(velocity=start)
    run.step()
    for a, b in zip(before, start.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("ema_decay", [0.0, 0.5, 0.99])
def test_after_one_step_the_average_is_that_step(ema_decay):
    run = trainer(ema_decay=ema_decay)
    run.step()
    for a, b in zip(
        run.averaged_velocity().parameters(), run.network.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_validation_loss_is_the_mean_squared_error_of_the_average():
    run = trainer()
    draws = list(itertools.islice(batches(seed=1), 3))
    start = run.averaged_velocity()
    expected = sum(
        (start(b.t[:, 0], b.x_t) - b.target).square().sum().item() for b in draws
    ) / sum(b.x_t.numel() for b in draws)
    assert run.validation_loss(draws) == pytest.approx(expected)
    for _ in range(100):
        run.step()
    assert run.validation_loss(draws) < 0.1 * expected


def test_an_interrupt_ends_every_later_phase_of_the_fit():
    calls = []

    def interrupted():
        calls.append(1)
        raise KeyboardInterrupt

    options = dict(tol=0, n_iter_no_change=1, learning_rate=1.0, verbose=0)
    with fit_session() as session, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        minimize(interrupted, name="First", max_iter=10, **options)
        assert session.interrupted
        curve, n_iter = minimize(lambda: 1.0, name="Second", max_iter=10, **options)
    assert (len(calls), n_iter, curve) == (1, 0, [])
    assert "First: training interrupted by user" in str(caught[0].message)
    with fit_session() as fresh:
        assert not fresh.interrupted


def test_seeds_are_named_streams_of_one_random_state():
    seeds = Seeds.draw(0)
    assert seeds == Seeds.draw(0) != Seeds.draw(1)
    assert (seeds.validation, seeds.pairing) == (seeds.batches + 1, seeds.batches + 2)
