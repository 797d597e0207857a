"""Runge-Kutta integration of flow ODEs and of their log-density change in torch."""

import math
from numbers import Integral, Real

import torch

from adaptnoise._torch import make_generator
from adaptnoise.exceptions import SolverError
from adaptnoise.nn import VelocityMLP

__all__ = ["odeint", "odeint_with_logdet"]

# Butcher tableaux as (nodes, rows of the stage matrix, weights).
_FIXED_STEP = {
    "euler": ((0.0,), ((),), (1.0,)),
    "heun": ((0.0, 1.0), ((), (1.0,)), (0.5, 0.5)),
    "rk4": (
        (0.0, 0.5, 0.5, 1.0),
        ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
        (1 / 6, 1 / 3, 1 / 3, 1 / 6),
    ),
}
_METHODS = (*_FIXED_STEP, "dopri5")
# A smooth flow over the unit interval takes tens of adaptive steps at the
# default tolerances; a thousand means the step has collapsed (a stiff or
# rough velocity, typically from a diverged fit) and would crawl for hours.
_MAX_STEPS = 1000
_TRAINING = (
    "If the velocity is a fitted model, check its training: NaN weights or a "
    "diverged fit (too large a learning rate without gradient clipping) give "
    "such fields."
)
_DIVERGENCES = ("exact", "hutchinson")
_QUADRATURES = ("stages", "midpoint")
# Tangent rows (rows times features) pushed through a VelocityMLP together,
# per torch thread, as threads split a matrix product's rows: a block of them
# per layer stays in a core's cache, and larger blocks measured slower on one
# thread, not faster.
_TANGENT_ROWS = 512

_DOPRI5_NODES = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
# The last row holds the fifth-order weights, so the last stage is evaluated at
# the new solution and doubles as the next step's first stage (FSAL).
_DOPRI5_MATRIX = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
# Fifth-order minus embedded fourth-order weights.
_DOPRI5_ERROR = (
    71 / 57600,
    0.0,
    -71 / 16695,
    71 / 1920,
    -17253 / 339200,
    22 / 525,
    -1 / 40,
)


def odeint(
    velocity,
    x,
    t0,
    t1,
    n_steps,
    method="euler",
    *,
    rtol=1e-5,
    atol=1e-5,
    max_steps=_MAX_STEPS,
    callback=None,
):
    """Integrate ``dx/dt = velocity(t, x)`` from ``t0`` to ``t1``.

    Data sit at t=0 and noise at t=1: sampling integrates backwards
    (``t0=1, t1=0``) and encoding forwards (``t0=0, t1=1``); both directions
    work. Gradients flow through the solver unless the caller disables them.

    Parameters
    ----------
    velocity : callable
        ``velocity(t, x)`` returns a tensor shaped like ``x``. ``t`` is a
        tensor of shape (n_samples,) filled with the current time, with the
        dtype and device of ``x``.
    x : torch.Tensor of shape (n_samples, n_features)
        State at ``t0``.
    t0, t1 : float
        Start and end times.
    n_steps : int
        Number of steps of the fixed-step methods; for ``"dopri5"`` the
        initial step is ``(t1 - t0) / n_steps``.
    method : {"euler", "heun", "rk4", "dopri5"}, default="euler"
        Explicit Euler (order 1), Heun's trapezoid rule (order 2), classical
        Runge-Kutta (order 4) or adaptive Dormand-Prince 5(4), which shares
        one step size across the batch.
    rtol, atol : float, default=1e-5
        Relative and absolute error tolerances of ``"dopri5"``.
    max_steps : int, default=1000
        Most steps, accepted or rejected, that ``"dopri5"`` may take before
        it gives up; the fixed-step methods ignore it.
    callback : callable or None, default=None
        Called after each accepted step with the fraction of the way from
        ``t0`` to ``t1`` covered so far, a float in (0, 1]; ``verbose``
        reports progress through it.

    Returns
    -------
    x : torch.Tensor of shape (n_samples, n_features)
        State at ``t1``.
    nfe : int
        Number of calls to ``velocity``; ``n_steps`` times 1, 2 and 4 for the
        fixed-step methods.

    Raises
    ------
    ValueError
        On an unknown method, a non-positive ``n_steps``, ``rtol``, ``atol``
        or ``max_steps``, a non-finite time, an ``x`` that is not 2-D or
        holds NaN, or, for ``"dopri5"``, an infinite ``x``.
    SolverError
        If the result holds NaN, as the velocity returned NaN along the way,
        or if ``"dopri5"`` finds a non-finite velocity at ``t0``, uses up
        ``max_steps`` or shrinks its step below floating-point resolution.

    Examples
    --------
    >>> import torch
    >>> x, nfe = odeint(lambda t, x: -x, torch.ones(1, 1), 0.0, 1.0, 10, "rk4")
    >>> x, nfe
    (tensor([[0.3679]]), 40)
    """
    t0, t1 = _check_call(x, t0, t1, n_steps, method, _METHODS)
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(tol, Real) and tol > 0):
            raise ValueError(f"{name} must be a positive float; got {tol!r}.")
    if not _is_positive_int(max_steps):
        raise ValueError(f"max_steps must be a positive int; got {max_steps!r}.")

    def fun(t, state):
        return (velocity(_times(t, state[0]), state[0]),)

    if method == "dopri5":
        h = (t1 - t0) / n_steps
        (x,), nfe = _dopri5(fun, (x,), t0, t1, h, rtol, atol, max_steps, callback)
        return x, nfe
    tableau = _FIXED_STEP[method]
    (x,) = _fixed_steps(fun, (x,), t0, t1, n_steps, tableau, callback)
    _check_no_nan(method, (x,), "state")
    return x, n_steps * len(tableau[0])


