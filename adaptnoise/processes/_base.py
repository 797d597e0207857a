"""The interface every noising process implements, and the bases that share it."""

import torch
from sklearn.base import BaseEstimator

__all__ = ["AffineProcess", "BaseProcess", "ComponentwiseProcess", "TerminalLaw"]


class BaseProcess(BaseEstimator):
    """A path from data (t=0) to noise (t=1), applied coordinate by coordinate.

    A process holds only parameters, so ``get_params``, ``set_params``,
    ``clone`` and nested grid-search names such as ``process__a`` work. Its
    public interface is :attr:`deterministic`, :attr:`uses_noise`,
    :meth:`path`, :meth:`sample_path` and :meth:`terminal_law`.

    A process whose terminal law is the generator's noise needs only
    :meth:`path`. One that brings its own law sets ``uses_noise = False``
    and implements :meth:`terminal_law`; if it is deterministic it
    implements :meth:`path` and inherits :meth:`sample_path`, otherwise it
    implements :meth:`sample_path`.

    Attributes
    ----------
    deterministic : bool
        Whether a path is a deterministic function of its data point and its
        terminal draw; only then can minibatch OT coupling pair the two, and
        only then is :meth:`path` defined.
    uses_noise : bool
        Whether the terminal law is the generator's ``noise``, as for the
        linear path; otherwise the process brings its own law,
        :meth:`terminal_law`.
    """

    deterministic = True
    uses_noise = True
    _parameter_constraints: dict = {}

    def path(self, x0, z, t):
        """The point ``X_t`` of the path from ``x0`` to ``z`` and its velocity.

        Parameters
        ----------
        x0 : torch.Tensor of shape (n_samples, n_features)
            Data at t=0.
        z : torch.Tensor of shape (n_samples, n_features)
            Terminal draws at t=1, already paired with ``x0``.
        t : torch.Tensor of shape (n_samples, 1)
            Times in [0, 1].

        Returns
        -------
        x_t, velocity : torch.Tensor of shape (n_samples, n_features)
            The point and the conditional velocity ``dX_t/dt``.

        Raises
        ------
        NotImplementedError
            For a process that is not deterministic: its path is not a
            function of its ends.
        """
        name = type(self).__name__
        if not self.deterministic:
            raise NotImplementedError(
                f"{name}.path is not defined: a {name} path is not a deterministic "
                "function of its ends (deterministic=False); use "
                "sample_path(x0, t, generator)."
            )
        raise _unimplemented(self, "path(x0, z, t)")

    def sample_path(self, x0, t, generator):
        """A point ``X_t`` of a fresh random path from ``x0`` and its velocity.

        For a deterministic process the path is :meth:`path` to a draw of
        :meth:`terminal_law` in the dtype and on the device of ``x0``.

        Parameters
        ----------
        x0 : torch.Tensor of shape (n_samples, n_features)
            Data at t=0.
        t : torch.Tensor of shape (n_samples, 1)
            Times in [0, 1].
        generator : torch.Generator
            The only source of the path's randomness, on the device of ``x0``.

        Returns
        -------
        x_t, velocity : torch.Tensor of shape (n_samples, n_features)
            The point and its target velocity, the conditional ``dX_t/dt``.

        Raises
        ------
        TypeError
            For a process that uses the generator's noise: the terminal draw
            belongs to the noise, so draw it there and call :meth:`path`.
        NotImplementedError
            For a process that is not deterministic and does not override
            this method.
        """
        if self.uses_noise:
            raise TypeError(self._no_own_law("sample_path"))
        if not self.deterministic:
            raise _unimplemented(self, "sample_path(x0, t, generator)")
        n_samples, n_features = x0.shape
        law = self.terminal_law(n_features).to(device=x0.device, dtype=x0.dtype)
        return self.path(x0, law.sample(n_samples, generator), t)

    def terminal_law(self, n_features):
        """The process's own terminal law, the law of ``X_1`` without the data.

        Parameters
        ----------
        n_features : int
            Number of coordinates.

        Returns
        -------
        law : torch.nn.Module
            Has ``sample(n_samples, generator=None)``, draws of shape
            ``(n_samples, n_features)`` in the module's dtype and on its
            device, and ``log_prob(y)``, the elementwise log-density. It
            draws in float64 on the CPU until moved with ``.to()`` or
            ``.float()``.

        Raises
        ------
        TypeError
            For a process that uses the generator's noise: it has no law of
            its own.
        """
        if self.uses_noise:
            raise TypeError(self._no_own_law("terminal_law"))
        raise _unimplemented(self, "terminal_law(n_features)")

    def _no_own_law(self, method):
        return (
            f"{type(self).__name__}.{method} is not available: its paths end at the "
            "generator's noise (uses_noise=True), so it has no terminal law of its "
            "own; draw z from the noise and call path(x0, z, t)."
        )


