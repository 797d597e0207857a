"""Golden outputs of small seeded fits, frozen so that a refactor proves it
changed no numbers. A commit that changes a random stream on purpose says so
and refreezes these values once."""

import warnings

import numpy as np
import pytest

from adaptnoise import FlowMatchingGenerator, QuantileNoise
from adaptnoise.processes import OUProcess

# Every parameter that shapes the numbers is written out, so that a change of
# default is not mistaken for a refactor that changed the maths.
NETWORK = dict(
    hidden_layer_sizes=(16, 16),
    time_embedding_dim=8,
    fourier_features=8,
    fourier_scale=0.5,
    max_iter=40,
    batch_size=64,
    learning_rate_init=5e-3,
    ema_decay=0.995,
    max_grad_norm=1.0,
    solver="rk4",
    n_steps=4,
    whiten=False,
    random_state=0,
    device="cpu",
)
NOISE = dict(n_bins=32, tails="auto", alpha=1e-4, max_iter=20, tol=1e-5)

GOLDEN = {
    "quantile": dict(
        params=dict(noise=QuantileNoise(**NOISE), sigma=0.0, coupling="ot"),
        sample=[
            [2.8884401456, -1.8916905169],
            [0.8319722369, -0.0317641408],
            [1.2891757598, -1.4638411012],
            [-0.0056144986, -3.7307366516],
            [1.0732173071, -4.1480620072],
        ],
        score=[
            -4.6177915774,
            -6.0965011105,
            -4.3512537604,
            -2.7831404037,
            -2.8224757092,
        ],
    ),
    "ou": dict(
        params=dict(process=OUProcess(), sigma=0.0, coupling="ot"),
        sample=[
            [2.3494496887, -3.5637653083],
            [-1.414909822, -1.9305729896],
            [-0.3638165474, -5.8860828857],
            [1.2039877966, -1.2569025652],
            [0.050904842, -3.8349300463],
        ],
        score=[
            -4.7034007637,
            -5.9944809371,
            -4.8421542028,
            -3.238619001,
            -2.6981343717,
        ],
    ),
    "quantile_whitened_sigma": dict(
        params=dict(
            noise=QuantileNoise(**NOISE), sigma=0.05, coupling="ot", whiten=True
        ),
        sample=[
            [2.8844716245, -1.664840327],
            [0.8630068543, -0.1705147386],
            [1.28877243, -1.5747917189],
            [-0.0498744179, -3.968630668],
            [0.9309080881, -4.2002044033],
        ],
        score=[
            -4.6836484656,
            -6.3486804037,
            -5.1648306098,
            -3.4881321366,
            -2.569696527,
        ],
    ),
    "gaussian_sinkhorn_sigma": dict(
        params=dict(noise="gaussian", sigma=0.05, coupling="sinkhorn"),
        sample=[
            [2.4655335655, -3.6476934763],
            [-1.2512566188, -1.9950466612],
            [-0.2149237039, -5.8791065747],
            [1.306536845, -1.3075000514],
            [0.208083013, -3.8697624197],
        ],
        score=[
            -4.5480556674,
            -6.0643745344,
            -4.5488932028,
            -3.099945139,
            -2.7043076815,
        ],
    ),
}


def golden_data():
    rng = np.random.RandomState(0)
    mixing = np.array([[1.0, 0.5], [0.0, 2.0]])
    return rng.standard_normal((300, 2)) @ mixing + [1.0, -3.0]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_generator_outputs_are_frozen(name):
    case = GOLDEN[name]
    X = golden_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = FlowMatchingGenerator(**{**NETWORK, **case["params"]}).fit(X)
    np.testing.assert_allclose(
        model.sample(5, random_state=0), case["sample"], rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(
        model.score_samples(X[:5]), case["score"], rtol=0, atol=1e-6
    )


def test_quantile_noise_outputs_are_frozen():
    X = golden_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        noise = QuantileNoise(**NOISE, random_state=0, device="cpu").fit(X)
    np.testing.assert_allclose(
        noise.sample(5, random_state=0), NOISE_SAMPLE, rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(
        noise.score_samples(X[:5]), NOISE_SCORE, rtol=0, atol=1e-6
    )


NOISE_SAMPLE = [
    [2.9083916754, -2.0085110614],
    [0.7408577599, -0.0129700677],
    [1.302259362, -1.512431461],
    [-0.0075412009, -3.8490210784],
    [1.0934274523, -4.2375981294],
]
NOISE_SCORE = [
    -4.6615890496,
    -6.4826440928,
    -4.1098988798,
    -2.6496095283,
    -2.7997119436,
]