def odeint_with_logdet(
    velocity,
    x,
    t0,
    t1,
    n_steps,
    method="rk4",
    divergence="exact",
    generator=None,
    callback=None,
    quadrature="stages",
):
    """Integrate the flow and the divergence of its velocity along it.

    The change of variables for ``dx/dt = v(t, x)`` gives
    ``log p_t1(x_t1) = log p_t0(x_t0) - delta_logp``; with data at t=0 and
    noise at t=1, integrating forwards from ``t0=0`` to ``t1=1`` yields
    ``log p_data(x) = log p_noise(x_1) + delta_logp``.

    Parameters
    ----------
    velocity : callable
        ``velocity(t, x)`` as in :func:`odeint`. Each output row must depend
        on its own input row only: the exact divergence differentiates the sum
        over the batch, so a velocity mixing rows would give wrong results.
    x : torch.Tensor of shape (n_samples, n_features)
        State at ``t0``; it is detached, and so are both outputs.
    t0, t1 : float
        Start and end times.
    n_steps : int
        Number of fixed steps.
    method : {"rk4", "heun", "euler"}, default="rk4"
        Fixed-step Runge-Kutta method applied to the joint ODE of ``x`` and
        the log-density.
    divergence : {"exact", "hutchinson"}, default="exact"
        ``"exact"`` takes one backward pass per feature; for a
        :class:`~adaptnoise.nn.VelocityMLP` it instead pushes all the
        features' tangents forwards through the network at once, which gives
        the same trace in fewer, larger matrix products. ``"hutchinson"``
        takes one vector-Jacobian product with a Rademacher probe per row,
        drawn once per call and kept along the trajectory, which gives an
        unbiased estimate of ``delta_logp``.
    generator : torch.Generator or None, default=None
        Source of the Hutchinson probes. ``None`` seeds a fresh generator from
        the operating system, leaving torch's global generator untouched.
    callback : callable or None, default=None
        Called after each step with the fraction of the way from ``t0`` to
        ``t1`` covered so far, as in :func:`odeint`.
    quadrature : {"stages", "midpoint"}, default="stages"
        How ``delta_logp`` is integrated. ``"stages"`` integrates it jointly
        with ``x``, so the divergence is taken at every stage of ``method``.
        ``"midpoint"`` integrates ``x`` alone and takes the divergence once
        per step, by the midpoint rule (second order in the step), at the
        step's midpoint on the cubic Hermite interpolant of its two ends and
        their velocities (fourth order, as RK4): the divergence costs one
        pass per feature, a velocity one pass, so for ``"rk4"`` this is about
        a quarter of the work on wide data, for one more velocity per step.

    Returns
    -------
    x : torch.Tensor of shape (n_samples, n_features)
        State at ``t1``.
    delta_logp : torch.Tensor of shape (n_samples,)
        Integral from ``t0`` to ``t1`` of ``div v(t, x_t)`` along each
        trajectory.

    Raises
    ------
    ValueError
        On an unknown method, divergence or quadrature, a non-positive
        ``n_steps``, a non-finite time or an ``x`` that is not 2-D or holds
        NaN.
    SolverError
        If either output holds NaN, as the velocity or its divergence
        returned NaN along the way; infinite values are returned as they are.

    Examples
    --------
    A field ``v = -x / 2`` in two dimensions has divergence -1 everywhere,
    so over unit time the log-density change is -1 under either quadrature:

    >>> import torch
    >>> x = torch.ones(3, 2, dtype=torch.float64)
    >>> x1, delta = odeint_with_logdet(
    ...     lambda t, x: -x / 2, x, 0.0, 1.0, 4, quadrature="midpoint"
    ... )
    >>> delta
    tensor([-1., -1., -1.], dtype=torch.float64)
    >>> round(x1[0, 0].item(), 6)  # exp(-1/2)
    0.606531
    """
    t0, t1 = _check_call(x, t0, t1, n_steps, method, tuple(_FIXED_STEP))
    if divergence not in _DIVERGENCES:
        raise ValueError(
            f"divergence must be one of {_DIVERGENCES}; got {divergence!r}."
        )
    if quadrature not in _QUADRATURES:
        raise ValueError(
            f"quadrature must be one of {_QUADRATURES}; got {quadrature!r}."
        )
    probes = None if divergence == "exact" else _rademacher(x, generator)

    def fun(t, state):
        return _velocity_and_divergence(velocity, t, state[0], probes)

    tableau = _FIXED_STEP[method]
    if quadrature == "midpoint":
        end = _midpoint_logdet(
            velocity, fun, x.detach(), t0, t1, n_steps, tableau, callback
        )
    else:
        start = (x.detach(), x.new_zeros(x.shape[0]))
        end = _fixed_steps(fun, start, t0, t1, n_steps, tableau, callback)
    _check_no_nan(method, end, "state or log-density change")
    return end


