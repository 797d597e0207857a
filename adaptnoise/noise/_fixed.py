"""Fixed, standardised noise laws as torch modules: Gaussian, Student-t, uniform."""

import math

import torch
from scipy.special import betaln

from adaptnoise.noise._law import NoiseLaw

__all__ = ["FixedLaw"]

# Beyond this many degrees of freedom the Student-t law is its Gaussian limit:
# the two differ by less than float32 resolves, and the Student-t formulas
# would divide by a df that float32 holds as infinity.
_GAUSSIAN_DF = 1e12


class FixedLaw(NoiseLaw):
    """A product of identical, unit-variance 1D laws with a torch interface.

    Parameters
    ----------
    law : {"gaussian", "student_t", "uniform"}
        Standard normal; Student-t with ``df`` degrees of freedom, scaled to
        unit variance when ``df > 2``; uniform on ``[-sqrt(3), sqrt(3)]``.
    n_features : int
        Number of coordinates.
    df : float
        Degrees of freedom of the Student-t law, at least 1; above
        ``_GAUSSIAN_DF`` the law is the standard normal, its limit.
    """

    def __init__(self, law, n_features, df=5.0):
        super().__init__()
        if law == "student_t" and df > _GAUSSIAN_DF:
            law = "gaussian"
        self.law, self.df = law, float(df)
        self.scale = math.sqrt(df / (df - 2)) if law == "student_t" and df > 2 else 1.0
        self.register_buffer(
            "dtype_carrier", torch.zeros(n_features, dtype=torch.float64)
        )

    @property
    def n_features(self):
        """Number of coordinates."""
        return self.dtype_carrier.shape[0]

    def sample(self, n_samples, generator=None):
        """Draw ``n_samples`` rows in the module's dtype and on its device."""
        shape = (n_samples, self.dtype_carrier.shape[0])
        like = {"dtype": self.dtype_carrier.dtype, "device": self.dtype_carrier.device}
        if self.law == "gaussian":
            return torch.randn(shape, generator=generator, **like)
        if self.law == "uniform":
            u = torch.rand(shape, generator=generator, **like)
            return math.sqrt(3) * (2 * u - 1)
        return _student_t(shape, self.df, generator, like) / self.scale

    def log_prob(self, y):
        """Elementwise log-densities of the rows ``y``."""
        if self.law == "gaussian":
            return -0.5 * y.square() - 0.5 * math.log(2 * math.pi)
        if self.law == "uniform":
            inside = y.abs() <= math.sqrt(3)
            return torch.where(inside, -math.log(2 * math.sqrt(3)), -math.inf)
        df, x = self.df, y * self.scale
        # log(1 / (sqrt(df) B(1/2, df/2))): the gamma functions' own logarithms
        # would cancel catastrophically for a large df.
        log_norm = -0.5 * math.log(df) - float(betaln(0.5, df / 2))
        return (
            log_norm
            - (df + 1) / 2 * torch.log1p(x.square() / df)
            + math.log(self.scale)
        )


def _student_t(shape, df, generator, like):
    """Bailey's polar method, which needs only uniforms from ``generator``.

    ``df (w^(-2/df) - 1)`` is computed as ``df expm1(-2 log(w) / df)``, which
    keeps it accurate for a large ``df``, where it tends to ``-2 log w`` (the
    polar method for the Gaussian).
    """
    n = math.prod(shape)
    accepted = []
    while sum(len(a) for a in accepted) < n:
        uv = 2 * torch.rand(2, 2 * n + 16, generator=generator, **like) - 1
        w = uv.square().sum(0)
        keep = (w < 1) & (w > 0)
        u, w = uv[0, keep], w[keep]
        spread = df * torch.expm1(-2 / df * torch.log(w))
        accepted.append(u * torch.sqrt(spread / w))
    return torch.cat(accepted)[:n].reshape(shape)
