"""Noise laws a flow starts from: learned quantile noise and fixed baselines."""

from sklearn.base import clone

from adaptnoise.noise._base import BaseNoise, lacking
from adaptnoise.noise._law import NoiseLaw
from adaptnoise.noise.fixed import FixedNoise
from adaptnoise.noise.quantile import QuantileNoise

__all__ = [
    "NOISES",
    "BaseNoise",
    "FixedNoise",
    "NoiseLaw",
    "QuantileNoise",
    "resolve_noise",
]

NOISES = {"quantile", "gaussian", "student_t", "uniform"}


def resolve_noise(noise, random_state=None):
    """A new, unfitted noise estimator for a name in ``NOISES`` or an estimator.

    Parameters
    ----------
    noise : {"quantile", "gaussian", "student_t", "uniform"} or BaseNoise
        ``"quantile"`` gives a :class:`QuantileNoise`, the others a
        :class:`FixedNoise` of that law. A :class:`BaseNoise` instance is
        cloned, so the caller's object is never fitted.
    random_state : int, RandomState instance or None, default=None
        Seeds the new estimator when it has a ``random_state`` parameter set
        to ``None``, as scikit-learn's ensembles seed unseeded members; a
        seed the estimator already has is kept.

    Returns
    -------
    noise : BaseNoise
        The unfitted estimator.

    Raises
    ------
    ValueError
        If ``noise`` is a string not in ``NOISES``.
    TypeError
        If ``noise`` is neither a string nor a :class:`BaseNoise`; the message
        names the members of the contract it lacks.
    """
    if isinstance(noise, str):
        if noise not in NOISES:
            raise ValueError(
                f"Unknown noise {noise!r}; use one of {sorted(NOISES)} or a "
                "BaseNoise instance."
            )
        if noise == "quantile":
            return QuantileNoise(random_state=random_state)
        return FixedNoise(law=noise)
    if not isinstance(noise, BaseNoise):
        raise TypeError(_not_a_noise(noise))
    noise = clone(noise)
    if "random_state" in noise.get_params(deep=False):
        if noise.random_state is None:
            noise.set_params(random_state=random_state)
    return noise


def _not_a_noise(noise):
    if isinstance(noise, type) and issubclass(noise, BaseNoise):
        return (
            f"noise={noise.__name__} is a class; pass an instance such as "
            f"{noise.__name__}()."
        )
    missing = lacking(noise)
    why = f"it lacks {', '.join(missing)}" if missing else "it does not subclass it"
    return (
        f"noise={noise!r} is not a BaseNoise; {why}. Subclass "
        "adaptnoise.noise.BaseNoise and set module_ (a NoiseLaw) and device_ in "
        f"fit, or use one of {sorted(NOISES)}."
    )