def _midpoint_logdet(velocity, fun, x, t0, t1, n_steps, tableau, callback):
    """The state by ``tableau``, the log-density change by the midpoint rule."""

    def flow(t, state):
        with torch.no_grad():
            return (velocity(_times(t, state[0]), state[0]),)

    h = (t1 - t0) / n_steps
    delta = x.new_zeros(x.shape[0])
    slope = flow(t0, (x,))
    for k in range(n_steps):
        t = t0 + k * h
        (end,) = _rk_step(flow, t, (x,), h, tableau, first_slope=slope)
        end_slope = flow(t + h, (end,))
        # The cubic Hermite interpolant at the step's midpoint; halves first,
        # so that states near the largest float do not overflow.
        middle = 0.5 * x + 0.5 * end + (h / 8) * (slope[0] - end_slope[0])
        _, divergence = fun(t + h / 2, (middle,))
        delta = delta + h * divergence
        x, slope = end, end_slope
        if callback is not None:
            callback((k + 1) / n_steps)
    return x, delta


def _check_call(x, t0, t1, n_steps, method, methods):
    if method not in methods:
        raise ValueError(f"method must be one of {methods}; got {method!r}.")
    if not _is_positive_int(n_steps):
        raise ValueError(f"n_steps must be a positive int; got {n_steps!r}.")
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D; got shape {tuple(x.shape)}.")
    # Checked here so that a NaN found after integrating blames the velocity.
    if torch.isnan(x).any():
        raise ValueError("x contains NaN; the ODE needs a number to start from.")
    t0, t1 = float(t0), float(t1)
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise ValueError(f"t0 and t1 must be finite; got {t0!r} and {t1!r}.")
    return t0, t1


def _is_positive_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool) and value > 0


def _check_no_nan(method, state, what):
    # Infinities pass: a state may legitimately overflow, and scoring turns
    # an end point at infinity into a log-density of -inf. NaN is never an
    # answer.
    rows = torch.stack([s.reshape(s.shape[0], -1).isnan().any(1) for s in state])
    n_bad = int(rows.any(0).sum())
    if n_bad:
        raise SolverError(
            f"method={method!r} produced NaN in the {what} of {n_bad} of "
            f"{rows.shape[1]} rows: the velocity returned NaN along the way. "
            f"Take more steps if large ones make the state overflow. {_TRAINING}"
        )


def _times(t, x):
    return torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device)


def _combine(state, h, coefficients, slopes):
    # Zero coefficients are skipped to spare work and keep them exactly zero.
    for coefficient, slope in zip(coefficients, slopes, strict=True):
        if coefficient:
            step = coefficient * h
            state = tuple(s + step * k for s, k in zip(state, slope, strict=True))
    return state


