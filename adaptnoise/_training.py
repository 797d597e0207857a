"""The optimisation loop shared by the estimators: stopping, progress, failure."""

import math
import time
import warnings

from sklearn.exceptions import ConvergenceWarning

from adaptnoise.exceptions import TrainingDivergedError

__all__ = ["minimize"]

_DIVERGED = (
    "{name} training diverged: the loss became {loss} at iteration {it}. "
    "The input data may contain very large values and need to be scaled, or "
    "learning_rate_init={lr!r} may be too high."
)


def minimize(step, *, name, max_iter, tol, n_iter_no_change, learning_rate, verbose):
    """Call ``step()`` until the loss stalls or ``max_iter`` is reached.

    ``step`` performs one optimiser update and returns the loss as a float.
    Training stops early once the loss has failed to improve on the best one
    by at least ``tol`` for ``n_iter_no_change`` iterations in a
    row, as in scikit-learn's MLP. A non-finite loss raises
    :class:`~adaptnoise.exceptions.TrainingDivergedError`; running out of
    iterations first warns with a ``ConvergenceWarning``; ``Ctrl-C`` stops
    training and keeps the model as it is.

    Returns
    -------
    loss_curve : list of float
        The loss at each iteration run.
    """
    loss_curve, best, stalled = [], math.inf, 0
    report_every = max(1, max_iter // 20)
    start = time.perf_counter()
    try:
        for it in range(1, max_iter + 1):
            loss = step()
            if not math.isfinite(loss):
                raise TrainingDivergedError(
                    _DIVERGED.format(name=name, loss=loss, it=it, lr=learning_rate)
                )
            loss_curve.append(loss)
            if verbose and (it == 1 or it % report_every == 0):
                _report(name, it, max_iter, loss, time.perf_counter() - start)
            stalled = 0 if loss < best - tol else stalled + 1
            best = min(best, loss)
            if stalled >= n_iter_no_change:
                return loss_curve
    except KeyboardInterrupt:
        warnings.warn(f"{name}: training interrupted by user.", stacklevel=3)
        return loss_curve
    warnings.warn(
        f"{name}: the loss did not stall within max_iter={max_iter} iterations "
        f"(tol={tol}, n_iter_no_change={n_iter_no_change}). Increase max_iter "
        "or tol if the fit is not good enough.",
        ConvergenceWarning,
        stacklevel=3,
    )
    return loss_curve


def _report(name, it, max_iter, loss, elapsed):
    rate = it / max(elapsed, 1e-9)
    eta = (max_iter - it) / rate
    print(
        f"{name}: iteration {it}/{max_iter}, loss = {loss:.8f}, "
        f"{rate:.1f} it/s, at most {eta:.0f} s left",
        flush=True,
    )
