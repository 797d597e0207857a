"""The uniform process: an MMD gradient flow towards compactly supported noise."""

import math
from numbers import Real

import torch

from adaptnoise._sklearn_compat import Interval
from adaptnoise.processes._base import AffineProcess, ComponentwiseProcess

__all__ = ["UniformProcess"]

_FLOAT32 = torch.finfo(torch.float32)
# Below eps, the noise's half-width ~b drowns in float32 rounding of unit-scale data.
_MIN_B = _FLOAT32.eps
# Above 1 / tiny, the subnormal s / b costs w(s) = -b expm1(-s / b) float32 accuracy.
_MAX_B = 1 / _FLOAT32.tiny


class UniformProcess(AffineProcess, ComponentwiseProcess):
    r"""Mean-reverting path driven by a shrinking-to-uniform 1D process.

    The path is :math:`X_t = (1 - t) X_0 + Y_t` per coordinate with

    .. math:: Y_s = w(s) U, \quad w(s) = b (1 - e^{-s/b}), \quad U \sim U[-1, 1],

    the Wasserstein gradient flow, started at a point mass, of the MMD with
    kernel :math:`-|x - y|` towards :math:`U[-b, b]`: its quantile function
    solves :math:`\partial_s Q_s(u) = (2u - 1) - Q_s(u) / b`. The law of
    :math:`Y_s` is uniform on :math:`[-w(s), w(s)]` and its velocity field is

    .. math:: v_s(y) = \frac{y}{b (e^{s/b} - 1)} = e^{-s/b} U,

    so :math:`\|v_s\|^2_{L^2(\mu_s)} = e^{-2s/b} / 3`. The conditional
    velocity of the path is :math:`-X_0 + v_t(X_t - (1 - t) X_0)`. The terminal
    law is uniform on :math:`[-w(1), w(1)]`; the path is a deterministic
    function of its data point and :math:`U`, so minibatch OT coupling applies.

    Parameters
    ----------
    b : float, default=1.0
        Half-width of the uniform target of the gradient flow. The terminal
        half-width is :math:`b (1 - e^{-1/b}) < \min(b, 1)`. In
        ``[eps, 1 / tiny]``, with ``eps`` the float32 machine epsilon (about
        1.2e-7) and ``tiny`` the smallest normal float32 number (about
        1.2e-38), where float32 training represents the noise and its
        schedule.

    See Also
    --------
    KacProcess : Finite-speed noise from the telegraph process.
    OUProcess : The variance-preserving diffusion path.

    References
    ----------
    Adapting Noise to Data: Generative Flows from 1D Processes (2025).
    https://arxiv.org/abs/2510.12636

    Examples
    --------
    >>> import torch
    >>> from adaptnoise.processes.uniform import UniformProcess
    >>> process = UniformProcess(b=1.0)
    >>> generator = torch.Generator().manual_seed(0)
    >>> z = process.terminal_sample(1000, 2, generator)
    >>> bool((z.abs() <= 1 - torch.exp(torch.tensor(-1.0))).all())
    True
    >>> y = torch.tensor([[0.5]], dtype=torch.float64)
    >>> process.velocity_y(torch.ones(1, 1, dtype=torch.float64), y)
    tensor([[0.2910]], dtype=torch.float64)
    """

    _parameter_constraints = {"b": [Interval(Real, _MIN_B, _MAX_B, closed="both")]}

    def __init__(self, b=1.0):
        self.b = b

    def _half_width(self, s):
        return -self.b * torch.expm1(-s / self.b)

    def schedule(self, t):
        """The schedule ``f(t) = 1 - t`` and ``g(t) = t``."""
        ones = torch.ones_like(t)
        return 1 - t, -ones, t, ones

    def sample_y(self, s, shape, generator):
        """Draws of ``Y_s = w(s) U``, ``U ~ U[-1, 1]``."""
        u = torch.rand(shape, generator=generator, dtype=s.dtype, device=s.device)
        return self._half_width(s) * (2 * u - 1)

    def velocity_y(self, s, y):
        """The velocity field ``v_s(y) = y / (b (e^{s/b} - 1))``, ``s`` in (0, 1]."""
        return y / (self.b * torch.expm1(s / self.b))

    def log_density(self, s, y):
        """``-log(2 w(s))`` on the support ``[-w(s), w(s)]``, ``-inf`` outside it."""
        s, y = torch.broadcast_tensors(s, y)
        width = self._half_width(s)
        log_p = -torch.log(2 * width)
        return torch.where(y.abs() <= width, log_p, torch.full_like(log_p, -math.inf))

    def coefficients(self, t):
        """The coefficients ``1 - t``, ``-1``, ``w(t) / w(1)`` and its derivative.

        ``Y_s = w(s) U`` ends at ``z = w(1) U``, so ``X_t = (1 - t) x0 +
        (w(t) / w(1)) z``: a deterministic function of ``x0`` and ``z``, which
        is what lets minibatch OT pair them.
        """
        f, df, g, dg = self.schedule(t)
        terminal = self._half_width(torch.ones_like(t))
        # w'(g) = e^{-g/b} avoids the 0/0 of v_g(y) = y / (b (e^{g/b} - 1)) at t = 0.
        rate = dg * torch.exp(-g / self.b)
        return f, df, self._half_width(g) / terminal, rate / terminal
