"""The contract every noise estimator implements, over a fitted ``NoiseLaw``."""

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from adaptnoise._base import SamplerMixin
from adaptnoise._torch import PortableDeviceMixin, as_numpy, as_tensor

__all__ = ["BaseNoise", "lacking"]


class BaseNoise(PortableDeviceMixin, SamplerMixin, BaseEstimator):
    """A scikit-learn estimator whose fitted law is a torch :class:`NoiseLaw`.

    ``fit(X)`` is the one method a noise writes: it validates ``X`` (with
    ``sklearn.utils.validation.validate_data``, which sets
    ``n_features_in_``), and sets ``module_``, a :class:`NoiseLaw` over
    ``n_features_in_`` coordinates, and ``device_``, the ``torch.device`` the
    law lives on. ``sample``, ``score_samples`` and ``score`` then come from
    the law, in chunks of rows so that large requests stay within memory;
    pickling stores the law on the CPU and restores it on ``device_`` where
    that device exists.

    :class:`~adaptnoise.FlowMatchingGenerator` accepts any such estimator as
    its ``noise``: it clones it, fits it to the standardised data, and draws
    from and scores under its ``module_``.

    Attributes
    ----------
    module_ : NoiseLaw
        The fitted law.
    device_ : torch.device
        The device the law draws and scores on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    Examples
    --------
    A Gaussian noise with each column's standard deviation:

    >>> import math
    >>> import numpy as np
    >>> import torch
    >>> from sklearn.utils.validation import validate_data
    >>> from adaptnoise.noise import BaseNoise, NoiseLaw
    >>> class ScaledGaussian(NoiseLaw):
    ...     def __init__(self, scale):
    ...         super().__init__()
    ...         self.register_buffer("scale", torch.as_tensor(scale))
    ...     @property
    ...     def n_features(self):
    ...         return self.scale.shape[0]
    ...     def sample(self, n_samples, generator=None):
    ...         z = torch.randn(n_samples, self.n_features, generator=generator,
    ...                         dtype=self.scale.dtype, device=self.scale.device)
    ...         return self.scale * z
    ...     def log_prob(self, y):
    ...         z = y / self.scale
    ...         return -z.square() / 2 - self.scale.log() - math.log(2 * math.pi) / 2
    >>> class ScaledGaussianNoise(BaseNoise):
    ...     def fit(self, X, y=None):
    ...         X = validate_data(self, X)
    ...         self.device_ = torch.device("cpu")
    ...         self.module_ = ScaledGaussian(X.std(axis=0))
    ...         return self
    >>> noise = ScaledGaussianNoise().fit([[0.0, 1.0], [2.0, 5.0]])
    >>> noise.sample(4, random_state=0).shape
    (4, 2)
    >>> log_p = noise.score_samples([[0.0, 0.0]])
    >>> bool(np.isclose(log_p[0], -np.log(1.0 * 2.0 * 2 * np.pi)))
    True
    """

    # What fit must set, on top of the public methods below.
    _fitted_attributes = ("module_", "device_", "n_features_in_")
    # A noise without constraints of its own still passes parameter validation.
    _parameter_constraints: dict = {}

    def fit(self, X, y=None):
        """Fit the law to ``X`` and set ``module_`` and ``device_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. The built-in noises take finite numbers, and refuse
            a masked array with a ``TypeError``.
        y : None
            Ignored.

        Returns
        -------
        self : BaseNoise
            The fitted noise.
        """
        raise NotImplementedError

    def _validate_input(self, X, **options):
        """``X`` through ``validate_data`` as a float64 or float32 array."""
        if isinstance(X, np.ma.MaskedArray):
            # validate_data would drop the mask and use the hidden values.
            raise TypeError(
                f"{type(self).__name__} does not take masked arrays; pass the "
                "unmasked rows, X.data[~np.ma.getmaskarray(X).any(axis=1)] (a "
                "noise takes no missing values; FlowMatchingGenerator reads "
                "X.astype(float).filled(np.nan) as missing)."
            )
        return validate_data(self, X, dtype=[np.float64, np.float32], **options)

    @torch.no_grad()
    def _sample_chunk(self, n_samples, generator):
        return as_numpy(self.module_.sample(n_samples, generator), np.float64)

    def _validate_rows(self, X):
        return self._validate_input(X, reset=False)

    @torch.no_grad()
    def _score_chunk(self, X):
        log_p = self.module_.log_prob(as_tensor(X, self.device_))
        return as_numpy(log_p.sum(dim=1), np.float64)


def lacking(noise):
    """The members of the :class:`BaseNoise` contract that ``noise`` lacks.

    A fitted attribute counts as lacking on an unfitted object, so this names
    everything a duck-typed noise would still need to act as one.
    """
    methods = [
        name
        for name in dir(BaseNoise)
        if not name.startswith("_") and callable(getattr(BaseNoise, name))
    ]
    missing = [name for name in methods if not callable(getattr(noise, name, None))]
    missing += [
        name for name in BaseNoise._fitted_attributes if not hasattr(noise, name)
    ]
    # fit first: it is the member a noise writes itself.
    return sorted(missing, key=lambda name: name != "fit")
