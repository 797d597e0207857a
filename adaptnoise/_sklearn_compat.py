"""The one place that imports scikit-learn's private helpers."""

# These names are private in scikit-learn but used by its contrib template;
# importing them here alone means a future rename touches one file.
from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _num_samples

__all__ = [
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "_fit_context",
    "_num_samples",
    "validate_own_params",
    "validate_params",
]


def validate_own_params(estimator):
    """Check a nested estimator's parameters now, before any work is done."""
    estimator._validate_params()
