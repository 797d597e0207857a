"""The estimator surface shared by the generator and the noises."""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from adaptnoise._progress import Progress
from adaptnoise._torch import make_generator

__all__ = ["CHUNK_SIZE", "SamplerMixin", "check_n_samples"]

# Rows per chunk when sampling or scoring, to bound memory on large requests.
# A chunk's network activations should stay within the caches: at 65536 rows
# of a 128-wide default network every layer spills to memory and a sample
# takes a fifth longer than at 8192.
CHUNK_SIZE = 8192


def check_n_samples(n_samples, name="n_samples"):
    """Raise a clear error unless ``n_samples`` is a positive int (not a bool)."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral):
        raise TypeError(f"{name} must be an int; got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(f"{name} must be at least 1; got {n_samples}.")


class SamplerMixin:
    """``sample``, ``score_samples`` and ``score``, written once over two hooks.

    As scikit-learn's ``BaseMixture`` owns the surface of its mixtures, this
    mixin owns the checks, the seeding and the chunking; an estimator supplies

    - ``_sample_chunk(n_samples, generator, **options)``: that many rows as a
      float64 NumPy array, drawing only from the ``torch.Generator`` given;
    - ``_validate_rows(X)``: ``X`` validated against the fitted columns;
    - ``_score_chunk(X)``: the float64 log-densities of validated rows;

    and sets ``device_`` when fitted. With a true ``verbose`` parameter,
    ``sample`` and ``score_samples`` report their progress after each chunk;
    an estimator whose hooks also take a ``progress`` keyword, a callable
    given the fraction of the chunk done, sets ``_progress_within_chunks``
    and reports within a chunk too, so that one long chunk is not silent.
    """

    _progress_within_chunks = False

    def _sample(self, n_samples, random_state, **options):
        check_is_fitted(self)
        check_n_samples(n_samples)
        generator = make_generator(random_state, self.device_)
        progress = self._progress("sample", n_samples, "sampled")
        chunks, start = [], 0
        for n in np.diff(np.r_[0:n_samples:CHUNK_SIZE, n_samples]).tolist():
            within = self._within(progress, start, n)
            chunks.append(self._sample_chunk(n, generator, **within, **options))
            start += n
            progress.update(start)
        return self._decode(np.concatenate(chunks))

    def _progress(self, task, n_rows, verb):
        return Progress(
            f"{type(self).__name__}.{task}",
            n_rows,
            verbose=getattr(self, "verbose", 0),
            label="{done}/{total} rows " + verb,
            rate_unit="rows",
        )

    def _within(self, progress, start, size):
        """The ``progress`` keyword of a chunk's hook, if the hook takes one."""
        if not (self._progress_within_chunks and progress.verbose):
            return {}
        return {"progress": progress.within(start, size)}

    def _decode(self, samples):
        """The rows ``sample`` returns, from the concatenated chunks."""
        return samples

    def sample(self, n_samples=1, random_state=None):
        """Draw rows from the fitted law.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.
        random_state : int, RandomState instance or None, default=None
            An int gives the same rows on every call; ``None`` draws fresh
            rows each call from the operating system's entropy, without
            touching NumPy's or torch's global generators.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            Samples, float64.
        """
        return self._sample(n_samples, random_state)

    def score_samples(self, X):
        """Log-density of the fitted law at each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            Float64 log-densities; ``-inf`` for rows outside a bounded support.
        """
        check_is_fitted(self)
        X = self._validate_rows(X)
        n_rows = X.shape[0]
        progress = self._progress("score_samples", n_rows, "scored")
        chunks = []
        for start in range(0, n_rows, CHUNK_SIZE):
            rows = X[start : start + CHUNK_SIZE]
            within = self._within(progress, start, rows.shape[0])
            chunks.append(self._score_chunk(rows, **within))
            progress.update(start + rows.shape[0])
        return np.concatenate(chunks)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Mean of :meth:`score_samples`; ``-inf`` if any row scores ``-inf``.
        """
        return float(np.mean(self.score_samples(X)))
