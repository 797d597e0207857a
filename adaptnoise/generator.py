"""FlowMatchingGenerator: flow matching as a scikit-learn density estimator."""

from numbers import Integral, Real

from adaptnoise._flow import BaseFlow
from adaptnoise._sklearn_compat import Interval, StrOptions
from adaptnoise.noise import NOISES
from adaptnoise.processes import PROCESSES

__all__ = ["FlowMatchingGenerator"]


class FlowMatchingGenerator(BaseFlow):
    r"""Generative flow from learned noise to data, with an exact likelihood.

    A velocity network :math:`v(t, x)` is trained by conditional flow matching
    to carry data (t = 0) to noise (t = 1) along the paths of ``process``;
    sampling draws noise and integrates :math:`dx/dt = v(t, x)` backwards from
    t = 1 to t = 0. By default the noise is learned (:class:`QuantileNoise`),
    paired with the data by exact minibatch optimal transport, so paths are
    short and nearly straight and few ODE steps suffice.

    Real tables go in and come out: fit on a DataFrame and ``sample``
    returns a DataFrame with the same column names, order and dtypes; fit on
    an array and it returns an array. Columns may be continuous, integer,
    boolean, categorical (pandas ``category``, strings, objects) or
    datetimes, with missing values (NaN, None, ``pd.NA``, NaT) in any of
    them; :class:`~adaptnoise.tables.TableEncoder` says how each is encoded.
    Integer, boolean, categorical and datetime values live on a unit lattice
    and are dequantised (spread uniformly over their cell) while training;
    whether a value is missing is an indicator column the flow models
    jointly with the rest, so samples miss values at the data's rate and
    where the rest of the row makes it likely. Samples are decoded to valid
    values: integers integral, categories among the seen ones, discrete
    columns (numbers that all repeat, see
    :class:`~adaptnoise.tables.TableEncoder`) among their seen values,
    numeric columns within ``bounds``. The encoded columns are standardised
    internally. Constant columns are set aside: samples repeat their value
    exactly. A continuous column's atoms (a value repeated far more often
    than its neighbours, such as a zero, a cap or a default, by the rule of
    :class:`~adaptnoise.QuantileNoise`'s ``atoms``) are dequantised too,
    over a window next to the atom that the other rows barely reach, and
    samples in the window are the atom, so its share is kept. A continuous
    column whose middle half spans less than 0.65 of what it would in a
    normal law of the same standard deviation (a long tail next to a
    crowded bulk, such as an income or a crime rate) is mapped onto the
    normal scores of its quantiles before the flow, which a smooth velocity
    resolves; beyond the training range the map goes on linearly.

    ``score_samples`` is the log-likelihood of a row in the data's units:
    a density over its continuous columns times the probability of its
    discrete values, each the mass of its lattice cell as the density at the
    cell's centre estimates it; a discrete column's value gets its level's
    mass spread over the values half way to the neighbouring levels (so a
    value between levels scores too); a row at an atom gets the density at
    the atom of the flow, which spread its mass over its window; a mapped
    column's density is read through the map's derivative. A missing
    value counts as its indicator with the encoder's fill in its value
    column; in a column that had no missing value during fit it is
    integrated out (see :meth:`score_samples`). A row that differs from a
    constant column scores ``-inf``, as a point mass has no density. A
    category level never seen is scored as the levels seen once (Good and
    Turing's estimate of the chance of a new level), see
    :meth:`score_samples`.

    Parameters
    ----------
    noise : {"quantile", "gaussian", "student_t", "uniform"} or BaseNoise, \
            default="quantile"
        The terminal noise: a noise estimator (a
        :class:`~adaptnoise.noise.BaseNoise` such as :class:`QuantileNoise`
        or :class:`FixedNoise`, cloned into ``noise_`` and fitted to the
        standardised data), or the name of one: ``"quantile"`` is
        ``QuantileNoise()``, the others ``FixedNoise(law=...)``. Nested
        parameters such as ``noise__n_bins`` work with a name too: setting
        one replaces the name by its estimator.
    process : {"linear", "ou", "kac", "uniform"} or BaseProcess, default="linear"
        The path from data to noise: straight lines to the ``noise``
        (:class:`~adaptnoise.processes.LinearProcess`), or a componentwise 1D
        process with its own terminal law (``OUProcess``, ``KacProcess``,
        ``UniformProcess``), in which case ``noise`` is not used; the Kac
        process needs ``coupling="independent"``. Any
        :class:`~adaptnoise.processes.BaseProcess` works; other objects raise
        a ``TypeError`` at ``fit``. A compact terminal law (Kac, uniform) gives
        ``-inf`` log-likelihoods for rows whose flow ends outside it; rank
        such models with :func:`adaptnoise.metrics.energy_scorer` rather than
        ``score``. Nested parameters such as ``process__a`` work with a name.
    categorical_features : "from_dtype", array-like or None, \
            default="from_dtype"
        Which columns are categorical, as in
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`: from the
        dtypes (pandas ``category``, string and object columns of text), or
        names, indices or a mask. See :class:`~adaptnoise.tables.TableEncoder`
        for how every kind of column (categorical, integer, boolean,
        datetime, constant, with missing values) is modelled.
    categorical_encoding : {"auto", "ordinal", "onehot"}, default="auto"
        How a categorical column enters the flow: one dequantised code
        column (``"ordinal"``), or one column per level decoded by argmax
        (``"onehot"``). ``"auto"`` one-hot encodes columns of at most 16
        levels (``"missing"`` counted) and codes wider ones, so that a
        column of hundreds of levels stays one dimension. One-hot columns
        gave lower pair-trend errors and two-sample AUCs on the small mixed
        tables of ``benchmarks/tables.py`` (see the README's "Real tables").
        Either way, once trained, the model decodes its nominal columns
        (categorical, boolean, missing indicators) through offsets fitted
        on 8192 of its own draws (at the estimator's ``n_steps``), so that
        each level's sampled share is its training share: a flow blurs
        levels into each other, which gives rare levels more than their
        share. Only draws near a decision boundary change level, and scores
        are unaffected.
    discrete_features : "auto", array-like or None, default="auto"
        Which numeric columns are discrete, sampled among their seen values
        only: ``"auto"`` those whose values all repeat (at most 1% of the
        rows hold a value seen once) and are not consecutive integers; None
        none; names, indices or a boolean mask exactly those listed. See
        :class:`~adaptnoise.tables.TableEncoder`.
    bounds : "range", dict or None, default="range"
        Where samples of numeric columns are clipped: ``"range"`` to each
        column's training ``[min, max]``; a dict ``{column: (low, high)}``
        widens or sets it per column (None for an open side); None turns
        clipping off. Scores are not clipped.
    coupling : {"ot", "independent", "sinkhorn"}, default="ot"
        How data and noise rows of a minibatch are paired: exact optimal
        transport for the squared Euclidean cost, independently, or by
        entropic OT with regularisation ``ot_reg``.
    ot_reg : float, default=0.05
        Entropic regularisation of ``coupling="sinkhorn"``, relative to the
        largest cost in the batch.
    sigma : float or "auto", default="auto"
        Standard deviation of the Gaussian perturbation added to the
        interpolant, :math:`X_t + \sigma \varepsilon`, in the flow's units
        (standardised, and decorrelated with ``whiten``; at most 10).
        Deterministic straight-path training memorises its training
        pairings; the perturbation restores generalisation (arXiv
        2510.18118) at the cost of blurring the samples by about ``sigma``
        at the data end. It blurs only the columns of ordered values:
        categorical, boolean and missing-indicator columns, and columns with
        atoms, are left alone, as a blur would carry them across the edges
        of their cells. ``"auto"`` (``sigma_``) scales it to the data and to
        how often training revisits each row: half the bandwidth of a
        Gaussian kernel density estimate of the blurred columns of the
        training rows, chosen by leave-one-out likelihood (0 when there are
        none), when the fit makes 200 or more passes over
        the rows (small tables, where memorising is the risk), none at 100
        passes or fewer (large tables, where blur is), linear in between.
        The bandwidth is itself large for a few rows in many columns and
        small for many rows with sharp structure.
    whiten : bool, default=True
        Decorrelate the standardised continuous columns by the inverse
        square root of their (Ledoit-Wolf shrunk) correlation matrix before
        the flow, and back after it; lattice columns (integers, codes,
        missing-value indicators) are left alone. The flow then starts from
        the linear part of the dependence between columns, and strongly
        correlated columns (a radius, its perimeter and its area) no longer
        form a thin ridge that training must resolve. The symmetric root is
        the identity for uncorrelated columns.
    noise_training : {"pretrain", "joint"}, default="pretrain"
        ``"pretrain"`` fits the noise first and freezes it; ``"joint"`` keeps
        training a :class:`QuantileNoise` together with the velocity, adding
        its minibatch marginal W2 loss to the flow-matching loss, as in the
        paper.
    hidden_layer_sizes : tuple of int, default=(128, 128, 128)
        Widths of the velocity network's hidden layers.
    time_embedding_dim : int, default=32
        Size of the sinusoidal time embedding.
    fourier_features : int, default=256
        Even number of random Fourier features of the (standardised) state fed
        to the velocity network besides the state itself; 0 turns them off.
        They let the network draw sharp edges, such as those of compactly
        supported data. See :class:`~adaptnoise.nn.VelocityMLP`.
    fourier_scale : float, default=0.5
        Spread of the Fourier frequencies: larger resolves finer detail but
        extrapolates worse into heavy tails. At most 1e4, past which float32
        phases keep no precision.
    max_iter : int or "auto", default="auto"
        Number of optimiser (Adam) steps. ``"auto"`` runs 200 passes over
        the rows (``200 * n_samples / batch_size`` steps), at least 500 and
        at most 7500: small tables fit in seconds, and more steps only
        memorise them, while large ones get the full budget.
    batch_size : int, default=256
        Rows per minibatch (capped at the number of rows).
    learning_rate_init : float, default=5e-3
        Adam's initial step size, annealed to zero by a cosine schedule over
        ``max_iter`` steps. Gradients are clipped (``max_grad_norm``), which
        keeps this large step stable.
    ema_decay : float, default=0.995
        Decay of the exponential moving average of the weights used for
        sampling and scoring; 0 uses the last weights. The average covers the
        steps of this fit only (bias-corrected, as Adam's moments are), so a
        short fit is not pulled toward its random start.
    max_grad_norm : float or None, default=1.0
        Gradients are clipped to this norm; ``None`` disables clipping.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their
        flow-matching loss (fixed draws of time, noise and pairing, moving-
        average weights, every 100 steps) has not improved by at least
        ``tol`` for ``n_iter_no_change`` checks in a row; reaching
        ``max_iter`` first is a ``ConvergenceWarning``. By default all
        ``max_iter`` steps run, as the learning rate anneals to zero over
        them: the training loss of flow matching is dominated by the
        irreducible variance of its regression target, so it stalls long
        before the samples stop improving, and is no stopping signal.
    validation_fraction : float, default=0.1
        Share of the rows held out when ``early_stopping`` is on.
    tol : float, default=1e-4
        See ``early_stopping``.
    n_iter_no_change : int, default=10
        See ``early_stopping``.
    solver : {"euler", "heun", "rk4", "dopri5"}, default="rk4"
        ODE solver for sampling. ``score_samples`` needs a fixed-step solver
        to be deterministic per row and uses ``"rk4"`` when this is
        ``"dopri5"``.
    n_steps : int or "auto", default="auto"
        Steps of the fixed-step solvers (initial steps of ``"dopri5"``);
        ``sample`` can override it per call. ``"auto"`` samples in 5 steps
        and scores in 20: with OT-paired training the paths are near
        straight, and at those counts RK4 samples and scores as a hundred
        steps do (``benchmarks/bench_ode_steps.py``; the README's Measured
        section gives the errors). Scoring takes more: held-out
        log-likelihoods are compared to hundredths of a nat, finer than
        samples can show. It takes the exact divergence, one network pass
        per feature, once per step, at the step's midpoint, and the state's
        four RK4 stages without it. An int is used for both.
    divergence : {"exact", "hutchinson"}, default="exact"
        Divergence of the velocity in ``score_samples``: exact by autograd
        (one pass per feature) or Hutchinson's estimator with Rademacher
        probes (one pass, for wide data; not batch-invariant).
    random_state : int, RandomState instance or None, default=None
        Seeds the noise fit, the network's initial weights and the
        minibatches, through generators of this fit's own. NumPy's and
        torch's global generators are never read or advanced.
    verbose : int, default=0
        Print progress (iteration, loss, speed, time left) during fit, and
        (rows done, speed, time left) during ``sample`` and
        ``score_samples``.
        Ctrl-C during the flow's training stops it and keeps the model
        trained so far, with a warning; during the noise fit it stops the
        whole fit and leaves the estimator unfitted.
    warm_start : bool, default=False
        Continue training the fitted network and noise on the next ``fit``.
    device : str, default="auto"
        Torch device; ``"auto"`` uses CUDA when available.

    Attributes
    ----------
    noise_ : estimator or None
        The fitted noise, in the flow's units; ``None`` when the process
        brings its own terminal law.
    process_ : BaseProcess
        The process used.
    velocity_ : torch.nn.Module
        The velocity network (moving-average weights).
    encoder_ : TableEncoder
        The fitted encoding of the table's columns.
    mean_, scale_ : ndarray of shape (n_encoded,)
        Standardisation of the encoded columns
        (``encoder_.get_feature_names_out()``); for a numeric array without
        constant columns or missing values, of the columns themselves.
    constant_features_ : ndarray of shape (n_features_in_,), dtype=bool
        The columns that were constant in the training data.
    n_iter_ : int
        Optimiser steps run (in total, across warm starts).
    sigma_ : float
        The interpolant noise used, ``sigma`` resolved.
    loss_curve_ : list of float
        Mean training loss of each block of 100 steps.
    validation_loss_curve_ : list of float
        Validation loss after each block of 100 steps; empty unless
        ``early_stopping``.
    device_ : torch.device
        Where the network and the noise live.
    n_features_in_ : int
        Number of columns of the training data.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The training DataFrame's column names, when they are all strings.

    See Also
    --------
    QuantileNoise : The learned noise.
    sklearn.neighbors.KernelDensity : A classical density estimator and sampler.

    References
    ----------
    | Adapting Noise to Data: Generative Flows from 1D Processes (2025).
      https://arxiv.org/abs/2510.12636
    | Flow Matching for Generative Modeling (Lipman et al., 2023).
      https://arxiv.org/abs/2210.02747
    | Improving and generalizing flow-based generative models with minibatch
      optimal transport (Tong et al., 2024). https://arxiv.org/abs/2302.00482

    Examples
    --------
    >>> import numpy as np
    >>> from adaptnoise import FlowMatchingGenerator
    >>> from adaptnoise.datasets import make_checkerboard
    >>> X = make_checkerboard(1000, random_state=0)
    >>> model = FlowMatchingGenerator(max_iter=200, random_state=0).fit(X)
    >>> model.sample(5, random_state=0).shape
    (5, 2)
    >>> model.score_samples(X[:3]).shape
    (3,)

    A table with typed columns and missing values comes back in kind:

    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({
    ...     "size": rng.normal(10, 2, 300),
    ...     "count": rng.poisson(3, 300),
    ...     "colour": pd.Categorical(rng.choice(["red", "blue"], 300)),
    ...     "score": np.where(rng.random(300) < 0.2, np.nan, rng.random(300)),
    ... })
    >>> model = FlowMatchingGenerator(max_iter=200, random_state=0).fit(df)
    >>> synthetic = model.sample(4, random_state=0)
    >>> synthetic.dtypes.tolist() == df.dtypes.tolist()
    True
    >>> set(synthetic["colour"]) <= {"red", "blue"}
    True
    """

    _parameter_constraints: dict = {
        # Names and objects are resolved at fit, where an object that is not
        # a noise estimator or a process gets a TypeError naming what it lacks.
        "noise": [StrOptions(set(NOISES)), object],
        "process": [StrOptions(set(PROCESSES)), object],
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "categorical_encoding": [StrOptions({"ordinal", "onehot", "auto"})],
        "discrete_features": [StrOptions({"auto"}), "array-like", None],
        "bounds": [StrOptions({"range"}), dict, None],
        "coupling": [StrOptions({"ot", "independent", "sinkhorn"})],
        "ot_reg": [Interval(Real, 0, None, closed="neither")],
        # In standardised units: beyond ten spreads the perturbation drowns
        # the data it should blur.
        "sigma": [Interval(Real, 0, 10, closed="both"), StrOptions({"auto"})],
        "whiten": ["boolean"],
        "noise_training": [StrOptions({"pretrain", "joint"})],
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "time_embedding_dim": [Interval(Integral, 2, None, closed="left")],
        "fourier_features": [Interval(Integral, 0, None, closed="left")],
        # float32 keeps no digit of sin(phase) past a phase of 2**24; a scale
        # of 1e4 already puts standardised data's phases near it.
        "fourier_scale": [Interval(Real, 0, 1e4, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "ema_decay": [Interval(Real, 0, 1, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"euler", "heun", "rk4", "dopri5"})],
        "n_steps": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "divergence": [StrOptions({"exact", "hutchinson"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "device": [str],
    }

    def __init__(
        self,
        *,
        noise="quantile",
        process="linear",
        categorical_features="from_dtype",
        categorical_encoding="auto",
        discrete_features="auto",
        bounds="range",
        coupling="ot",
        ot_reg=0.05,
        sigma="auto",
        whiten=True,
        noise_training="pretrain",
        hidden_layer_sizes=(128, 128, 128),
        time_embedding_dim=32,
        fourier_features=256,
        fourier_scale=0.5,
        max_iter="auto",
        batch_size=256,
        learning_rate_init=5e-3,
        ema_decay=0.995,
        max_grad_norm=1.0,
        early_stopping=False,
        validation_fraction=0.1,
        tol=1e-4,
        n_iter_no_change=10,
        solver="rk4",
        n_steps="auto",
        divergence="exact",
        random_state=None,
        verbose=0,
        warm_start=False,
        device="auto",
    ):
        self.noise = noise
        self.process = process
        self.categorical_features = categorical_features
        self.categorical_encoding = categorical_encoding
        self.discrete_features = discrete_features
        self.bounds = bounds
        self.coupling = coupling
        self.ot_reg = ot_reg
        self.sigma = sigma
        self.whiten = whiten
        self.noise_training = noise_training
        self.hidden_layer_sizes = hidden_layer_sizes
        self.time_embedding_dim = time_embedding_dim
        self.fourier_features = fourier_features
        self.fourier_scale = fourier_scale
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.ema_decay = ema_decay
        self.max_grad_norm = max_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.solver = solver
        self.n_steps = n_steps
        self.divergence = divergence
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device
