"""Exceptions and warnings raised by adaptnoise."""

__all__ = ["DeviceWarning", "TrainingDivergedError"]


class TrainingDivergedError(ValueError):
    """Raised when training produces a non-finite loss or non-finite weights.

    It subclasses :class:`ValueError`, as scikit-learn's solvers raise a
    ``ValueError`` for the same failure, so existing handlers keep working.
    """


class DeviceWarning(UserWarning):
    """Warned when a requested or saved device is not available here."""
