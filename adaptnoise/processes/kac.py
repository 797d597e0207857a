"""The Kac (telegrapher) process: a finite-speed, damped noising path."""

import math
from numbers import Real

import torch

from adaptnoise._sklearn_compat import Interval, StrOptions
from adaptnoise.processes._base import ComponentwiseProcess

__all__ = ["KacProcess"]

# Below this Bessel argument z the ratios use their Taylor series: the direct
# quotients of scaled Bessel functions become 0/0 at z = 0, and at z = 1e-4 the
# first neglected series term is about z**4 / 100, far below float64 rounding.
_SMALL_Z = 1e-4

_EPS = torch.finfo(torch.float32).eps
# Below eps, the continuous mass 1 - e^{-a} of the terminal law rounds away in float32.
_MIN_A = _EPS
# Above 1 / eps, a draw's (G1 - G2) / (G1 + G2) ~ a**-0.5 keeps under half its digits.
_MAX_A = 1 / _EPS
# Outside [eps, 1 / eps], float32 x_t = (1 - t) x0 + K_t drops the noise or unit data.
_MIN_C, _MAX_C = _EPS, 1 / _EPS


class KacProcess(ComponentwiseProcess):
    r"""Mean-reverting path driven by the Kac process, one per coordinate.

    The path is :math:`X_t = (1 - t) X_0 + K_{g(t)}` with :math:`g(t) = t`
    or :math:`g(t) = t^2`, where :math:`K` is the telegraph (Kac) process

    .. math:: K_s = B c \int_0^s (-1)^{N(u)} du,

    :math:`B` a fair random sign and :math:`N` a Poisson process of rate
    :math:`a`: a particle moving at speed :math:`c` that reverses direction
    at rate :math:`a`. Its law at time :math:`s` has two atoms of mass
    :math:`e^{-a s}/2` at :math:`\pm c s` and, with :math:`\beta = a / c` and
    :math:`r = \sqrt{c^2 s^2 - x^2}`, the density on :math:`(-c s, c s)`

    .. math::

        p_s(x) = \tfrac12 e^{-a s} \beta \Big[ I_0(\beta r)
                 + c s \frac{I_1(\beta r)}{r} \Big],

    which solves the damped wave equation
    :math:`\partial_{ss} u + 2 a \partial_s u = c^2 \partial_{xx} u`. The
    velocity field transporting it is

    .. math::

        v_s(x) = \frac{x}{s + (r / c) I_0(\beta r) / I_1(\beta r)}

    inside the cone and :math:`\pm c` on the atoms, so :math:`|v_s| \le c`:
    noise travels at finite speed. As :math:`a, c \to \infty` with
    :math:`c^2 / a` fixed the process tends to a Brownian motion of variance
    :math:`c^2 / a`. The conditional velocity of the path is
    :math:`-X_0 + g'(t) v_{g(t)}(X_t - (1 - t) X_0)`.

    The terminal value does not determine the path, so minibatch OT coupling
    of data and noise does not apply (``deterministic = False``).

    Parameters
    ----------
    a : float, default=9.0
        Damping: the rate at which the particle reverses direction, in
        ``[eps, 1 / eps]`` with ``eps`` the float32 machine epsilon (about
        1.2e-7), where float32 training resolves the continuous part of the
        law and draws it accurately.

    c : float, default=3.0
        Speed. The terminal law is supported on :math:`[-c, c]`. In
        ``[eps, 1 / eps]`` like ``a``, so that float32 training resolves the
        noise next to unit-scale data.

    time_change : {"t", "t2"}, default="t"
        The time change :math:`g`: ``"t"`` for :math:`g(t) = t` (the published
        default) or ``"t2"`` for :math:`g(t) = t^2`. It is not named
        ``schedule`` because :meth:`schedule` is a method.

    See Also
    --------
    UniformProcess : Compactly supported noise from an MMD gradient flow.
    OUProcess : The variance-preserving diffusion path.

    Notes
    -----
    Bessel functions are evaluated as exponentially scaled ``i0e`` and
    ``i1e``, with the exponent combined analytically as
    :math:`\beta r - a s = -\beta x^2 / (r + c s)`, so no term overflows for
    :math:`a s` up to at least :math:`10^4`.

    Sampling is exact at any :math:`s`. Given :math:`N(s) = n` the switch
    times are uniform order statistics on :math:`(0, s)`, whose :math:`n + 1`
    spacings are :math:`s` times a flat Dirichlet vector, that is independent
    standard exponentials divided by their sum. The alternating sum of
    spacings is therefore :math:`c s (2 \mathrm{Beta}(\lfloor n/2 \rfloor + 1,
    \lceil n/2 \rceil) - 1)`, drawn from two Gamma variables: constant cost
    per sample however large :math:`a s` is, and no Gaussian approximation.

    References
    ----------
    Telegrapher's Generative Model via Kac Flows (Duong, Chemseddine, Friz,
    Steidl, 2025).

    Examples
    --------
    >>> import torch
    >>> from adaptnoise.processes.kac import KacProcess
    >>> process = KacProcess(a=9.0, c=3.0)
    >>> generator = torch.Generator().manual_seed(0)
    >>> x0 = torch.zeros(4, 2, dtype=torch.float64)
    >>> t = torch.full((4, 1), 0.5, dtype=torch.float64)
    >>> x_t, velocity = process.sample_path(x0, t, generator)
    >>> bool((velocity.abs() <= 3.0).all())
    True
    >>> y = torch.tensor([[0.0, 1.0, 3.0]], dtype=torch.float64)
    >>> process.velocity_y(torch.ones(1, 1, dtype=torch.float64), y)
    tensor([[0.0000, 0.4990, 3.0000]], dtype=torch.float64)
    """

    deterministic = False

    _parameter_constraints = {
        "a": [Interval(Real, _MIN_A, _MAX_A, closed="both")],
        "c": [Interval(Real, _MIN_C, _MAX_C, closed="both")],
        "time_change": [StrOptions({"t", "t2"})],
    }

    def __init__(self, a=9.0, c=3.0, time_change="t"):
        self.a = a
        self.c = c
        self.time_change = time_change

    def schedule(self, t):
        """The schedule ``f(t) = 1 - t``, ``g(t) = t`` or ``t^2`` by ``time_change``."""
        if self.time_change == "t2":
            g, dg = t * t, 2 * t
        else:
            g, dg = t, torch.ones_like(t)
        return 1 - t, -torch.ones_like(t), g, dg

    def sample_y(self, s, shape, generator):
        """Exact draws of the Kac process ``K_s``, as described in the Notes."""
        s = s.expand(shape)
        n_switches = torch.poisson(self.a * s, generator=generator)
        # Even spacings run in the initial direction, odd ones against it.
        n_even = torch.floor(n_switches / 2) + 1
        n_odd = n_switches + 1 - n_even
        even = torch._standard_gamma(n_even, generator=generator)
        odd = torch._standard_gamma(n_odd.clamp(min=1), generator=generator)
        odd = torch.where(n_odd > 0, odd, torch.zeros_like(odd))
        sign = 2 * torch.bernoulli(torch.full_like(s, 0.5), generator=generator) - 1
        # With no switch the fraction is exactly 1, so the draw sits exactly on
        # the atom c * s, where ``velocity_y`` returns the speed c.
        return sign * (self.c * s) * ((even - odd) / (even + odd))

    def velocity_y(self, s, y):
        """The Kac velocity field: ``v_s(y)`` inside the cone ``|y| < c s``.

        On and outside the cone's edge it is ``c sign(y)``, so ``|v_s| <= c``
        everywhere (0 at ``s = y = 0``, where both directions are equally
        likely).
        """
        inside, y_in, _, r = self._cone(s, y)
        v_in = y_in / (s + _z_i0_over_i1((self.a / self.c) * r) / self.a)
        # |v| < c holds exactly; the clamp only absorbs rounding at extreme a.
        v_in = v_in.clamp(-self.c, self.c)
        return torch.where(inside, v_in, self.c * torch.sign(y))

    def log_density(self, s, y):
        """Log of ``p_s(y)`` on the open cone ``|y| < c s``, ``-inf`` elsewhere.

        On the cone's edge the law has atoms but no density.
        """
        inside, y_in, cs_in, r = self._cone(s, y)
        beta = self.a / self.c
        bracket = torch.special.i0e(beta * r) + cs_in * beta * _i1e_over_z(beta * r)
        # beta r - a s, written without the cancellation of two large terms.
        exponent = -beta * y_in * y_in / (r + cs_in)
        log_p = math.log(beta / 2) + exponent + torch.log(bracket)
        return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))

    def density(self, s, y):
        """The Kac law: ``p_s(y)``, and atoms of mass ``e^{-a s} / 2`` at ``+-c s``."""
        s, y = torch.broadcast_tensors(s, y)
        return torch.exp(self.log_density(s, y)), torch.exp(-self.a * s) / 2

    def sample_path(self, x0, t, generator):
        """A point ``X_t = f(t) x0 + K_{g(t)}`` of a fresh path and its velocity.

        The velocity is evaluated at the drawn ``K_{g(t)}`` itself, not at
        ``X_t - f(t) x0``, so that a draw on an atom is recognised exactly.
        """
        f, df, g, dg = self.schedule(t)
        y = self.sample_y(g, x0.shape, generator)
        return f * x0 + y, df * x0 + dg * self.velocity_y(g, y)

    def _cone(self, s, y):
        """The open cone ``|y| < c s`` and ``r = sqrt(c^2 s^2 - y^2)`` inside it.

        Returns ``inside``, its mask, and ``y_in``, ``cs_in`` and ``r``,
        broadcast like ``s`` and ``y``. Outside the cone ``y_in`` is 0 and
        ``cs_in`` is 1, harmless values with which no masked-out branch
        produces NaN.
        """
        s, y = torch.broadcast_tensors(s, y)
        cs = self.c * s
        inside = y.abs() < cs
        y_in = torch.where(inside, y, torch.zeros_like(y))
        cs_in = torch.where(inside, cs, torch.ones_like(cs))
        return inside, y_in, cs_in, torch.sqrt((cs_in - y_in) * (cs_in + y_in))


def _z_i0_over_i1(z):
    """``z I0(z) / I1(z)``, which tends to 2 at z = 0."""
    return _by_size(
        z,
        lambda z: 2 + z * z / 4,
        lambda z: z * torch.special.i0e(z) / torch.special.i1e(z),
    )


def _i1e_over_z(z):
    """``e^{-z} I1(z) / z``, which tends to 1/2 at z = 0."""
    return _by_size(
        z,
        lambda z: torch.exp(-z) * (0.5 + z * z / 16),
        lambda z: torch.special.i1e(z) / z,
    )


def _by_size(z, series, direct):
    """``series(z)`` below ``_SMALL_Z``, ``direct(z)`` above, NaN-free in both."""
    small = z < _SMALL_Z
    return torch.where(
        small, series(z), direct(torch.where(small, torch.ones_like(z), z))
    )
