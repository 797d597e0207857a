"""Fixed, unit-variance product noises: the baselines to learned noise."""

from numbers import Real

from adaptnoise._sklearn_compat import Interval, StrOptions, _fit_context
from adaptnoise._torch import resolve_device
from adaptnoise.noise._base import BaseNoise
from adaptnoise.noise._fixed import FixedLaw

__all__ = ["FixedNoise"]


class FixedNoise(BaseNoise):
    """A fixed, unit-variance product noise: the baselines to learned noise.

    The generator standardises its data, so a unit-variance noise is on the
    data's scale. ``fit`` only records the number of features.

    Parameters
    ----------
    law : {"gaussian", "student_t", "uniform"}, default="gaussian"
        Standard normal; Student-t with ``df`` degrees of freedom, rescaled to
        unit variance when ``df > 2``; uniform on ``[-sqrt(3), sqrt(3)]``.

    df : float, default=5.0
        Degrees of freedom of the Student-t law, at least 1, so that draws stay
        finite in float32, which the generator trains in; a very large ``df``
        gives the standard normal, the law's limit.

    device : str, default="auto"
        Torch device the law draws and scores on; ``"auto"`` uses CUDA when
        available.

    Attributes
    ----------
    module_ : NoiseLaw
        The law as a torch module with ``sample(n, generator)`` and
        ``log_prob(y)``.
    device_, n_features_in_, feature_names_in_
        As in :class:`BaseNoise`.

    See Also
    --------
    QuantileNoise : A product noise learned from the data.

    Examples
    --------
    >>> import numpy as np
    >>> from adaptnoise import FixedNoise
    >>> noise = FixedNoise(law="uniform").fit(np.zeros((2, 3)))
    >>> bool(np.abs(noise.sample(1000, random_state=0)).max() <= 3**0.5)
    True
    """

    _parameter_constraints: dict = {
        "law": [StrOptions({"gaussian", "student_t", "uniform"})],
        "df": [Interval(Real, 1, None, closed="left")],
        "device": [str],
    }

    def __init__(self, law="gaussian", df=5.0, device="auto"):
        self.law = law
        self.df = df
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the number of features of ``X``; only its shape is used.

        See :meth:`BaseNoise.fit`.
        """
        X = self._validate_input(X)
        self.device_ = resolve_device(self.device)
        self.module_ = FixedLaw(self.law, X.shape[1], self.df).to(self.device_)
        return self
