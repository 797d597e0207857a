"""L-BFGS over many independent problems at once, each with its own line search."""

import torch

__all__ = ["RowwiseLBFGS"]

# Armijo's sufficient-decrease constant and the most trial steps per iteration.
_ARMIJO = 1e-4
_MAX_TRIALS = 25


class RowwiseLBFGS:
    """Minimise ``sum_j f_j(theta_j)`` over the rows ``theta_j`` of a matrix.

    Each row is its own problem: it keeps its own curvature history, takes
    its own backtracking (Armijo) line search, and stops on its own once its
    progress measure has not improved on its best by ``tol`` for
    ``n_iter_no_change`` iterations in a row, or once no step along its
    direction lowers its loss. A
    stopped row is no longer evaluated, so an iteration costs only what the
    rows still moving cost. Sharing one line search instead would hold every
    row to the step the worst one tolerates and stop none until all stall.

    Parameters
    ----------
    losses : callable
        ``losses(theta, rows)`` returns, for the rows ``rows`` (an index
        tensor) at ``theta`` (their parameters, of shape ``(len(rows),
        n_params)``), their losses, differentiably, and their progress
        measures, which the stopping rule watches (the loss itself, or the
        part of it that matters to the caller).
    theta : Tensor of shape (n_rows, n_params)
        Starting point; updated in place.
    active : bool Tensor of shape (n_rows,)
        Rows to optimise; the others stay where they are.
    frozen : bool Tensor of shape (n_rows, n_params), optional
        Entries that keep their starting value.
    tol : float or Tensor of shape (n_rows,)
        The stopping rule of each row, as above.
    n_iter_no_change : int
        See ``tol``.
    history_size : int, default=50
        Number of curvature pairs each row keeps.

    Attributes
    ----------
    n_iter : int
        Iterations in which some row moved.
    n_active : int
        Rows still moving.
    loss : float
        The rows' summed loss.
    """

    def __init__(
        self,
        losses,
        theta,
        active,
        *,
        tol,
        n_iter_no_change,
        frozen=None,
        history_size=50,
    ):
        self.losses, self.theta = losses, theta
        n_rows, n_params = theta.shape
        like = dict(dtype=theta.dtype, device=theta.device)
        self.tol = torch.as_tensor(tol, **like).expand(n_rows)
        self.n_iter_no_change = n_iter_no_change
        self.free = None if frozen is None else ~frozen
        self.s = torch.zeros(n_rows, history_size, n_params, **like)
        self.y = torch.zeros(n_rows, history_size, n_params, **like)
        self.rho = torch.zeros(n_rows, history_size, **like)
        # Inner products s_i . y_j and y_i . y_j of the stored pairs, kept up
        # to date pair by pair, so that a direction costs a few batched
        # products and two triangular solves rather than a loop over pairs.
        self.sy = torch.zeros(n_rows, history_size, history_size, **like)
        self.yy = torch.zeros(n_rows, history_size, history_size, **like)
        self.gamma = torch.ones(n_rows, **like)
        self.slot = 0
        self.has_history = torch.zeros(n_rows, dtype=torch.bool, device=theta.device)
        self.stalled = torch.zeros(n_rows, dtype=torch.long, device=theta.device)
        self.active = active.clone()
        self.n_iter = 0
        self.f = torch.zeros(n_rows, **like)
        self.progress = torch.zeros(n_rows, **like)
        self.g = torch.zeros_like(theta)
        rows = self.active.nonzero().squeeze(1)
        self.n_active = len(rows)
        if self.n_active:
            self.f[rows], self.progress[rows], self.g[rows] = self._evaluate(
                theta[rows], rows
            )
        self.best = self.progress.clone()
        self.loss = self.f.sum().item()

    def step(self):
        """One iteration on every active row; returns the summed loss of all rows.

        Once every row has stopped, a step does nothing.
        """
        if not self.n_active:
            return self.loss
        rows = self.active.nonzero().squeeze(1)
        self.n_iter += 1
        g = self.g[rows]
        direction = self._direction(rows, g)
        slope = (g * direction).sum(1)
        # A row whose history points uphill starts again from steepest descent.
        uphill = slope >= 0
        direction[uphill], slope[uphill] = -g[uphill], -g[uphill].square().sum(1)
        self._forget(rows[uphill])
        first = ~self.has_history[rows]
        # Without curvature yet, a first step of unit length in the max-norm.
        step = torch.where(
            first, 1 / g.abs().amax(1).clamp_min(torch.finfo(g.dtype).tiny), 1.0
        )
        moved, f, progress, grad = self._line_search(rows, direction, slope, step)
        self._remember(rows, moved, grad - g)
        self.theta[rows] += moved
        self.f[rows], self.progress[rows], self.g[rows] = f, progress, grad
        self._update_stops(rows, moved)
        self.loss = self.f.sum().item()
        return self.loss

    def _evaluate(self, theta, rows):
        theta = theta.detach().requires_grad_(True)
        with torch.enable_grad():
            f, progress = self.losses(theta, rows)
            (grad,) = torch.autograd.grad(f.sum(), theta)
        if self.free is not None:
            grad = grad * self.free[rows]
        return f.detach(), progress.detach(), grad

    def _direction(self, rows, g):
        """``-H g`` for each row's L-BFGS inverse Hessian ``H``.

        The two-loop recursion written as two triangular systems in the
        pairs' inner products (oldest pair first): the first loop's
        coefficients ``a`` solve ``(I + diag(rho) triu(SY, 1)) a = rho * S g``
        and the second loop's differences ``c = a - b`` solve
        ``(I + diag(rho) tril(SY^T, -1)) c = a - rho * Y r0`` with
        ``r0 = gamma (g - Y^T a)``; then ``H g = r0 + S^T c``. A pair with
        ``rho = 0`` (none stored, or forgotten) drops out.
        """
        filled = min(self.n_iter - 1, self.s.shape[1])
        if not filled:
            return -self.gamma[rows][:, None] * g
        order = torch.arange(self.slot - filled, self.slot, device=g.device)
        order %= self.s.shape[1]
        pairs, grid = (
            (rows[:, None], order),
            (rows[:, None, None], order[:, None], order),
        )
        s, y, rho = self.s[pairs], self.y[pairs], self.rho[pairs]
        sy, yy = self.sy[grid], self.yy[grid]
        eye = torch.eye(filled, dtype=g.dtype, device=g.device)
        gamma = self.gamma[rows][:, None]
        upper = eye + rho[:, :, None] * sy.triu(1)
        a = _solve(upper, rho * _times(s, g), upper=True)
        y_r0 = gamma * (_times(y, g) - _times(yy, a))
        lower = eye + rho[:, :, None] * sy.transpose(1, 2).tril(-1)
        c = _solve(lower, a - rho * y_r0, upper=False)
        r0 = gamma * (g - _times(y.transpose(1, 2), a))
        return -(r0 + _times(s.transpose(1, 2), c))

    def _line_search(self, rows, direction, slope, step):
        """Backtrack each row until Armijo's condition holds, in one batch.

        Returns the accepted moves (zero for a row that found no lower loss),
        and the losses and gradients at the rows' new points.
        """
        f0 = self.f[rows]
        f, grad = f0.clone(), self.g[rows].clone()
        progress = self.progress[rows].clone()
        moved = torch.zeros_like(direction)
        pending = torch.ones(len(rows), dtype=torch.bool, device=rows.device)
        for _ in range(_MAX_TRIALS):
            trial = pending.nonzero().squeeze(1)
            if not len(trial):
                break
            t = step[trial]
            move = t[:, None] * direction[trial]
            f_new, p_new, g_new = self._evaluate(
                self.theta[rows[trial]] + move, rows[trial]
            )
            decrease = f_new - f0[trial]
            ok = torch.isfinite(f_new) & (decrease <= _ARMIJO * t * slope[trial])
            done = trial[ok]
            f[done], grad[done], moved[done] = f_new[ok], g_new[ok], move[ok]
            progress[done] = p_new[ok]
            pending[done] = False
            # The minimiser of the quadratic through f(0), f'(0) and f(t),
            # kept within [t / 10, t / 2]; a non-finite loss halves the step.
            curvature = decrease - slope[trial] * t
            fit = -slope[trial] * t.square() / (2 * curvature)
            fit = torch.where(torch.isfinite(fit) & (curvature > 0), fit, t / 2)
            step[trial] = torch.minimum(torch.maximum(fit, t / 10), t / 2)
        return moved, f, progress, grad

    def _remember(self, rows, s, y):
        """Store the curvature pair of every row that moved with ``s . y > 0``."""
        sy = (s * y).sum(1)
        valid = sy > torch.finfo(s.dtype).eps * (y * y).sum(1)
        slot = self.slot
        s, y = torch.where(valid[:, None], s, 0.0), torch.where(valid[:, None], y, 0.0)
        self.s[rows, slot], self.y[rows, slot] = s, y
        self.rho[rows, slot] = torch.where(valid, 1 / sy, 0.0)
        stored_s, stored_y = self.s[rows], self.y[rows]
        self.sy[rows, slot] = _times(stored_y, s)
        self.sy[rows, :, slot] = _times(stored_s, y)
        self.yy[rows, slot] = self.yy[rows, :, slot] = _times(stored_y, y)
        good = rows[valid]
        self.gamma[good] = sy[valid] / (y[valid] * y[valid]).sum(1)
        self.has_history[good] = True
        self.slot = (slot + 1) % self.s.shape[1]

    def _forget(self, rows):
        self.rho[rows] = 0.0
        self.gamma[rows] = 1.0
        self.has_history[rows] = False

    def _update_stops(self, rows, moved):
        f = self.progress[rows]
        improved = f < self.best[rows] - self.tol[rows]
        self.stalled[rows] = torch.where(improved, 0, self.stalled[rows] + 1)
        self.best[rows] = torch.minimum(self.best[rows], f)
        stuck = ~moved.any(1)
        done = (self.stalled[rows] >= self.n_iter_no_change) | stuck
        self.active[rows[done]] = False
        self.n_active -= int(done.sum())


def _times(matrices, vectors):
    """Batched matrix-vector products: (a, m, p) by (a, p) gives (a, m)."""
    return torch.bmm(matrices, vectors[:, :, None])[:, :, 0]


def _solve(triangle, vectors, upper):
    """Batched triangular solves: (a, m, m) and (a, m) give (a, m)."""
    solution = torch.linalg.solve_triangular(triangle, vectors[:, :, None], upper=upper)
    return solution[:, :, 0]
