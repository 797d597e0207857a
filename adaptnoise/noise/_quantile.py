"""A learned per-coordinate quantile function, as a differentiable torch module."""

import numpy as np
import torch
import torch.nn.functional as F
from scipy.interpolate import PchipInterpolator

from adaptnoise.noise import _spline
from adaptnoise.noise._law import NoiseLaw

__all__ = ["QuantileFunction", "choose_tails", "uniform_levels"]

# Drawing u as k 2^-53 + 2^-54 keeps it inside (0, 1) and symmetric about 1/2,
# so logit tails stay symmetric (1 - 1e-10 == 1 in float32 would break that).
_HALF_ULP = 2.0**-54

# The least height of a spline bin, as a fraction of the spline's range. A
# heavy-tailed column spans many times its bulk, and its bulk's bins must be
# able to be that much lower than the tails'; float32 copies still resolve it.
_MIN_BIN_HEIGHT = 1e-4


def uniform_levels(n_samples, n_features, generator, device):
    """Uniform draws on (0, 1) in float64, exactly symmetric about 1/2."""
    u = torch.rand(
        n_samples, n_features, generator=generator, dtype=torch.float64, device=device
    )
    return u + _HALF_ULP


def choose_tails(X_sorted, threshold=2.0, min_samples=200):
    """Pick ``"bounded"`` or ``"logit"`` tails for each column of sorted data.

    A column is bounded when each of its two tails ends at a hard edge. A
    side ends at an edge when the outermost ``k = max(20, n // 100)`` order
    statistics span less than ``threshold`` times the width of the next
    ``k``. Where the density stays positive up to an edge, the spacings of
    the order statistics next to it are about independent and exponential
    with one mean, so the ratio follows an F law with ``(2k, 2k)`` degrees of
    freedom about 1, which exceeds 2 with probability under 2% at ``k = 20``
    and far less for larger ``k``. A density that falls to zero gives a
    larger ratio: about 2.4 for one that vanishes linearly at its edge, about
    6 for a Gaussian tail, more for heavier tails. Both sides must pass, as
    the bounded input transform bounds both ends. Fewer than ``min_samples``
    rows cannot tell the cases apart, so such columns get the unbounded logit
    tails.
    """
    n = X_sorted.shape[0]
    if n < min_samples:
        return np.full(X_sorted.shape[1], "logit", dtype=object)
    k = max(20, n // 100)
    lo, hi = X_sorted[: 2 * k + 1], X_sorted[::-1][: 2 * k + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        left = (lo[k] - lo[0]) / (lo[2 * k] - lo[k])
        right = (hi[0] - hi[k]) / (hi[k] - hi[2 * k])
    bounded = (left < threshold) & (right < threshold)
    return np.where(bounded, "bounded", "logit").astype(object)


class QuantileFunction(NoiseLaw):
    r"""Per-coordinate monotone quantile functions :math:`Q_i : (0, 1) \to \mathbb{R}`.

    :math:`Q_i(u) = \mathrm{scale}_i \, S_i(z_i(u)) + \mathrm{shift}_i`, where
    :math:`S_i` is a monotone rational-quadratic spline on :math:`[-B_i, B_i]`
    with linear tails and :math:`z_i` is the input transform: ``logit(u)`` for
    unbounded coordinates and, for bounded ones, a map whose bulk is linear
    and whose ends are logarithmic (see :meth:`latent`).

    A bounded coordinate's law has its bulk, mass :math:`1 - 2 \epsilon_i`,
    between the edges :math:`\mathrm{shift}_i \pm \mathrm{scale}_i B_i`
    and a thin exponential tail of mass :math:`\epsilon_i` (``tail_mass``)
    beyond each edge, as wide as the bulk: the density drops at the edge by
    a factor of about :math:`1 / \epsilon_i` and then falls by :math:`e`
    over each bulk's width. A tail continuous with the bulk would have to
    be :math:`\epsilon_i` times narrower, and a point a bulk's width beyond
    an edge (where a flow may carry a row unlike its training rows) would
    then score thousands of nats below one at the edge, not about
    :math:`\log(1 / \epsilon_i) + 1`. Every coordinate's density is thus
    positive and finite on the whole real line, and a point beyond an edge
    is unlikely, not impossible. The tails are part of the
    law: the quantile function, the CDF, ``sample`` and ``log_prob`` all
    describe the same proper density.

    Everything is differentiable in the parameters, so a flow can draw from
    it and score under it in torch, on any device.

    Parameters
    ----------
    bounded : bool tensor of shape (n_features,)
        Which coordinates have bounded bulks with thin tails.
    bound : tensor of shape (n_features,)
        Half-width :math:`B_i` of each spline's range.
    n_bins : int
        Number of spline bins per coordinate.
    tail_mass : tensor of shape (n_features,)
        Mass :math:`\epsilon_i` beyond each edge of a bounded coordinate, in
        (0, 1/2); unused for unbounded ones.
    """

    def __init__(self, bounded, bound, n_bins, tail_mass):
        super().__init__()
        n_features = bounded.shape[0]
        dtype = bound.dtype
        self.register_buffer("bounded", bounded)
        self.register_buffer("bound", bound)
        self.register_buffer("tail_mass", tail_mass.to(dtype))
        self.register_buffer("atom_values", torch.zeros(n_features, 0, dtype=dtype))
        self.register_buffer("atom_masses", torch.zeros(n_features, 0, dtype=dtype))
        self.widths = torch.nn.Parameter(torch.zeros(n_features, n_bins, dtype=dtype))
        self.heights = torch.nn.Parameter(torch.zeros(n_features, n_bins, dtype=dtype))
        self.derivatives = torch.nn.Parameter(
            torch.zeros(n_features, n_bins + 1, dtype=dtype)
        )
        self.log_scale = torch.nn.Parameter(torch.zeros(n_features, dtype=dtype))
        self.shift = torch.nn.Parameter(torch.zeros(n_features, dtype=dtype))

    @property
    def n_features(self):
        """Number of coordinates."""
        return self.bound.shape[0]

    def packed(self):
        """Every parameter in one matrix, a row of ``3 n_bins + 3`` per coordinate.

        The coordinates' quantile functions share no parameter, so a row is an
        independent problem for an optimiser.
        """
        return torch.cat(
            [
                self.widths,
                self.heights,
                self.derivatives,
                self.log_scale[:, None],
                self.shift[:, None],
            ],
            dim=1,
        )

    def unpack(self, theta):
        """Copy the rows of a matrix laid out as :meth:`packed` into the parameters."""
        for target, value in zip(self.parameters(), self._split(theta), strict=True):
            target.copy_(value.reshape(target.shape))

    def forward_packed(self, theta, z, rows):
        """:meth:`forward_latent` of the coordinates ``rows`` at parameters ``theta``.

        ``theta`` holds their rows of :meth:`packed` and ``z`` their columns.
        """
        widths, heights, derivatives, log_scale, shift = self._split(theta)
        knots = _spline.knots(
            widths,
            heights,
            derivatives,
            self.bound[rows],
            min_bin_height=_MIN_BIN_HEIGHT,
        )
        s, log_ds = _spline.forward(z.to(theta.dtype), *knots)
        return log_scale.T.exp() * s + shift.T, log_ds

    def _split(self, theta):
        n_bins = self.widths.shape[1]
        return theta.split([n_bins, n_bins, n_bins + 1, 1, 1], dim=1)

    def knots(self):
        """Knot positions, values and derivatives, each (n_features, n_bins + 1)."""
        return _spline.knots(
            self.widths,
            self.heights,
            self.derivatives,
            self.bound,
            min_bin_height=_MIN_BIN_HEIGHT,
        )

    def latent(self, u):
        r"""The spline input ``z(u)`` for levels ``u`` of shape (n, n_features).

        A bounded coordinate maps its bulk's levels :math:`[\epsilon, 1 -
        \epsilon]` linearly onto :math:`[-B, B]`; beyond, :math:`z = B + c
        \log(\epsilon / (1 - u))` above and :math:`-B - c \log(\epsilon /
        u)` below, with :math:`c = 2 B`, the bulk's width. The spline is
        linear past :math:`\pm B`, so each tail is exponential in the data.
        """
        logit = torch.log(u) - torch.log1p(-u)
        mass, c = self.tail_mass, self._tail_latent_scale()
        bulk = self.bound * (2 * (u - mass) / (1 - 2 * mass) - 1)
        below = -self.bound + c * (torch.log(u) - torch.log(mass))
        above = self.bound - c * (torch.log1p(-u) - torch.log(mass))
        bounded = torch.where(u < mass, below, torch.where(u > 1 - mass, above, bulk))
        return torch.where(self.bounded, bounded, logit)

    def level(self, z):
        """The level ``u(z)`` in [0, 1], the inverse of :meth:`latent`."""
        mass, c = self.tail_mass, self._tail_latent_scale()
        bulk = mass + (1 - 2 * mass) * (z / self.bound + 1) / 2
        # The exponents are clamped at zero where their branch is not taken,
        # so that no unused branch overflows.
        below = mass * torch.exp(((z + self.bound) / c).clamp_max(0))
        above = 1 - mass * torch.exp(((self.bound - z) / c).clamp_max(0))
        beyond = torch.where(z < -self.bound, below, above)
        bounded = torch.where(z.abs() > self.bound, beyond, bulk)
        return torch.where(self.bounded, bounded, torch.sigmoid(z))

    def log_dz_du(self, z):
        """``log z'(u)`` expressed through ``z``, stable far in either kind of tail."""
        logit = F.softplus(z) + F.softplus(-z)
        mass, c = self.tail_mass, self._tail_latent_scale()
        bulk = torch.log(2 * self.bound) - torch.log1p(-2 * mass)
        # Beyond an edge u = mass * exp(-(|z| - B) / c), so z'(u) = c / u.
        beyond = torch.log(c) - torch.log(mass) + (z.abs() - self.bound) / c
        bounded = torch.where(z.abs() > self.bound, beyond, bulk)
        return torch.where(self.bounded, bounded, logit)

    def _tail_latent_scale(self):
        return 2 * self.bound

    def affine(self):
        """Log-scale and shift; a bounded coordinate's are frozen at their start.

        Freezing them keeps the support a bounded coordinate was initialised
        with, which covers every training point, while the spline still shapes
        the density inside it.
        """
        log_scale = torch.where(self.bounded, self.log_scale.detach(), self.log_scale)
        return log_scale, torch.where(self.bounded, self.shift.detach(), self.shift)

    def forward_latent(self, z):
        """``Q`` as a function of ``z``, and ``log S'(z)`` of the spline alone."""
        s, log_ds = _spline.forward(z.to(self.bound.dtype), *self.knots())
        log_scale, shift = self.affine()
        return log_scale.exp() * s + shift, log_ds

    def inverse_latent(self, y):
        """``z = Q^{-1}`` in latent coordinates, and ``log dz/dy``."""
        log_scale, shift = self.affine()
        s = (y.to(self.bound.dtype) - shift) / log_scale.exp()
        z, log_dz = _spline.inverse(s, *self.knots())
        return z, log_dz - log_scale

    def set_atoms(self, values, masses):
        """Give the coordinates the atoms ``values`` with masses ``masses``.

        Both are of shape (n_features, n_atoms); a coordinate with fewer
        atoms pads its row with mass 0 (at any value). The spline then
        describes the continuous part, which keeps the rest of the mass.
        """
        self.atom_values = values.to(self.bound)
        self.atom_masses = masses.to(self.bound)

    @property
    def has_atoms(self):
        """Whether any coordinate has an atom."""
        return self.atom_masses.shape[1] > 0

    def _continuous_share(self):
        return 1 - self.atom_masses.sum(1)

    def _continuous_cdf(self, y):
        return self.level(self.inverse_latent(y)[0])

    def _split_levels(self, u):
        r"""Which levels fall on an atom, and the others' continuous levels.

        Atom :math:`a` holds the levels from :math:`c F_c(a) + \sum_{b < a}
        w_b` on for its mass :math:`w_a`, where :math:`c` is the continuous
        share and :math:`F_c` the continuous part's CDF; the levels between
        the atoms' intervals are the continuous part's, rescaled.
        """
        values, masses = self.atom_values, self.atom_masses
        share = self._continuous_share()
        lower = values[:, None, :] < values[:, :, None]
        below = (masses[:, None, :] * lower).sum(-1)
        start = share[:, None] * self._continuous_cdf(values.T).T + below
        end = start + masses
        level = u[..., None]
        on = (level >= start) & (level < end) & (masses > 0)
        passed = (masses * (level >= end)).sum(-1)
        v = ((u - passed) / share).clamp(_HALF_ULP, 1 - 2 * _HALF_ULP)
        return v, on.any(-1), (values * on).sum(-1)

    def draw(self, u):
        """``Q(u)`` and ``log S'`` of the spline there, 0 on an atom."""
        if not self.has_atoms:
            return self.forward_latent(self.latent(u))
        v, on_atom, value = self._split_levels(u)
        y, log_ds = self.forward_latent(self.latent(v))
        return torch.where(on_atom, value, y), log_ds.masked_fill(on_atom, 0)

    def forward(self, u):
        """Quantiles ``Q(u)`` for levels ``u`` of shape (n, n_features)."""
        return self.draw(u)[0]

    def cdf(self, y):
        """The learned CDF ``F = Q^{-1}``, with values in [0, 1].

        At an atom it is the middle of the atom's interval of levels.
        """
        F = self._continuous_cdf(y)
        if not self.has_atoms:
            return F
        y = y[..., None].to(self.atom_values)
        step = (y > self.atom_values) + 0.5 * (y == self.atom_values)
        return self._continuous_share() * F + (self.atom_masses * step).sum(-1)

    def log_prob(self, y):
        """Log-density of each coordinate, ``-log Q'(F(y))``, shape (n, n_features).

        Finite for every finite ``y``: beyond a bounded coordinate's edge it
        falls linearly, at the rate of that edge's thin tail. With atoms it
        is the density with respect to the Lebesgue measure plus a unit mass
        at each atom: the log of its mass at an atom, the log of the
        continuous share times the continuous part's density elsewhere.
        """
        z, log_dz = self.inverse_latent(y)
        log_p = log_dz - self.log_dz_du(z)
        if not self.has_atoms:
            return log_p
        mass = (self.atom_masses * (y[..., None] == self.atom_values)).sum(-1)
        continuous = log_p + self._continuous_share().log()
        return torch.where(mass > 0, mass.log(), continuous)

    def sample(self, n_samples, generator=None):
        """Draw ``Q(U)`` with ``U`` uniform on (0, 1)^n_features."""
        u = uniform_levels(n_samples, self.n_features, generator, self.bound.device)
        # The input transform runs in float64 even for a float32 module: the
        # logit of u near 1 is lost in float32.
        return self(u)

    @torch.no_grad()
    def initialise(self, X_sorted):
        """Set the splines to interpolate the empirical quantiles of the data.

        Knots are spread evenly along the arc length of the curve
        ``(z_k, x_(k))`` (both axes scaled to unit range), so that steep parts
        such as the gaps between modes get as many knots as flat ones. Their
        values are the sorted data and their slopes come from monotone
        (PCHIP) interpolation, so fitting starts next to the answer.
        """
        n, n_features = X_sorted.shape
        levels = (np.arange(n) + 0.5) / n
        bound = self.bound.cpu().numpy()
        z = self.latent(torch.as_tensor(levels)[:, None].to(self.bound)).T.cpu().numpy()
        n_bins, bounded = self.widths.shape[1], self.bounded.cpu().numpy()
        knots = [
            _interpolating_knots(*column, n_bins)
            for column in zip(z, X_sorted.T, bound, bounded, strict=True)
        ]
        xk, yk, dk = (np.stack(a) for a in zip(*knots, strict=True))
        lo, hi = yk[:, 0], yk[:, -1]
        # A constant column has nothing to interpolate: it gets the identity
        # spline, and its units (see ColumnUnits) put the mass at the constant.
        constant = hi == lo
        scale = np.where(constant, 1.0, (hi - lo) / (2 * bound))
        shift = (hi + lo) / 2
        yk = (yk - shift[:, None]) / scale[:, None]
        dk = dk / scale[:, None]
        yk = np.where(constant[:, None], xk, yk)
        dk = np.where(constant[:, None], 1.0, dk)
        xk, yk, dk = (torch.as_tensor(a).to(self.bound) for a in (xk, yk, dk))
        params = _spline.unconstrained(xk, yk, dk, min_bin_height=_MIN_BIN_HEIGHT)
        for target, value in zip(
            (self.widths, self.heights, self.derivatives), params, strict=True
        ):
            target.copy_(value)
        self.log_scale.copy_(torch.as_tensor(np.log(scale)))
        self.shift.copy_(torch.as_tensor(shift))


def _interpolating_knots(z, x, bound, extend, n_bins):
    """Knots on ``[-bound, bound]`` through the points ``(z, x)``, by arc length.

    With ``extend`` (bounded columns) the points stop short of ``±bound`` and
    are continued to an edge five mean spacings of the outermost points
    beyond the data: for a density positive at its edge a fresh sample of the
    same law then falls beyond it with probability about ``exp(-5) / n``, and
    there it meets the thin tail rather than nothing.
    """
    k = min(len(z) - 1, max(2, len(z) // 100))
    if extend:
        margin = 5 * np.array([x[k] - x[0], x[-1] - x[-1 - k]]) / k
        z = np.concatenate([[-bound], z, [bound]])
        x = np.concatenate([[x[0] - margin[0]], x, [x[-1] + margin[1]]])
    span = max(x[-1] - x[0], np.finfo(float).tiny)
    steps = np.hypot(np.diff(z) / (2 * bound), np.diff(x) / span)
    arc = np.concatenate([[0], np.cumsum(steps)])
    zk = np.interp(np.linspace(0, arc[-1], n_bins + 1), arc, z)
    zk[0], zk[-1] = -bound, bound
    xk = np.interp(zk, z, x)
    dk = PchipInterpolator(zk, xk).derivative()(zk)
    # The end slopes set how the noise extrapolates past the data, and no
    # data point constrains them during the fit: take them from the secant
    # through the outermost 1% of the points rather than from the last knot.
    dk[0] = (x[k] - x[0]) / (z[k] - z[0])
    dk[-1] = (x[-1] - x[-1 - k]) / (z[-1] - z[-1 - k])
    return zk, xk, dk
