"""The protocol every noise law implements: a product law as a torch module."""

import torch

__all__ = ["NoiseLaw"]


class NoiseLaw(torch.nn.Module):
    """A law on ``R^n_features`` that a flow draws from and scores under, in torch.

    A noise estimator's ``fit`` sets its ``module_`` to one of these; the
    estimator's ``sample`` and ``score_samples`` and the flow's training and
    likelihood all go through the three members below, so a law written
    against them works everywhere a built-in one does.

    A law holds its numbers as parameters or buffers, so the usual module
    calls move it: ``.to(device)`` changes the device it draws on and scores
    on, and ``.float()`` / ``.double()`` the dtype it computes in.
    :class:`~adaptnoise.FlowMatchingGenerator` trains on a float32 copy
    (``copy.deepcopy(module).float()``), so a law must draw and score in
    float32 as well, and keep whatever needs more precision internally (as
    :class:`QuantileNoise` does for the logit of levels near 1).

    Subclasses implement

    - ``n_features``: the number of coordinates, a property;
    - ``sample(n_samples, generator=None)``: a tensor of shape
      ``(n_samples, n_features)`` in the module's dtype and on its device,
      drawing only from ``generator`` (a ``torch.Generator`` on that device;
      ``None`` uses torch's global one);
    - ``log_prob(y)``: the elementwise log-densities of the rows ``y``, a
      tensor of shape ``(n, n_features)`` on the module's device, as a tensor
      of the same shape whose row sums are the log-density of the law;
      ``-inf`` outside a bounded support, differentiable in the parameters.
    """

    @property
    def n_features(self):
        """Number of coordinates of a draw."""
        raise NotImplementedError

    def sample(self, n_samples, generator=None):
        """Draw ``n_samples`` rows, shape ``(n_samples, n_features)``."""
        raise NotImplementedError

    def log_prob(self, y):
        """Elementwise log-densities of the rows ``y``, shape ``(n, n_features)``."""
        raise NotImplementedError
