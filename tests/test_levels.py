"""The decoding of nominal columns that keeps each level's training share."""

import numpy as np
import pandas as pd

from adaptnoise import FlowMatchingGenerator
from adaptnoise._levels import LevelCalibration

SHARES = np.array([0.7, 0.2, 0.07, 0.03])


def _training_codes(n=4000, seed=0):
    return np.random.default_rng(seed).choice(SHARES.size, n, p=SHARES)


def _flattened_draws(n, seed):
    """Draws that blur the levels into each other, as a flow does: rare levels
    get more than their share."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(SHARES.size, n, p=SHARES)
    return codes, rng.normal(0, 0.9, (n, SHARES.size)) + np.eye(SHARES.size)[codes]


def _standard_error(p, *sizes):
    return np.sqrt(p * (1 - p) * sum(1 / n for n in sizes))


def test_onehot_offsets_give_training_shares_on_fresh_draws():
    codes = _training_codes()
    encoded = np.eye(SHARES.size)[codes]
    _, draws = _flattened_draws(8192, seed=1)
    before = np.bincount(draws.argmax(1), minlength=SHARES.size) / len(draws)
    assert before[-1] > 2 * SHARES[-1]
    calibration = LevelCalibration([(np.arange(SHARES.size), SHARES.size)])
    calibration.fit(encoded, draws)
    on_fit = calibration.transform(draws).argmax(1)
    target = np.bincount(codes, minlength=SHARES.size) / len(codes)
    assert np.abs(np.bincount(on_fit) / len(draws) - target).max() < 2 / len(draws)
    _, fresh = _flattened_draws(20000, seed=2)
    after = np.bincount(calibration.transform(fresh).argmax(1)) / len(fresh)
    bound = 3 * _standard_error(target, 8192, 20000)
    assert (np.abs(after - target) < bound).all()


def test_code_map_is_monotone_and_rounds_to_training_shares():
    codes = _training_codes()
    encoded = codes[:, None].astype(float)
    truth, _ = _flattened_draws(8192, seed=1)
    rng = np.random.default_rng(3)
    draws = (truth + rng.normal(0, 0.6, truth.size))[:, None]
    calibration = LevelCalibration([(np.array([0]), SHARES.size)]).fit(encoded, draws)
    target = np.bincount(codes, minlength=SHARES.size) / len(codes)
    rounded = np.rint(calibration.transform(draws)[:, 0]).clip(0, SHARES.size - 1)
    shares = np.bincount(rounded.astype(int), minlength=SHARES.size) / len(draws)
    assert np.abs(shares - target).max() < 2 / len(draws)
    grid = np.linspace(-5, 8, 500)[:, None]
    mapped = calibration.transform(grid)[:, 0]
    assert (np.diff(mapped) > 0).all()
    # Beyond the outermost knots the map is a shift, as a continuation.
    assert np.allclose(np.diff(mapped[:5]), np.diff(grid[:5, 0]))


def test_generator_samples_a_dependent_category_at_its_share():
    rng = np.random.default_rng(0)
    n = 800
    level = rng.choice(3, n, p=[0.75, 0.2, 0.05])
    frame = pd.DataFrame(
        {
            "x": rng.normal(level, 1.0),
            "y": rng.normal(-level, 1.0),
            "c": pd.Categorical(np.array(["a", "b", "c"])[level]),
        }
    )
    model = FlowMatchingGenerator(
        hidden_layer_sizes=(64, 64),
        fourier_features=32,
        max_iter=200,
        n_steps=8,
        random_state=0,
    ).fit(frame)
    target = frame["c"].value_counts(normalize=True).sort_index().to_numpy()
    drawn = model.sample(20000, random_state=1)["c"]
    shares = drawn.value_counts(normalize=True).sort_index().to_numpy()
    assert (np.abs(shares - target) < 3 * _standard_error(target, 8192, 20000)).all()
