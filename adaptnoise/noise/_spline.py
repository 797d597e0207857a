"""Monotone rational-quadratic splines with linear tails, batched over coordinates."""

import torch
import torch.nn.functional as F

__all__ = ["knots", "unconstrained", "forward", "inverse"]


def knots(
    widths,
    heights,
    derivatives,
    bound,
    min_bin_width=1e-3,
    min_bin_height=1e-3,
    min_derivative=1e-3,
):
    """Map unconstrained parameters to the knots of a monotone spline.

    Parameters
    ----------
    widths : Tensor of shape (d, K)
        Unconstrained bin widths, one row per coordinate.
    heights : Tensor of shape (d, K)
        Unconstrained bin heights.
    derivatives : Tensor of shape (d, K + 1)
        Unconstrained derivatives at every knot, boundaries included.
    bound : float or Tensor of shape (d,)
        Half-width ``B`` of the interval ``[-B, B]`` covered by the knots.
    min_bin_width, min_bin_height : float, default=1e-3
        Smallest bin width (height) as a fraction of ``2 * B``; ``K`` times this
        value must be below one.
    min_derivative : float, default=1e-3
        Smallest derivative at a knot.

    Returns
    -------
    xk : Tensor of shape (d, K + 1)
        Knot positions, strictly increasing from exactly ``-B`` to exactly ``B``.
    yk : Tensor of shape (d, K + 1)
        Knot values, strictly increasing from exactly ``-B`` to exactly ``B``.
    dk : Tensor of shape (d, K + 1)
        Positive derivatives at the knots.
    """
    half = _half_width(bound, widths)
    xk = _positions(widths, half, min_bin_width)
    yk = _positions(heights, half, min_bin_height)
    dk = min_derivative + F.softplus(derivatives)
    return xk, yk, dk


def unconstrained(
    xk,
    yk,
    dk,
    min_bin_width=1e-3,
    min_bin_height=1e-3,
    min_derivative=1e-3,
):
    """Recover unconstrained parameters that reproduce given knots.

    This inverts :func:`knots`, e.g. to initialise a spline from data. Bins
    narrower than their floor and derivatives below theirs are lifted slightly
    above the floor instead of producing infinite parameters.

    Parameters
    ----------
    xk : Tensor of shape (d, K + 1)
        Increasing knot positions spanning ``[-B, B]``.
    yk : Tensor of shape (d, K + 1)
        Increasing knot values spanning ``[-B, B]``.
    dk : Tensor of shape (d, K + 1)
        Positive derivatives at the knots.
    min_bin_width, min_bin_height, min_derivative : float, default=1e-3
        Floors used by :func:`knots`.

    Returns
    -------
    widths : Tensor of shape (d, K)
        Unconstrained widths, centred to zero mean per coordinate.
    heights : Tensor of shape (d, K)
        Unconstrained heights, centred to zero mean per coordinate.
    derivatives : Tensor of shape (d, K + 1)
        Unconstrained derivatives.
    """
    widths = _logits(xk, min_bin_width)
    heights = _logits(yk, min_bin_height)
    derivatives = _softplus_inverse(dk - min_derivative)
    return widths, heights, derivatives


def forward(x, xk, yk, dk):
    """Evaluate the spline and its log-derivative elementwise.

    Parameters
    ----------
    x : Tensor of shape (n, d)
        Points, one column per coordinate.
    xk, yk, dk : Tensor of shape (d, K + 1)
        Knots as returned by :func:`knots`.

    Returns
    -------
    y : Tensor of shape (n, d)
        ``S(x)``; linear with the boundary slope outside ``[xk[0], xk[-1]]``.
    logabsdet : Tensor of shape (n, d)
        ``log S'(x)``.
    """
    inner, (x0, w, y0, h, s, d0, d1, bend), edge = _clamped(x, xk, xk, yk, dk)
    fraction, slope = _rational_quadratic((inner - x0) / w, s, d0, d1, bend)
    y = y0 + h * fraction + edge * (x - inner)
    return y, torch.log(torch.where(x != inner, edge, slope))


def inverse(y, xk, yk, dk):
    """Evaluate the inverse spline and its log-derivative elementwise.

    As :func:`forward`, with values ``y`` in place of points: returns
    ``x = S^{-1}(y)``, linear outside ``[yk[0], yk[-1]]``, and
    ``log |dx/dy| = -log S'(x)``.
    """
    inner, (x0, w, y0, h, s, d0, d1, bend), edge = _clamped(y, yk, xk, yk, dk)
    xi = _solve_bin(inner - y0, h, s, d0, bend)
    _, slope = _rational_quadratic(xi, s, d0, d1, bend)
    x = x0 + w * xi + (y - inner) / edge
    return x, -torch.log(torch.where(y != inner, edge, slope))


def _clamped(v, grid, xk, yk, dk):
    """``v`` clamped to the span of ``grid``, its bin, and its boundary slope.

    Clamping keeps the rational-quadratic branch, and its gradient, finite
    for the tail points whose value it does not provide. A tail point is
    clamped into the first or last bin, whose derivative at that end is
    exactly the boundary slope returned; inside, ``v - inner`` is zero.
    """
    inner = torch.clamp(v, grid[:, 0], grid[:, -1])
    bins = _bins(xk, yk, dk, _locate(grid, inner))
    *_, d0, d1, _ = bins
    return inner, bins, torch.where(v > inner, d1, d0)


