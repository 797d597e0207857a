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


def minimize(
    step,
    *,
    name,
    max_iter,
    tol,
    n_iter_no_change,
    learning_rate,
    verbose,
    check_every=1,
    monitor=None,
    early_stopping=True,
):
    """Call ``step()`` until the loss stalls or ``max_iter`` calls are made.

    ``step`` performs one optimiser update and returns the loss as a float.
    Every ``check_every`` steps the mean loss of those steps is recorded.
    With ``early_stopping``, training stops once the stopping criterion has
    failed to improve on its best value by at least ``tol`` for
    ``n_iter_no_change`` records in a row, as in scikit-learn's MLP, and
    running out of iterations first warns with a ``ConvergenceWarning``. The
    criterion is ``monitor()`` when given (a validation loss, free of
    minibatch noise), else the recorded training loss (averaging first keeps
    minibatch noise from looking like progress). Without ``early_stopping``
    all ``max_iter`` steps run. A non-finite loss raises
    :class:`~adaptnoise.exceptions.TrainingDivergedError`; ``Ctrl-C`` stops
    training and keeps the model as it is.

    Returns
    -------
    loss_curve : list of float
        The recorded (mean) losses.
    n_iter : int
        The number of steps run.
    """
    loss_curve, best, stalled, it = [], math.inf, 0, 0
    n_checks = math.ceil(max_iter / check_every)
    report_every = max(1, n_checks // 20)
    start = time.perf_counter()
    try:
        for check in range(1, n_checks + 1):
            stop = min(max_iter, check * check_every)
            total, count = 0.0, stop - it
            while it < stop:
                loss = step()
                it += 1
                if not math.isfinite(loss):
                    raise TrainingDivergedError(
                        _DIVERGED.format(name=name, loss=loss, it=it, lr=learning_rate)
                    )
                total += loss
            loss_curve.append(total / count)
            criterion = loss_curve[-1]
            if monitor is not None:
                criterion = monitor()
            if verbose and (check == 1 or check % report_every == 0):
                _report(name, it, max_iter, loss_curve[-1], time.perf_counter() - start)
            if not early_stopping:
                continue
            stalled = 0 if criterion < best - tol else stalled + 1
            best = min(best, criterion)
            if stalled >= n_iter_no_change:
                return loss_curve, it
    except KeyboardInterrupt:
        warnings.warn(f"{name}: training interrupted by user.", stacklevel=3)
        return loss_curve, it
    if not early_stopping:
        return loss_curve, it
    warnings.warn(
        f"{name}: the loss did not stall within max_iter={max_iter} iterations "
        f"(tol={tol}, n_iter_no_change={n_iter_no_change}). Increase max_iter "
        "or tol if the fit is not good enough.",
        ConvergenceWarning,
        stacklevel=3,
    )
    return loss_curve, it


def _report(name, it, max_iter, loss, elapsed):
    rate = it / max(elapsed, 1e-9)
    eta = (max_iter - it) / rate
    print(
        f"{name}: iteration {it}/{max_iter}, loss = {loss:.8f}, "
        f"{rate:.1f} it/s, at most {eta:.0f} s left",
        flush=True,
    )
