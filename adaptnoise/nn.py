"""The default velocity network: an MLP on Fourier codes of the state and time."""

import math
from numbers import Integral, Real

import torch

__all__ = ["VelocityMLP"]

_ACTIVATIONS = {"silu": torch.nn.SiLU, "gelu": torch.nn.GELU, "relu": torch.nn.ReLU}
# The most numbers (weights, biases and the Fourier projection) a network may
# hold. 2**31 float32 numbers take 8 GiB, and training keeps several copies
# (the weights, their gradients, Adam's two moments, a moving average), which
# outgrows the memory of most machines, while a tabular density needs a tiny
# fraction of it. Sizes past it could never be trained: without the bound they
# reach torch's allocator and fail there with its raw message.
_MAX_WEIGHTS = 2**31


class VelocityMLP(torch.nn.Module):
    """Multilayer perceptron for the velocity ``v(t, x)`` of a flow.

    Data sit at t=0 and noise at t=1. The time is coded as ``sin(w t)`` and
    ``cos(w t)`` for ``time_embedding_dim / 2`` frequencies ``w`` spaced
    geometrically from 1 to 100. The state ``x`` enters as itself and as
    random Fourier features ``sin(2 pi x B)`` and ``cos(2 pi x B)``
    (Tancik et al., 2020, https://arxiv.org/abs/2006.10739): a plain MLP is
    biased towards smooth functions and blurs the sharp edges a velocity
    field needs near compactly supported data, while these codes let it fit
    them. ``B`` has ``fourier_features / 2`` columns of independent normal
    entries with standard deviation ``fourier_scale / sqrt(n_features)``, so
    for standardised ``x`` the phases spread alike at any dimension. All the
    codes are concatenated and fed to an MLP whose output has ``n_features``
    columns. All layers keep torch's default initialisation: a zero last
    layer would start from ``v = 0`` but leave the hidden layers without
    gradient on the first step. ``B`` and the weights are drawn from
    ``generator``, so a seeded generator makes the network reproducible
    without touching torch's global generator.

    Parameters
    ----------
    n_features : int
        Dimension of ``x`` and of the output.
    hidden_layer_sizes : tuple of int, default=(128, 128, 128)
        Widths of the hidden layers; an empty tuple gives an affine map.
    time_embedding_dim : int, default=32
        Even number of sinusoidal time features.
    activation : {"silu", "gelu", "relu"}, default="silu"
        Nonlinearity after each hidden layer.
    fourier_features : int, default=128
        Even number of random Fourier features of ``x``; 0 feeds ``x`` alone.
    fourier_scale : float, default=0.5
        Spread of the Fourier frequencies (see above); larger values resolve
        finer detail and fit noise sooner.
    generator : torch.Generator or None, default=None
        Source of ``B`` and of the initial weights; ``None`` draws from
        torch's global generator, as torch's own layers do.

    Raises
    ------
    ValueError
        If a size is not a positive int, ``time_embedding_dim`` or
        ``fourier_features`` is odd or negative, ``fourier_scale`` is not
        positive, ``activation`` is unknown, or the sizes would give the
        network more than 2**31 weights.

    Examples
    --------
    >>> import torch
    >>> net = VelocityMLP(2, hidden_layer_sizes=(16,))
    >>> net(torch.tensor(0.5), torch.zeros(3, 2)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        n_features,
        hidden_layer_sizes=(128, 128, 128),
        time_embedding_dim=32,
        activation="silu",
        fourier_features=128,
        fourier_scale=0.5,
        generator=None,
    ):
        super().__init__()
        hidden_layer_sizes = tuple(hidden_layer_sizes)
        _check_fourier(fourier_features, fourier_scale)
        _check_sizes(
            n_features,
            hidden_layer_sizes,
            time_embedding_dim,
            activation,
            fourier_features,
        )
        self.n_features = n_features
        self.hidden_layer_sizes = hidden_layer_sizes
        self.time_embedding_dim = time_embedding_dim
        self.activation = activation
        self.fourier_features = fourier_features
        self.fourier_scale = fourier_scale
        # Angular frequencies 1 to 100: the slowest has a period longer than
        # the unit interval, so it codes t monotonically; the fastest resolves
        # t to a few hundredths.
        frequencies = torch.logspace(0.0, 2.0, time_embedding_dim // 2)
        self.register_buffer("frequencies", frequencies, persistent=False)
        # Random, so persistent: a state dict must carry it to rebuild the net.
        projection = torch.randn(n_features, fourier_features // 2, generator=generator)
        projection *= 2 * torch.pi * fourier_scale / n_features**0.5
        self.register_buffer("projection", projection)
        n_inputs = time_embedding_dim + n_features + fourier_features
        widths = (n_inputs, *hidden_layer_sizes)
        layers = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [_linear(n_in, n_out, generator), _ACTIVATIONS[activation]()]
        layers.append(_linear(widths[-1], n_features, generator))
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, t, x):
        """Velocity at times ``t`` and states ``x``.

        Parameters
        ----------
        t : torch.Tensor of shape (n_samples,) or ()
            Times in [0, 1], data at t=0 and noise at t=1; a scalar is shared
            by all rows.
        x : torch.Tensor of shape (n_samples, n_features)
            States. Entries beyond the square root of the dtype's largest
            value are clipped to it, so that no state, however large or
            infinite, overflows the Fourier codes into NaN.

        Returns
        -------
        v : torch.Tensor of shape (n_samples, n_features)
            Velocity ``dx/dt``.
        """
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        # Past this bound the projection and the first layer can overflow, and
        # the sine of an infinite phase is NaN. The network learnt standardised
        # states, many orders of magnitude inside it, so it has nothing to say
        # out there, and holding the state at the bound keeps the velocity,
        # and a score through it, a number.
        bound = torch.finfo(x.dtype).max ** 0.5
        x = x.clamp(-bound, bound)
        angles = t[:, None] * self.frequencies
        phases = x @ self.projection
        features = [angles.sin(), angles.cos(), x, phases.sin(), phases.cos()]
        return self.layers(torch.cat(features, dim=1))


def _linear(n_in, n_out, generator):
    """A linear layer with torch's default initialisation, drawn from ``generator``.

    Built on the meta device first, so that torch's own initialisation draws
    nothing from the global generator.
    """
    layer = torch.nn.Linear(n_in, n_out, device="meta").to_empty(device="cpu")
    torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(n_in)
    torch.nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def _check_sizes(
    n_features, hidden_layer_sizes, time_embedding_dim, activation, fourier_features=0
):
    """Validate the sizes of a :class:`VelocityMLP` without allocating it."""
    for name, size in (
        ("n_features", n_features),
        ("time_embedding_dim", time_embedding_dim),
        *(("each of hidden_layer_sizes", size) for size in hidden_layer_sizes),
    ):
        if not isinstance(size, Integral) or isinstance(size, bool) or size < 1:
            raise ValueError(f"{name} must be a positive int; got {size!r}.")
        _check_at_most_max_weights(name, size)
    if time_embedding_dim % 2:
        raise ValueError(
            f"time_embedding_dim must be even; got {time_embedding_dim!r}."
        )
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {tuple(_ACTIVATIONS)}; got {activation!r}."
        )
    _check_fourier_features(fourier_features)
    sizes = [int(size) for size in hidden_layer_sizes]
    n_weights = _count_weights(
        int(n_features), sizes, int(time_embedding_dim), int(fourier_features)
    )
    if n_weights > _MAX_WEIGHTS:
        raise ValueError(
            f"n_features={n_features!r}, hidden_layer_sizes={tuple(sizes)!r}, "
            f"time_embedding_dim={time_embedding_dim!r} and fourier_features="
            f"{fourier_features!r} give the network {n_weights:,} weights, more "
            f"than the 2**31 = {_MAX_WEIGHTS:,} it may hold; use smaller "
            "hidden_layer_sizes, time_embedding_dim or fourier_features."
        )


def _check_fourier(fourier_features, fourier_scale):
    """Validate the Fourier code of a :class:`VelocityMLP`."""
    _check_fourier_features(fourier_features)
    if not (isinstance(fourier_scale, Real) and 0 < fourier_scale < math.inf):
        raise ValueError(
            f"fourier_scale must be positive and finite; got {fourier_scale!r}."
        )


def _check_fourier_features(fourier_features):
    if (
        not isinstance(fourier_features, Integral)
        or isinstance(fourier_features, bool)
        or fourier_features < 0
        or fourier_features % 2
    ):
        raise ValueError(
            f"fourier_features must be an even int >= 0; got {fourier_features!r}."
        )
    _check_at_most_max_weights("fourier_features", fourier_features)


def _check_at_most_max_weights(name, size):
    # A single size past the bound is named alone: any network built with it
    # holds more weights than that size.
    if size > _MAX_WEIGHTS:
        raise ValueError(
            f"{name} must be at most 2**31 = {_MAX_WEIGHTS:,}, the most weights "
            f"the network may hold; got {size!r}."
        )


def _count_weights(n_features, hidden_layer_sizes, time_embedding_dim, fourier):
    n_inputs = time_embedding_dim + n_features + fourier
    widths = (n_inputs, *hidden_layer_sizes, n_features)
    pairs = zip(widths[:-1], widths[1:], strict=True)
    layers = sum((n_in + 1) * n_out for n_in, n_out in pairs)
    # The projection and the time frequencies are buffers, allocated alike.
    return layers + n_features * (fourier // 2) + time_embedding_dim // 2
