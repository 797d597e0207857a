"""The linear path: plain flow matching, with any noise, learned or fixed."""

import torch

from adaptnoise.processes._base import AffineProcess

__all__ = ["LinearProcess"]


class LinearProcess(AffineProcess):
    r"""Straight paths :math:`X_t = (1 - t) X_0 + t Z` with :math:`Z` the noise.

    The conditional velocity is :math:`Z - X_0`. With Gaussian noise this is
    plain (rectified) flow matching; with learned quantile noise it is the
    paper's quantile process. The terminal law is the generator's noise
    (``uses_noise = True``) and the path is a deterministic function of its
    ends, so minibatch OT coupling applies.

    References
    ----------
    | Flow Matching for Generative Modeling (Lipman et al., 2023).
      https://arxiv.org/abs/2210.02747
    | Adapting Noise to Data: Generative Flows from 1D Processes (2025).
      https://arxiv.org/abs/2510.12636

    Examples
    --------
    >>> import torch
    >>> from adaptnoise.processes import LinearProcess
    >>> x_t, v = LinearProcess().path(
    ...     torch.zeros(1, 2), torch.ones(1, 2), torch.full((1, 1), 0.25)
    ... )
    >>> x_t, v
    (tensor([[0.2500, 0.2500]]), tensor([[1., 1.]]))
    """

    def coefficients(self, t):
        ones = torch.ones_like(t)
        return 1 - t, -ones, t, ones

    def path(self, x0, z, t):
        # The same line as alpha x0 + beta z in exact arithmetic; this form
        # rounds as the published training did, which the golden test freezes.
        return x0 + t * (z - x0), z - x0