def _rk_step(fun, t, state, h, tableau, first_slope=None):
    # Every tableau here starts with the slope at (t, state), which a caller
    # that already holds it passes as first_slope.
    nodes, matrix, weights = tableau
    slopes = [] if first_slope is None else [first_slope]
    for node, row in list(zip(nodes, matrix, strict=True))[len(slopes) :]:
        slopes.append(fun(t + node * h, _combine(state, h, row, slopes)))
    return _combine(state, h, weights, slopes)


def _fixed_steps(fun, state, t0, t1, n_steps, tableau, callback=None):
    h = (t1 - t0) / n_steps
    for k in range(n_steps):
        # Times from the step index, not a running sum, so they do not drift.
        state = _rk_step(fun, t0 + k * h, state, h, tableau)
        if callback is not None:
            callback((k + 1) / n_steps)
    return state


def _dopri5(fun, state, t0, t1, h, rtol, atol, max_steps, callback=None):
    if not torch.isfinite(state[0]).all():
        raise ValueError(
            "x must be finite for method='dopri5', whose error control cannot "
            "measure an infinite state; use a fixed-step method such as 'rk4'."
        )
    t, slope, nfe = t0, fun(t0, state), 1
    _check_start_slope(slope[0], t0)
    n_tried = 0
    while t != t1:
        if n_tried == max_steps:
            raise _budget_error(max_steps, t, t0, t1, h, rtol, atol)
        last = abs(h) >= abs(t1 - t)
        if last:
            # Landing exactly on t1 also absorbs remainders of a few ulps.
            h = t1 - t
        elif abs(h) <= 4 * math.ulp(max(abs(t), 1.0)):
            raise SolverError(
                f"dopri5 step size underflowed at t={t!r}: every step from "
                "there failed, as the velocity or the state turns non-finite or "
                "blows up near that time. Use a fixed-step method such as "
                f"'rk4'. {_TRAINING}"
            )
        new, new_slope, error = _dopri5_step(fun, t, state, h, slope)
        nfe += 6
        n_tried += 1
        ratio = _error_ratio(error[0], state[0], new[0], rtol, atol)
        if ratio <= 1.0:
            t, state, slope = t1 if last else t + h, new, new_slope
            if callback is not None:
                callback((t - t0) / (t1 - t0))
        h *= _step_factor(ratio)
    return state, nfe


def _budget_error(max_steps, t, t0, t1, h, rtol, atol):
    return SolverError(
        f"dopri5 used up max_steps={max_steps} and reached only t={t!r} on the "
        f"way from {t0!r} to {t1!r}, its step shrunk to {abs(h):.3g}: the "
        f"velocity is too stiff or rough for rtol={rtol!r}, atol={atol!r}. Use "
        f"a fixed-step method such as 'rk4' or raise max_steps. {_TRAINING}"
    )


def _check_start_slope(slope, t0):
    finite = torch.isfinite(slope).reshape(slope.shape[0], -1).all(1)
    n_bad = int((~finite).sum())
    if n_bad:
        raise SolverError(
            f"The velocity is not finite at t={t0!r} in {n_bad} of "
            f"{finite.shape[0]} rows, so dopri5 cannot take a step. {_TRAINING}"
        )


def _dopri5_step(fun, t, state, h, first_slope):
    slopes = [first_slope]
    for node, row in zip(_DOPRI5_NODES[1:], _DOPRI5_MATRIX[1:], strict=True):
        stage = _combine(state, h, row, slopes)
        slopes.append(fun(t + node * h, stage))
    zeros = tuple(torch.zeros_like(s) for s in state)
    return stage, slopes[-1], _combine(zeros, h, _DOPRI5_ERROR, slopes)


def _error_ratio(error, x, new, rtol, atol):
    scale = atol + rtol * torch.maximum(x.abs(), new.abs())
    ratio = (error / scale).square().mean().sqrt()
    # An overflowed state has an infinite scale, which would make its error
    # look like zero: such a step failed and must be retried smaller.
    return torch.where(torch.isfinite(new).all(), ratio, math.inf).item()


def _step_factor(ratio):
    # Standard controller for an order-5 pair; a non-finite error means the
    # step blew up, so it is cut as hard as the controller allows.
    if not math.isfinite(ratio):
        return 0.2
    return min(10.0, max(0.2, 0.9 * max(ratio, 1e-10) ** -0.2))


def _rademacher(x, generator):
    if generator is None:
        generator = make_generator(None, x.device)
    signs = torch.randint(0, 2, x.shape, generator=generator, device=generator.device)
    return (2 * signs - 1).to(dtype=x.dtype, device=x.device)


