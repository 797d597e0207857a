"""The interface every noising process implements."""

from sklearn.base import BaseEstimator

__all__ = ["BaseProcess"]


class BaseProcess(BaseEstimator):
    """A path from data (t=0) to noise (t=1), applied coordinate by coordinate.

    A process holds only parameters, so ``get_params``, ``set_params``,
    ``clone`` and nested grid-search names such as ``process__a`` work. It
    supplies the conditional path and its velocity for training, and the
    law of the terminal noise.

    Attributes
    ----------
    deterministic : bool
        Whether a path is a deterministic function of its data point and its
        terminal noise; only then does minibatch OT coupling of the two make
        sense. Such a process that brings its own terminal law implements
        ``path_to(x0, y1, t)``, the path ending at the terminal draw ``y1``.
    uses_noise : bool
        Whether the terminal law is the generator's ``noise`` (the linear
        path); otherwise the process brings its own terminal law.
    """

    deterministic = True
    uses_noise = True
    _parameter_constraints: dict = {}

    def sample_path(self, x0, z, t):
        """The point ``X_t`` of the path from ``x0`` to ``z`` and its velocity.

        Parameters
        ----------
        x0 : torch.Tensor of shape (n_samples, n_features)
            Data at t=0.
        z : torch.Tensor of shape (n_samples, n_features)
            Terminal noise at t=1, already paired with ``x0``.
        t : torch.Tensor of shape (n_samples, 1)
            Times in [0, 1].

        Returns
        -------
        x_t, velocity : torch.Tensor of shape (n_samples, n_features)
            The point and the conditional velocity ``dX_t/dt``.
        """
        raise NotImplementedError
