"""scikit-learn's estimator contract, checked on every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from adaptnoise import QuantileNoise

# Small iteration budgets: the checks fit each estimator dozens of times.
ESTIMATORS = [
    QuantileNoise(max_iter=5, random_state=0),
    QuantileNoise(objective="joint", max_iter=5, random_state=0),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