def _velocity_and_divergence(velocity, t, x, probes):
    # Exactly this class: a subclass may override forward, which the fast
    # path would not see.
    if probes is None and type(velocity) is VelocityMLP:
        with torch.no_grad():
            return _mlp_velocity_and_divergence(velocity, _times(t, x), x)
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = velocity(_times(t, x), x)
        if not v.requires_grad:
            divergence = x.new_zeros(x.shape[0])
        elif probes is None:
            divergence = _exact_divergence(v, x)
        else:
            (vjp,) = torch.autograd.grad(v, x, probes, materialize_grads=True)
            divergence = (vjp * probes).sum(dim=1)
    return v.detach(), divergence.detach()


def _exact_divergence(v, x):
    n_features = x.shape[1]
    divergence = x.new_zeros(x.shape[0])
    for i in range(n_features):
        # Rows do not interact, so the gradient of a column's batch sum holds
        # each row's own partial derivative.
        (grad,) = torch.autograd.grad(
            v[:, i].sum(), x, retain_graph=i < n_features - 1, materialize_grads=True
        )
        divergence = divergence + grad[:, i]
    return divergence


def _mlp_velocity_and_divergence(net, t, x):
    """The velocity of a VelocityMLP and the trace of its Jacobian in ``x``.

    Forward mode: the one-hot tangent of each feature goes through the layers
    beside the rows, so that a layer multiplies all of them in one matrix
    product, and only the diagonal of the Jacobian is formed. The forward
    pass repeats :meth:`VelocityMLP.forward` step by step to keep the
    activations' slopes.
    """
    bound = torch.finfo(x.dtype).max ** 0.5
    clamped = x.clamp(-bound, bound)
    angles = t[:, None] * net.frequencies
    phases = clamped @ net.projection
    sin, cos = phases.sin(), phases.cos()
    hidden = torch.cat([angles.sin(), angles.cos(), clamped, sin, cos], dim=1)
    slopes = []
    for linear, activation in zip(net.layers[0:-1:2], net.layers[1::2], strict=True):
        hidden, slope = _value_and_slope(activation, linear(hidden))
        slopes.append(slope)
    v = net.layers[-1](hidden)
    # d sin(x B) / dx_k = cos(x B) B_k and d cos(x B) / dx_k = -sin(x B) B_k;
    # the signs go to the weights. The time codes do not move with x.
    weight = net.layers[0].weight
    n_time, n_features = 2 * net.frequencies.shape[0], x.shape[1]
    x_weight, sin_weight, cos_weight = weight[:, n_time:].split(
        [n_features, sin.shape[1], cos.shape[1]], dim=1
    )
    fourier_weight = torch.cat([sin_weight, -cos_weight], dim=1).T
    rates = torch.cat([cos, sin], dim=1)
    projection = net.projection.repeat(1, 2)
    step = max(1, _TANGENT_ROWS * torch.get_num_threads() // n_features)
    diagonal = torch.cat(
        [
            _mlp_jacobian_diagonal(
                rates[i : i + step],
                [slope[i : i + step] for slope in slopes],
                projection,
                (x_weight.T, fourier_weight),
                net.layers[2::2],
            )
            for i in range(0, x.shape[0], step)
        ]
    )
    # The clamp passes no derivative beyond the bound, as autograd has it:
    # such a coordinate adds nothing to the trace.
    return v, torch.where(x.abs() <= bound, diagonal, 0.0).sum(dim=1)


def _value_and_slope(activation, pre):
    """An elementwise activation and its derivative, as autograd computes it."""
    with torch.enable_grad():
        pre = pre.detach().requires_grad_(True)
        value = activation(pre)
        (slope,) = torch.autograd.grad(value, pre, torch.ones_like(value))
    return value.detach(), slope


def _mlp_jacobian_diagonal(rates, slopes, projection, first_weights, linears):
    """``d v_k / d x_k`` for each row and feature ``k``, the clamp aside.

    Each tangent is a fresh tensor, so it is scaled in place.
    """
    x_weight, fourier_weight = first_weights
    tangent = (rates[:, None] * projection) @ fourier_weight
    tangent += x_weight
    if not slopes:
        return tangent.diagonal(dim1=1, dim2=2)
    for slope, linear in zip(slopes[:-1], linears[:-1], strict=True):
        tangent = tangent.mul_(slope[:, None]) @ linear.weight.T
    # Of the last layer only row k matters along feature k.
    return torch.linalg.vecdot(tangent.mul_(slopes[-1][:, None]), linears[-1].weight)
