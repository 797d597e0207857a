"""Flow-matching training batches: random draws, coupling, conditional paths.

The exact coupling of a 256-row batch is solved on the host and is about half
of a CPU training step. SciPy's assignment solver releases the GIL, so
:meth:`Batches.stream` solves the next batch's coupling on a worker thread
while the network trains on the current one. Every random draw is made on the
calling thread, batch after batch, and the coupling's own draws (Sinkhorn's)
come from a generator of their own, so the batches, and the fits, are the
same with or without the worker.

Drawing from a learned noise costs a fixed overhead of small kernels per call,
more than the draw itself at minibatch sizes, so a noise that stays fixed
through training is drawn for many batches at once and served from that pool.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import torch

from adaptnoise._lattice import spread_shares
from adaptnoise.coupling import pair

__all__ = ["Batch", "Batches", "cells", "smoothed_columns"]

# Noise rows drawn at once for a fixed noise: 64 batches of 256 rows make the
# per-call overhead a few percent of a draw, and the numbers a pool may hold
# bound its memory at 8 MiB of float32 for wide tables.
_POOL_BATCHES = 64
_POOL_NUMBERS = 2**21


class Batch(NamedTuple):
    x0: torch.Tensor
    t: torch.Tensor
    x_t: torch.Tensor
    target: torch.Tensor
    z: torch.Tensor | None


class _Draw(NamedTuple):
    x0: torch.Tensor
    t: torch.Tensor
    ends: torch.Tensor | None
    path: tuple | None
    eps: torch.Tensor | None


class Batches:
    """Batches of (t, X_t, target velocity) for a process, noise and coupling.

    Parameters
    ----------
    process : BaseProcess
        The fitted process.
    law : torch.nn.Module
        The terminal law paths end in (the noise's module, or the process's
        own law), with ``sample(n, generator)``.
    coupling, ot_reg, sigma
        The generator's parameters of those names.
    generator : torch.Generator
        Source of every draw but the coupling's.
    pairing_generator : torch.Generator
        Source of the coupling's draws.

    Attributes
    ----------
    widths : torch.Tensor of shape (n_features,) or None
        Dequantisation cells of the columns (0 for continuous ones); each
        drawn row is shifted uniformly within its cells. ``None`` for none.
    nominal : torch.Tensor of shape (n_features,), dtype=bool, or None
        The nominal columns, which ``sigma`` does not blur (with the atoms'
        columns, see :func:`smoothed_columns`); ``None`` for none.
    atoms : triple of torch.Tensor of shape (n_features, n_atoms) or None
        Atoms of the columns, the widths of their windows (0 for padding)
        and the windows' centres as offsets from the atoms; a drawn value
        equal to an atom is moved to a uniform draw within its window.
        ``None`` for none.
    shares : tuple of torch.Tensor or None
        The stretched lattice columns and the cells, in levels of the normal
        law, of each row of the streamed ``X`` (see
        :func:`~adaptnoise._lattice.spread_shares`); a drawn value there
        is moved to the quantile of a uniform draw within its cell's levels.
        ``None`` for none.
    """

    def __init__(
        self, process, law, coupling, ot_reg, sigma, generator, pairing_generator
    ):
        self.process = process
        self.law = law
        self.coupling = coupling
        self.ot_reg = ot_reg
        self.sigma = sigma
        self.generator = generator
        self.pairing_generator = pairing_generator
        self.widths = None
        self.nominal = None
        self.atoms = None
        self.shares = None
        self._pool_size = 0
        self._pool = None

    def path(self, x0):
        """The batch built on the data rows ``x0``."""
        draw = self._draw(x0)
        return self._finish(draw, self._partners(draw))

    def stream(self, X, batch_size, lookahead, pooled=False):
        """Endless batches of rows drawn from ``X`` with replacement.

        With ``lookahead``, the coupling of the next batch is solved on a
        worker thread while the caller uses the current one. Lookahead needs
        the noise to stay fixed between batches: a noise trained jointly
        would be drawn before the update it should follow. With ``pooled``,
        which needs a fixed noise too, the noise is drawn for many batches at
        once; the worker changes no batch either way.
        """
        if pooled:
            batches = min(_POOL_BATCHES, _POOL_NUMBERS // (batch_size * X.shape[1]))
            self._pool_size = max(1, batches) * batch_size
        if not lookahead or self.coupling == "independent":
            while True:
                yield self.path(self._rows(X, batch_size))
        with ThreadPoolExecutor(max_workers=1) as worker:
            draw = self._draw(self._rows(X, batch_size))
            pending = worker.submit(self._partners, draw)
            while True:
                following = self._draw(self._rows(X, batch_size))
                solving = worker.submit(self._partners, following)
                yield self._finish(draw, pending.result())
                draw, pending = following, solving

    def _rows(self, X, batch_size):
        index = torch.randint(
            X.shape[0], (batch_size,), generator=self.generator, device=X.device
        )
        rows = X[index]
        if self.widths is None and self.atoms is None and self.shares is None:
            return rows
        # Dequantisation: a lattice value stands for its whole unit cell, an
        # atom for its window, and a stretched value for its cell's levels.
        u = torch.rand(rows.shape, generator=self.generator, device=X.device)
        width, centre = cells(rows, self.widths, self.atoms)
        rows = rows + centre + (u - 0.5) * width
        if self.shares is None:
            return rows
        places, low, width, mean, scale = self.shares
        return spread_shares(rows, (places, low[index], width[index], mean, scale), u)

    def _draw(self, x0):
        generator = self.generator
        # t in (0, 1]: a diffusion's conditional velocity is infinite at t = 0.
        t = 1 - torch.rand(x0.shape[0], 1, generator=generator, device=x0.device)
        ends = path = None
        if self.process.deterministic:
            ends = self._noise(x0.shape[0])
        else:
            path = self.process.sample_path(x0, t, generator)
        eps = None
        if self.sigma > 0:
            eps = torch.randn(x0.shape, generator=generator, device=x0.device)
            eps = eps * smoothed_columns(self.nominal, self.atoms)
        return _Draw(x0, t, ends, path, eps)

    def _noise(self, n_rows):
        if not self._pool_size:
            return self.law.sample(n_rows, self.generator)
        if self._pool is None or self._pool.shape[0] < n_rows:
            self._pool = self.law.sample(max(self._pool_size, n_rows), self.generator)
        rows, self._pool = self._pool[:n_rows], self._pool[n_rows:]
        return rows

    def _partners(self, draw):
        if draw.ends is None:
            return None
        return pair(
            draw.x0,
            draw.ends.detach(),
            self.coupling,
            self.ot_reg,
            self.pairing_generator,
        )

    def _finish(self, draw, partners):
        x0, t, ends, path, eps = draw
        if path is None:
            path = self.process.path(x0, ends[partners], t)
        x_t, target = path
        if eps is not None:
            x_t = x_t + self.sigma * eps
        return Batch(x0, t, x_t, target, ends)


def smoothed_columns(nominal, atoms):
    """Which columns the interpolant noise blurs: all but nominal ones and atoms.

    A nominal column (a category's code or one-hot column, a boolean, a
    missing indicator) is already spread uniformly over its unit cells, and
    a value at an atom over the atom's window; a Gaussian blur on top
    carries them across a cell's edge, which mixes categories and atoms in
    the pairs the flow learns from (on the penguins table it put species on
    islands where none lives). Returns a float 0/1 mask of shape
    (n_features,), or the scalar 1.0 when both are None. Works alike on
    NumPy arrays and torch tensors.
    """
    mask = 1.0
    if nominal is not None:
        mask = (nominal == 0) * 1.0
    if atoms is not None:
        mask = mask * ((atoms[1] > 0).sum(-1) == 0)
    return mask


def cells(rows, widths, atoms):
    """The cell each entry of ``rows`` stands for: its width and centre.

    The centre is an offset from the entry (0 for lattice cells, and for
    continuous entries, whose width is 0). Works alike on NumPy arrays and
    torch tensors.
    """
    width = 0 * rows if widths is None else 0 * rows + widths
    centre = 0 * rows
    if atoms is not None:
        values, atom_widths, atom_centres = atoms
        on = rows[..., None] == values
        width = width + (on * atom_widths).sum(-1)
        centre = centre + (on * atom_centres).sum(-1)
    return width, centre
