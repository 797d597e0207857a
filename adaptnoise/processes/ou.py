"""The Ornstein-Uhlenbeck path: the variance-preserving diffusion schedule."""

import math
from numbers import Real

import torch

from adaptnoise._sklearn_compat import Interval
from adaptnoise.processes._base import BaseProcess

__all__ = ["OUProcess"]


class OUProcess(BaseProcess):
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
        Noise rate at t=0.

    beta_max : float, default=20.0
        Noise rate at t=1.

    Attributes
    ----------
    deterministic : bool
        ``True``: a path is a function of its data point and its noise.
    uses_noise : bool
        ``False``: the process brings its own terminal law.

    See Also
    --------
    KacProcess : Finite-speed noise from the telegraph process.
    UniformProcess : Compactly supported noise from an MMD gradient flow.

    References
    ----------
    | Score-Based Generative Modeling through Stochastic Differential
      Equations (Song et al., 2021). https://arxiv.org/abs/2011.13456
    | Adapting Noise to Data: Generative Flows from 1D Processes (2025).
      https://arxiv.org/abs/2510.12636

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

    deterministic = True
    uses_noise = False

    _parameter_constraints = {
        "beta_min": [Interval(Real, 0, None, closed="left")],
        "beta_max": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, beta_min=0.1, beta_max=20.0):
        self.beta_min = beta_min
        self.beta_max = beta_max

    def schedule(self, t):
        """The coefficients ``f = e^{-h/2}``, ``f'``, ``g = 1 - e^{-h}`` and ``g'``.

        Parameters
        ----------
        t : torch.Tensor of shape (n_samples, 1)
            Times in [0, 1].

        Returns
        -------
        f, df, g, dg : torch.Tensor of shape (n_samples, 1)
        """
        slope = self.beta_max - self.beta_min
        h = self.beta_min * t + slope * t * t / 2
        dh = self.beta_min + slope * t
        f = torch.exp(-h / 2)
        return f, -dh * f / 2, -torch.expm1(-h), dh * torch.exp(-h)

    def sample_y(self, s, shape, generator):
        """Draws of the Wiener process at time ``s``, ``N(0, s)``.

        Parameters
        ----------
        s : torch.Tensor of shape (n_samples, 1)
            Times in [0, 1]; ``W_0 = 0``.
        shape : tuple of int
            ``(n_samples, n_features)``.
        generator : torch.Generator
            The only source of randomness.

        Returns
        -------
        y : torch.Tensor of shape ``shape``
        """
        z = torch.randn(shape, generator=generator, dtype=s.dtype, device=s.device)
        return torch.sqrt(s) * z

    def velocity_y(self, s, y):
        """The Wiener velocity field ``v_s(y) = y / (2 s)``.

        Parameters
        ----------
        s : torch.Tensor broadcastable with ``y``
            Times in (0, 1].
        y : torch.Tensor
            Positions.

        Returns
        -------
        v : torch.Tensor
        """
        return y / (2 * s)

    def log_density(self, s, y):
        """Log-density of ``W_s ~ N(0, s)``.

        Parameters
        ----------
        s : torch.Tensor broadcastable with ``y``
            Times in (0, 1].
        y : torch.Tensor
            Positions.

        Returns
        -------
        log_p : torch.Tensor
        """
        return -(y * y / s + torch.log(2 * math.pi * s)) / 2

    def density(self, s, y):
        """The law of ``W_s``: its density at ``y`` and its atom mass (none).

        Parameters
        ----------
        s : torch.Tensor broadcastable with ``y``
            Times in (0, 1].
        y : torch.Tensor
            Positions.

        Returns
        -------
        density, atom_mass : torch.Tensor
            The Gaussian density and zeros, both broadcast like ``s`` and ``y``.
        """
        s, y = torch.broadcast_tensors(s, y)
        log_p = self.log_density(s, y)
        return torch.exp(log_p), torch.zeros_like(log_p)

    def sample_path(self, x0, t, generator):
        """A point ``X_t`` of a fresh path from ``x0`` and its target velocity.

        Parameters
        ----------
        x0 : torch.Tensor of shape (n_samples, n_features)
            Data at t=0.
        t : torch.Tensor of shape (n_samples, 1)
            Times in (0, 1]; at t=0 the velocity is infinite.
        generator : torch.Generator
            Source of the path's noise ``Z``.

        Returns
        -------
        x_t, velocity : torch.Tensor of shape (n_samples, n_features)
            The point and its conditional velocity ``dX_t / dt``.
        """
        y1 = self.terminal_sample(*x0.shape, generator, x0.dtype, x0.device)
        return self.path_to(x0, y1, t)

    def path_to(self, x0, y1, t):
        """The path from ``x0`` whose Wiener part ends at the terminal draw ``y1``.

        ``Y_g = sqrt(g) Z`` with ``Z = y1 / sqrt(g(1))``: the path is a
        deterministic function of ``x0`` and ``y1``, which is what lets
        minibatch OT pair them.

        Parameters
        ----------
        x0, y1 : torch.Tensor of shape (n_samples, n_features)
            Data at t=0 and terminal draws of ``Y_{g(1)}``.
        t : torch.Tensor of shape (n_samples, 1)
            Times in (0, 1].

        Returns
        -------
        x_t, velocity : torch.Tensor of shape (n_samples, n_features)
            The point and its conditional velocity ``dX_t / dt``.
        """
        f, df, g, dg = self.schedule(t)
        _, _, g1, _ = self.schedule(torch.ones_like(t))
        y = torch.sqrt(g / g1) * y1
        return f * x0 + y, df * x0 + dg * self.velocity_y(g, y)

    def terminal_sample(
        self, n_samples, n_features, generator, dtype=torch.float64, device="cpu"
    ):
        """Draws of the terminal law ``N(0, g(1))``, ignoring ``f(1) X_0``.

        Parameters
        ----------
        n_samples, n_features : int
            Shape of the draw.
        generator : torch.Generator
            Source of randomness, on ``device``.
        dtype : torch.dtype, default=torch.float64
        device : str or torch.device, default="cpu"

        Returns
        -------
        z : torch.Tensor of shape (n_samples, n_features)
        """
        ones = torch.ones((n_samples, 1), dtype=dtype, device=device)
        _, _, g, _ = self.schedule(ones)
        return self.sample_y(g, (n_samples, n_features), generator)

    def terminal_log_prob(self, y):
        """Elementwise log-density of the terminal law ``N(0, g(1))``.

        Parameters
        ----------
        y : torch.Tensor
            Positions.

        Returns
        -------
        log_p : torch.Tensor shaped like ``y``
        """
        _, _, g, _ = self.schedule(torch.ones_like(y))
        return self.log_density(g, y)
