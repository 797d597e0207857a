"""scikit-learn's estimator contract, checked on every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from adaptnoise import FixedNoise, FlowMatchingGenerator, QuantileNoise

# Small iteration budgets: the checks fit each estimator dozens of times.
ESTIMATORS = [
    QuantileNoise(max_iter=5, random_state=0),
    QuantileNoise(objective="joint", max_iter=5, random_state=0),
    FixedNoise(law="student_t"),
    FlowMatchingGenerator(
        noise=QuantileNoise(max_iter=5),
        hidden_layer_sizes=(8,),
        max_iter=20,
        batch_size=16,
        n_steps=2,
        random_state=0,
    ),
    FlowMatchingGenerator(
        noise="gaussian",
        coupling="sinkhorn",
        noise_training="pretrain",
        hidden_layer_sizes=(8,),
        max_iter=20,
        batch_size=16,
        n_steps=2,
        random_state=0,
    ),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
