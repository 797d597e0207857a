"""Exceptions and warnings raised by adaptnoise."""

__all__ = ["DeviceWarning", "SolverError", "TrainingDivergedError"]


class TrainingDivergedError(ValueError):
    """Raised when training produces a non-finite loss or non-finite weights.

    It subclasses :class:`ValueError`, as scikit-learn's solvers raise a
    ``ValueError`` for the same failure, so existing handlers keep working.
    """


class SolverError(RuntimeError):
    """Raised when an ODE solver cannot integrate a flow.

    The adaptive solver ran out of steps or shrank its step to nothing, or
    the velocity produced NaN. The arguments were valid, the computation
    failed, so it subclasses :class:`RuntimeError`, which the adaptive solver
    raised before this class existed; it is distinct from torch's own
    ``RuntimeError`` so that callers can catch it alone.
    """


class DeviceWarning(UserWarning):
    """Warned when a requested or saved device is not available here."""