class TerminalLaw(torch.nn.Module):
    """The terminal law of a process that brings its own, as a noise law.

    It wraps the process's ``terminal_sample`` and ``terminal_log_prob``;
    ``.to()``, ``.float()`` and ``.double()`` choose the dtype and device
    of its draws.

    Parameters
    ----------
    process : BaseProcess
        A process with ``terminal_sample(n_samples, n_features, generator,
        dtype, device)`` and ``terminal_log_prob(y)``.
    n_features : int
        Number of coordinates.
    """

    def __init__(self, process, n_features):
        super().__init__()
        self.process = process
        self._n_features = n_features
        # An empty buffer is moved and cast with the module, so it records
        # where and in which dtype to draw.
        self.register_buffer(
            "_anchor", torch.empty(0, dtype=torch.float64), persistent=False
        )

    @property
    def n_features(self):
        """int: Number of coordinates of a draw."""
        return self._n_features

    def sample(self, n_samples, generator=None):
        """Draws of the terminal law.

        Parameters
        ----------
        n_samples : int
            Number of draws.
        generator : torch.Generator, default=None
            Source of randomness, on the module's device; ``None`` uses
            torch's global generator.

        Returns
        -------
        z : torch.Tensor of shape (n_samples, n_features)
        """
        return self.process.terminal_sample(
            n_samples,
            self.n_features,
            generator,
            self._anchor.dtype,
            self._anchor.device,
        )

    def log_prob(self, y):
        """Elementwise log-density of the terminal law.

        Parameters
        ----------
        y : torch.Tensor of shape (n_samples, n_features)
            Positions.

        Returns
        -------
        log_p : torch.Tensor of shape (n_samples, n_features)
        """
        return self.process.terminal_log_prob(y)

    def extra_repr(self):
        return f"process={self.process!r}, n_features={self.n_features}"


class AffineProcess(BaseProcess):
    r"""A deterministic path affine in its ends.

    The path is :math:`X_t = \alpha(t) X_0 + \beta(t) Z` with velocity
    :math:`\alpha'(t) X_0 + \beta'(t) Z`; a subclass supplies only
    :meth:`coefficients`.
    """

    deterministic = True

    def coefficients(self, t):
        """The coefficients ``alpha(t)``, ``alpha'(t)``, ``beta(t)``, ``beta'(t)``.

        Parameters
        ----------
        t : torch.Tensor of shape (n_samples, 1)
            Times in [0, 1].

        Returns
        -------
        alpha, dalpha, beta, dbeta : torch.Tensor of shape (n_samples, 1)
        """
        raise _unimplemented(self, "coefficients(t)")

    def path(self, x0, z, t):
        alpha, dalpha, beta, dbeta = self.coefficients(t)
        return alpha * x0 + beta * z, dalpha * x0 + dbeta * z


class ComponentwiseProcess(BaseProcess):
    r"""A mean-reverting path :math:`X_t = f(t) X_0 + Y_{g(t)}` with its own law.

    :math:`Y` is a 1D process started at 0, independent per coordinate, with
    a velocity field :math:`v_s` transporting its law; the conditional
    velocity is :math:`f'(t) X_0 + g'(t) v_{g(t)}(X_t - f(t) X_0)`. The
    terminal law is that of :math:`Y_{g(1)}`, ignoring :math:`f(1) X_0`. A
    subclass supplies :meth:`schedule`, :meth:`sample_y`, :meth:`velocity_y`
    and :meth:`log_density`, and overrides :meth:`density` for a law with
    atoms.

    :meth:`velocity_y`, :meth:`log_density` and :meth:`density` all take
    ``s``, a tensor of times broadcastable with ``y``, and ``y``, a tensor of
    positions, and return tensors broadcast like both. The density is
    defined for ``s`` in (0, 1]; the velocity field also at ``s = 0`` where
    the process allows.

    References
    ----------
    Adapting Noise to Data: Generative Flows from 1D Processes (2025).
    https://arxiv.org/abs/2510.12636
    """

    uses_noise = False

    def schedule(self, t):
        """The coefficients ``f(t)``, ``f'(t)``, ``g(t)`` and ``g'(t)``.

        Parameters
        ----------
        t : torch.Tensor
            Times in [0, 1].

        Returns
        -------
        f, df, g, dg : torch.Tensor shaped like ``t``
        """
        raise _unimplemented(self, "schedule(t)")

    def sample_y(self, s, shape, generator):
        """Draws of ``Y_s``.

        Parameters
        ----------
        s : torch.Tensor of shape (n_samples, 1)
            Times in [0, 1]; ``Y_0 = 0``.
        shape : tuple of int
            ``(n_samples, n_features)``.
        generator : torch.Generator
            The only source of randomness.

        Returns
        -------
        y : torch.Tensor of shape ``shape``, in the dtype and on the device of ``s``
        """
        raise _unimplemented(self, "sample_y(s, shape, generator)")

    def velocity_y(self, s, y):
        """The velocity field ``v_s(y)`` transporting the law of ``Y_s``."""
        raise _unimplemented(self, "velocity_y(s, y)")

    def log_density(self, s, y):
        """Log of the continuous density of ``Y_s``, ``-inf`` where it has none."""
        raise _unimplemented(self, "log_density(s, y)")

    def density(self, s, y):
        """The law of ``Y_s``: its density at ``y`` and the mass of each atom.

        Returns
        -------
        density : torch.Tensor
            The continuous density, ``exp(log_density(s, y))``.
        atom_mass : torch.Tensor
            The mass of each atom; zeros for a law without atoms, as here.
        """
        s, y = torch.broadcast_tensors(s, y)
        log_p = self.log_density(s, y)
        return torch.exp(log_p), torch.zeros_like(log_p)

    def terminal_sample(
        self, n_samples, n_features, generator, dtype=torch.float64, device="cpu"
    ):
        """Draws of the terminal law, the law of ``Y_{g(1)}``.

        Parameters
        ----------
        n_samples, n_features : int
            Shape of the draw.
        generator : torch.Generator or None
            Source of randomness, on ``device``; ``None`` uses torch's
            global generator.
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
        """Elementwise log-density of the terminal law, ``-inf`` where it has none.

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

    def terminal_law(self, n_features):
        return TerminalLaw(self, n_features)


def _unimplemented(process, signature):
    return NotImplementedError(f"{type(process).__name__} must implement {signature}.")
