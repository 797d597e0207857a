"""Training batches: solving the coupling ahead on a worker changes nothing."""

import itertools

import pytest
import torch

from adaptnoise._batches import Batches
from adaptnoise.noise import QuantileNoise
from adaptnoise.processes import LinearProcess, UniformProcess

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def batches(process, noise, coupling, sigma=0.0):
    return Batches(
        process,
        noise,
        coupling,
        0.05,
        sigma,
        torch.Generator().manual_seed(0),
        torch.Generator().manual_seed(1),
    )


@pytest.mark.parametrize("coupling", ["ot", "sinkhorn", "independent"])
@pytest.mark.parametrize("law", ["learned", "process"])
def test_lookahead_yields_the_batches_of_the_plain_loop(coupling, law):
    X = torch.randn(500, 2, generator=torch.Generator().manual_seed(2))
    X = X * torch.tensor([1.0, 3.0])
    if law == "learned":
        process = LinearProcess()
        noise = QuantileNoise(n_bins=4, max_iter=5, random_state=0)
        noise = noise.fit(X.double().numpy()).module_.float()
    else:
        process = UniformProcess()
        noise = process.terminal_law(2).float()

    def first(lookahead):
        stream = batches(process, noise, coupling, sigma=0.1).stream(X, 64, lookahead)
        return list(itertools.islice(stream, 5))

    for ahead, plain in zip(first(True), first(False), strict=True):
        for a, b in zip(ahead, plain, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_ot_batches_pair_rows_with_nearby_noise():
    X = torch.randn(1000, 2, generator=torch.Generator().manual_seed(3))
    noise = QuantileNoise(n_bins=4, max_iter=5, random_state=0)
    noise = noise.fit(X.double().numpy()).module_.float()
    ot, independent = (
        next(batches(LinearProcess(), noise, coupling).stream(X, 128, True))
        for coupling in ("ot", "independent")
    )
    # The linear path's target is z - x0: the pairing's transport cost.
    assert (
        ot.target.square().sum(1).mean()
        < 0.5 * independent.target.square().sum(1).mean()
    )


class _CountingLaw(torch.nn.Module):
    def __init__(self, law):
        super().__init__()
        self.law, self.calls = law, 0

    def sample(self, n, generator):
        self.calls += 1
        return self.law.sample(n, generator)


def test_a_fixed_noise_is_drawn_for_many_batches_at_once():
    X = torch.randn(500, 2, generator=torch.Generator().manual_seed(4))
    noise = QuantileNoise(n_bins=4, max_iter=5, random_state=0)
    law = _CountingLaw(noise.fit(X.double().numpy()).module_.float())
    stream = batches(LinearProcess(), law, "ot").stream(X, 64, True, pooled=True)
    drawn = torch.cat([batch.z for batch in itertools.islice(stream, 130)])
    # 64 batches per draw: the 130 batches, and the one solved ahead, take 3.
    assert law.calls == 3
    assert torch.unique(drawn, dim=0).shape[0] == drawn.shape[0]