def _half_width(bound, like):
    """Return the half-width as a (d, 1) tensor matching ``like``."""
    half = torch.as_tensor(bound, dtype=like.dtype, device=like.device)
    return half.reshape(-1, 1).expand(like.shape[0], 1)


def _positions(raw, half, min_bin):
    """Turn unconstrained bin sizes into knot positions on ``[-half, half]``."""
    n_bins = raw.shape[-1]
    if n_bins * min_bin >= 1:
        raise ValueError(
            f"{n_bins} bins with a minimum size of {min_bin} do not fit in the "
            "interval; lower the minimum bin size or use fewer bins."
        )
    fractions = min_bin + (1 - n_bins * min_bin) * torch.softmax(raw, dim=-1)
    interior = torch.cumsum(fractions[:, :-1], dim=-1)
    # The ends are set directly so that rounding in the cumulative sum can never
    # move them off the interval.
    return torch.cat([-half, half * (2 * interior - 1), half], dim=-1)


def _logits(positions, min_bin):
    """Invert :func:`_positions` up to the softmax's shift invariance."""
    n_bins = positions.shape[-1] - 1
    span = positions[:, -1:] - positions[:, :1]
    fractions = torch.diff(positions, dim=-1) / span
    probabilities = (fractions - min_bin) / (1 - n_bins * min_bin)
    lift = torch.finfo(probabilities.dtype).eps
    logits = torch.log(probabilities.clamp_min(lift))
    # Centring makes equal bins map to zeros, the natural starting point.
    return logits - logits.mean(dim=-1, keepdim=True)


def _softplus_inverse(value):
    """Return ``log(expm1(value))`` without overflow for large ``value``."""
    value = value.clamp_min(torch.finfo(value.dtype).eps)
    return value + torch.log(-torch.expm1(-value))


def _locate(edges, inner):
    """Return the (n, d) index of the bin of ``edges`` holding each point."""
    n_bins = edges.shape[-1] - 1
    # searchsorted wants one row per coordinate; the index is turned back so
    # that all later elementwise work, forward and backward, is contiguous.
    index = torch.searchsorted(edges.contiguous(), inner.T.contiguous(), right=True)
    return index.sub_(1).clamp_(0, n_bins - 1).T.contiguous()


def _bins(xk, yk, dk, index):
    """Gather the quantities of the bin holding each point.

    Parameters
    ----------
    xk, yk, dk : Tensor of shape (d, K + 1)
        Knots.
    index : Tensor of shape (n, d)
        Bin of each point.

    Returns
    -------
    x0, w, y0, h, s, d0, d1, bend : Tensor of shape (n, d)
        Left knot, width, bottom knot, height, mean slope ``h / w``, derivatives
        at both ends, and ``d0 + d1 - 2 s`` of each point's bin.
    """
    w = torch.diff(xk, dim=-1)
    h = torch.diff(yk, dim=-1)
    s = h / w
    d0, d1 = dk[:, :-1], dk[:, 1:]
    columns = [xk[:, :-1], w, yk[:, :-1], h, s, d0, d1, d0 + d1 - 2 * s]
    # Per-bin quantities are computed once on the small (K, d) grid rather than
    # for every point. Separate gathers beat one stacked gather, whose backward
    # would copy all the (n, d) gradients into a single tensor.
    return [column.T.gather(0, index) for column in columns]


def _rational_quadratic(xi, s, d0, d1, bend):
    """Evaluate one rational-quadratic bin at relative positions ``xi``.

    Parameters
    ----------
    xi : Tensor
        Relative position in the bin, in ``[0, 1]``.
    s, d0, d1, bend : Tensor
        Mean slope, derivatives at both ends, and ``d0 + d1 - 2 s``.

    Returns
    -------
    fraction : Tensor
        Fraction of the bin's height reached at ``xi``.
    slope : Tensor
        Derivative of the spline.
    """
    rest = 1 - xi
    lean = s * xi + d0 * rest
    denominator = s + bend * (xi * rest)
    fraction = xi * lean / denominator
    # Equals d1 xi^2 + 2 s xi (1 - xi) + d0 (1 - xi)^2, reusing ``lean``.
    numerator = rest * lean + xi * (d1 * xi + s * rest)
    slope = torch.square(s / denominator) * numerator
    return fraction, slope


def _solve_bin(dy, h, s, d0, bend):
    """Return the relative position in a bin whose spline value is ``y0 + dy``.

    The position is the root in ``[0, 1]`` of ``a xi^2 + b xi + c = 0`` with
    ``c = -s dy``. With ``r = sqrt(b^2 - 4ac)`` it equals both ``2c / (-b - r)``
    and ``(r - b) / (2a)``; each point takes the form that adds terms of equal
    sign, the first where ``b > 0`` and the second elsewhere. The second is
    needed because the first cancels catastrophically near the top of a bin
    whose end derivative is much steeper than its mean slope.
    """
    b = h * d0 - bend * dy
    # a + b = h s, so a >= h s > 0 wherever the second form is used.
    a = h * s - b
    minus_c = s * dy
    # The smallest normal rather than zero keeps the gradient of sqrt finite.
    tiny = torch.finfo(dy.dtype).tiny
    r = torch.sqrt((b * b + 4 * a * minus_c).clamp_min(tiny))
    positive = b > 0
    # Unused denominators are replaced by one: a zero there would still turn
    # the zero gradient of the discarded branch into NaN.
    from_c = 2 * minus_c / torch.where(positive, b + r, 1.0)
    from_a = (r - b) / torch.where(positive, 1.0, 2 * a)
    return torch.where(positive, from_c, from_a)
