"""The Ornstein-Uhlenbeck path: the variance-preserving diffusion schedule."""

import math
from numbers import Real

import torch

from adaptnoise._sklearn_compat import Interval
from adaptnoise.processes._base import AffineProcess, ComponentwiseProcess

__all__ = ["OUProcess"]

_FLOAT32 = torch.finfo(torch.float32)
# Below eps, float32 rounds e^{-h(1)} to 1 for beta_min = 0: the data are never noised.
_MIN_RATE = _FLOAT32.eps
# h(1) is at most the larger rate; beyond -log(tiny), float32 e^{-h} and g' underflow.
_MAX_RATE = -math.log(_FLOAT32.tiny)


class OUProcess(AffineProcess, ComponentwiseProcess):
    r"""Mean-reverting path of the variance-preserving (VP) diffusion.

    The path is :math:`X_t = f(t) X_0 + W_{g(t)}` per coordinate, with
    :math:`W` a Wiener process, so :math:`X_t = f(t) X_0 + \sqrt{g(t)} Z`,
    :math:`Z \sim N(0, 1)`, and

    .. math::

        h(t) = \int_0^t \beta_{\min} + u (\beta_{\max} - \beta_{\min}) du,
        \quad f(t) = e^{-h(t)/2}, \quad g(t) = 1 - e^{-h(t)}.

    The Wiener velocity field is :math:`v_s(y) = y / (2 s)`, so the
    conditional velocity is :math:`f'(t) X_0 + g'(t) Z / (2 \sqrt{g(t)})`. It
    diverges like :math:`t^{-1/2}` as :math:`t \to 0` (infinite at
    :math:`t = 0` exactly), as for any Wiener path with :math:`g'(0) > 0`.

    The terminal law used is that of :math:`W_{g(1)}`, :math:`N(0, g(1))`.
    Neither end of the schedule is exact: :math:`f(1) = e^{-h(1)/2}` is small
    but not 0 (0.0066 with the defaults) and :math:`g(1) = 1 - e^{-h(1)}` is
    close to but below 1 (0.99996), so the data keep a small weight at
    :math:`t = 1` that the terminal law ignores. The path is a deterministic
    function of its data point and :math:`Z`.

    Parameters
    ----------
    beta_min : float, default=0.1
        Noise rate at t=0, in ``[0, -log(tiny)]`` with ``tiny`` the smallest
        normal float32 number (the bound is about 87.3), so that
        :math:`e^{-h(t)}` stays representable in float32 training.

    beta_max : float, default=20.0
        Noise rate at t=1, in ``[eps, -log(tiny)]`` with ``eps`` the float32
        machine epsilon (about 1.2e-7), so that float32 training also
        resolves :math:`e^{-h(1)} < 1`.

    See Also
    --------
    KacProcess : Finite-speed noise from the telegraph process.
    UniformProcess : Compactly supported noise from an MMD gradient flow.

    References
    ----------
    Score-Based Generative Modeling through Stochastic Differential Equations
    (Song et al., 2021). https://arxiv.org/abs/2011.13456

    Examples
    --------
    >>> import torch
    >>> from adaptnoise.processes.ou import OUProcess
    >>> process = OUProcess()
    >>> f, df, g, dg = process.schedule(torch.ones(1, 1, dtype=torch.float64))
    >>> round(f.item(), 4), round(g.item(), 5)
    (0.0066, 0.99996)
    >>> generator = torch.Generator().manual_seed(0)
    >>> x0 = torch.zeros(3, 2, dtype=torch.float64)
    >>> t = torch.full((3, 1), 0.5, dtype=torch.float64)
    >>> x_t, velocity = process.sample_path(x0, t, generator)
    >>> x_t.shape, velocity.shape
    (torch.Size([3, 2]), torch.Size([3, 2]))
    """

    _parameter_constraints = {
        "beta_min": [Interval(Real, 0, _MAX_RATE, closed="both")],
        "beta_max": [Interval(Real, _MIN_RATE, _MAX_RATE, closed="both")],
    }

    def __init__(self, beta_min=0.1, beta_max=20.0):
        self.beta_min = beta_min
        self.beta_max = beta_max

    def schedule(self, t):
        """The schedule ``f = e^{-h/2}`` and ``g = 1 - e^{-h}``."""
        slope = self.beta_max - self.beta_min
        h = self.beta_min * t + slope * t * t / 2
        dh = self.beta_min + slope * t
        f = torch.exp(-h / 2)
        return f, -dh * f / 2, -torch.expm1(-h), dh * torch.exp(-h)

    def sample_y(self, s, shape, generator):
        """Draws of the Wiener process at time ``s``, ``W_s ~ N(0, s)``."""
        z = torch.randn(shape, generator=generator, dtype=s.dtype, device=s.device)
        return torch.sqrt(s) * z

    def velocity_y(self, s, y):
        """The Wiener velocity field ``v_s(y) = y / (2 s)``, ``s`` in (0, 1]."""
        return y / (2 * s)

    def log_density(self, s, y):
        """The log-density of ``W_s ~ N(0, s)``."""
        return -(y * y / s + torch.log(2 * math.pi * s)) / 2

    def coefficients(self, t):
        """The coefficients ``f``, ``f'``, ``sqrt(g / g(1))`` and its derivative.

        The Wiener part ``W_g = sqrt(g) Z`` ends at ``z = sqrt(g(1)) Z``, so
        ``X_t = f x0 + sqrt(g / g(1)) z``: a deterministic function of ``x0``
        and ``z``, which is what lets minibatch OT pair them. Times are in
        (0, 1]: at t=0 the noise's coefficient has an infinite derivative.
        """
        f, df, g, dg = self.schedule(t)
        _, _, g1, _ = self.schedule(torch.ones_like(t))
        beta = torch.sqrt(g / g1)
        return f, df, beta, dg * self.velocity_y(g, beta)
