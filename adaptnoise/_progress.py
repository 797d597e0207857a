"""Progress lines for long tasks: how far, how fast, and the time left.

One place formats what ``verbose`` prints, so that training, the noise fit,
sampling and scoring all read alike::

    FlowMatchingGenerator: iteration 300/7500, loss = 0.51234567, 80.1 it/s,
    at most 90 s left
    FlowMatchingGenerator.sample: 32768/100000 rows sampled, 2150.3 rows/s,
    about 31 s left
"""

import math
import time

__all__ = ["Progress"]


class Progress:
    """Print a task's progress at most about ``n_reports`` times.

    The first update is reported, so a long task speaks up early, then the
    first update past each ``n_reports``-th of ``total``, and the first
    that reaches ``total``; an update no further than the last reported is
    not. The rate is the work done so far over the time
    since the object was made, and the time left the work left at that rate.

    Parameters
    ----------
    name : str
        What is working, at the start of each line.
    total : int
        The work there is, in units of ``done``.
    verbose : int or bool, default=1
        Report only when true; otherwise :meth:`update` does nothing.
    label : str, default="iteration {done}/{total}"
        How far the task is, formatted with ``done`` (rounded down to an
        int) and ``total``.
    rate_unit : str, default="it"
        The unit of the rate, per second.
    bound : str, default="about"
        The word before the time left: ``"at most"`` for a task that may
        stop before ``total``.
    n_reports : int, default=20
        About how many lines a whole task prints.

    Examples
    --------
    >>> progress = Progress("Task", 4, n_reports=2)
    >>> for done in range(1, 5):
    ...     progress.update(done)
    Task: iteration 1/4, ... it/s, about ... s left
    Task: iteration 2/4, ... it/s, about ... s left
    Task: iteration 4/4, ... it/s, about 0 s left
    """

    def __init__(
        self,
        name,
        total,
        *,
        verbose=1,
        label="iteration {done}/{total}",
        rate_unit="it",
        bound="about",
        n_reports=20,
    ):
        self.name = name
        self.total = total
        self.verbose = verbose
        self.label = label
        self.rate_unit = rate_unit
        self.bound = bound
        self.n_reports = n_reports
        self._next, self._done = 0.0, 0.0
        self._start = time.perf_counter()

    def update(self, done, detail=""):
        """Report that ``done`` of ``total`` is done, if a report is due.

        ``detail`` (such as ``"loss = 0.5"``) follows how far the task is.
        """
        due = done >= self._next or done >= self.total
        if not self.verbose or done <= self._done or not due:
            return
        self._done = done
        step = self.total / self.n_reports
        self._next = (math.floor(done / step) + 1) * step
        rate = done / max(time.perf_counter() - self._start, 1e-9)
        left = max(self.total - done, 0) / rate
        parts = [self.label.format(done=int(done), total=self.total)]
        if detail:
            parts.append(detail)
        parts.append(f"{rate:.1f} {self.rate_unit}/s")
        parts.append(f"{self.bound} {left:.0f} s left")
        print(f"{self.name}: {', '.join(parts)}", flush=True)

    def within(self, start, size):
        """A callable that reports a fraction of the part ``[start, start+size)``.

        A part of the work that knows only how far through itself it is (an
        ODE solve at some time) reports through it.
        """

        def report(fraction):
            self.update(start + fraction * size)

        return report
