"""scikit-learn's estimator contract, checked on every public estimator."""

import pytest
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from adaptnoise import FixedNoise, FlowMatchingGenerator, QuantileNoise
from adaptnoise.processes import KacProcess, LinearProcess, OUProcess, UniformProcess

FAST = dict(hidden_layer_sizes=(8,), max_iter=20, batch_size=16, n_steps=2)

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
    *(
        FlowMatchingGenerator(
            process=process, coupling="independent", random_state=0, **FAST
        )
        for process in (OUProcess(), KacProcess(), UniformProcess(b=2.0))
    ),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# Processes hold parameters only (no fit), so the checks that apply to every
# estimator without fitting it are the contract they must keep.
PARAMETER_CHECKS = (
    check_parameters_default_constructible,
    check_no_attributes_set_in_init,
    check_do_not_raise_errors_in_init_or_set_params,
    check_get_params_invariance,
    check_set_params,
    check_estimator_repr,
)


@pytest.mark.parametrize(
    "process",
    [LinearProcess(), OUProcess(), KacProcess(a=25.0, c=5.0), UniformProcess()],
    ids=repr,
)
@pytest.mark.parametrize("check", PARAMETER_CHECKS, ids=lambda c: c.__name__)
def test_processes_keep_the_parameter_contract(process, check):
    check(type(process).__name__, process)
