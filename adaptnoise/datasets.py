"""Two-dimensional toy distributions with exact log-densities, and a real table.

The makers draw from laws whose log-density :func:`log_density` gives
exactly, so a generator's likelihood can be compared with the truth;
:func:`load_penguins` is a small mixed-type table that ships with the
package, for trying the generator on real columns offline.
"""

from importlib import resources
from numbers import Integral

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import check_array, check_random_state

from ._sklearn_compat import Interval, StrOptions, validate_params

__all__ = [
    "GAUSSIAN_GRID_MEANS",
    "GAUSSIAN_GRID_STD",
    "GAUSSIAN_GRID_WEIGHTS",
    "load_penguins",
    "log_density",
    "make_checkerboard",
    "make_funnel",
    "make_gaussian_grid",
]

# Checkerboard: a 4x4 board of side-2 squares covering [-4, 4]^2, with the 8
# squares whose indices (i, j) have an even sum occupied.
_BOARD_HALF_WIDTH = 4.0
_SQUARE_SIDE = 2.0
_N_SQUARES_PER_SIDE = 4
_OCCUPIED_AREA = 8 * _SQUARE_SIDE**2

# Read-only, so that no caller can silently change the law for everyone else.
GAUSSIAN_GRID_MEANS = np.array(
    [[a, b] for a in (-3.0, 0.0, 3.0) for b in (-3.0, 0.0, 3.0)]
)
GAUSSIAN_GRID_MEANS.setflags(write=False)
GAUSSIAN_GRID_STD = 0.25
# The 0.01 mode is the hard one: a sampler that drops it still looks good to
# the eye and to most sample-based metrics.
GAUSSIAN_GRID_WEIGHTS = (0.01, 0.04, 0.10, 0.05, 0.20, 0.10, 0.15, 0.15, 0.20)

_FUNNEL_X1_STD = 3.0

_LOG_2PI = np.log(2.0 * np.pi)

_MAKE_PARAMETER_CONSTRAINTS = {
    "n_samples": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
}


# The sections every maker's docstring shares, written in place of its
# "{maker_sections}" line by ``_toy_maker``.
_MAKER_SECTIONS = """Parameters
    ----------
    n_samples : int, default=1000
        The number of points to generate.

    random_state : int, RandomState instance or None, default=None
        Determines random number generation. Pass an int for reproducible
        output across multiple function calls.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype=float64
        {returned}

    See Also
    --------
    log_density : Exact log-density of this law (``name="{name}"``)."""


def _toy_maker(name, returned):
    """Validate a maker's parameters and complete its docstring.

    ``name`` is the law's name in :func:`log_density`; ``returned`` describes
    the generated points.
    """

    def decorate(make):
        sections = _MAKER_SECTIONS.format(name=name, returned=returned)
        make.__doc__ = make.__doc__.replace("{maker_sections}", sections)
        return validate_params(
            _MAKE_PARAMETER_CONSTRAINTS, prefer_skip_nested_validation=True
        )(make)

    return decorate


@_toy_maker("checkerboard", "The generated points.")
def make_checkerboard(n_samples=1000, *, random_state=None):
    """Generate a 2D checkerboard: uniform on 8 of the 16 squares of a board.

    The board covers ``[-4, 4]^2`` with a 4x4 grid of squares of side 2.
    Square ``(i, j)``, with ``i, j = floor((x + 4) / 2)`` in ``0..3``, is
    occupied when ``i + j`` is even. Points are uniform on the occupied
    squares, so each coordinate is marginally uniform on ``[-4, 4]`` while
    the joint law has sharp edges and holes.

    {maker_sections}

    Examples
    --------
    >>> from adaptnoise.datasets import log_density, make_checkerboard
    >>> X = make_checkerboard(n_samples=500, random_state=0)
    >>> float(X[0, 0])
    -3.379...

    Every point lies on an occupied square, where the density is 1/32:

    >>> float(log_density("checkerboard", X).min())
    -3.4657...
    """
    rng = check_random_state(random_state)
    return _sample_checkerboard(n_samples, rng)


def _sample_checkerboard(n_samples, rng):
    rows = rng.randint(_N_SQUARES_PER_SIDE, size=n_samples)
    # Shifting the column by the row's parity keeps (row + col) even, so this
    # picks one of the 8 occupied squares uniformly without any rejection.
    cols = 2 * rng.randint(_N_SQUARES_PER_SIDE // 2, size=n_samples) + rows % 2
    lower_left = _SQUARE_SIDE * np.column_stack([rows, cols]) - _BOARD_HALF_WIDTH
    # uniform draws from [0, 1), matching the closed lower-left convention
    # of log_density.
    return lower_left + _SQUARE_SIDE * rng.uniform(size=(n_samples, 2))


@_toy_maker("gaussian_grid", "The generated points, in random order.")
def make_gaussian_grid(n_samples=1000, *, random_state=None):
    """Generate a 3x3 grid of Gaussians with unequal weights.

    The components are isotropic Gaussians with standard deviation
    :data:`GAUSSIAN_GRID_STD` centred on :data:`GAUSSIAN_GRID_MEANS`, the
    points of ``{-3, 0, 3}^2`` in row-major order (the first coordinate
    varies slowest), weighted by :data:`GAUSSIAN_GRID_WEIGHTS`. The first
    mode, at ``(-3, -3)``, has weight 0.01 and is easy to miss.

    {maker_sections}

    Examples
    --------
    >>> import numpy as np
    >>> from adaptnoise.datasets import GAUSSIAN_GRID_MEANS, make_gaussian_grid
    >>> X = make_gaussian_grid(n_samples=500, random_state=0)

    The number of points nearest each mean follows the weights:

    >>> nearest = ((X[:, None] - GAUSSIAN_GRID_MEANS) ** 2).sum(axis=2).argmin(axis=1)
    >>> np.bincount(nearest, minlength=9)
    array([ 5, 22, 52, 24, 98, 44, 78, 81, 96])
    """
    rng = check_random_state(random_state)
    counts = rng.multinomial(n_samples, GAUSSIAN_GRID_WEIGHTS)
    labels = np.repeat(np.arange(len(GAUSSIAN_GRID_WEIGHTS)), counts)
    # Shuffle so that any prefix X[:k] is itself a sample from the mixture.
    rng.shuffle(labels)
    noise = GAUSSIAN_GRID_STD * rng.standard_normal(size=(n_samples, 2))
    return GAUSSIAN_GRID_MEANS[labels] + noise


@_toy_maker(
    "funnel", "The generated points; column 0 is ``x1`` and column 1 is ``x2``."
)
def make_funnel(n_samples=1000, *, random_state=None):
    """Generate Neal's funnel in two dimensions.

    ``x1 ~ N(0, 9)`` and, given ``x1``, ``x2 ~ N(0, exp(x1))``. The scale of
    ``x2`` varies over several orders of magnitude, giving a narrow neck and
    a heavy-tailed mouth.

    {maker_sections}

    References
    ----------
    .. [1] R. M. Neal, "Slice sampling", The Annals of Statistics, 31(3),
       pp. 705-767, 2003.

    Examples
    --------
    >>> from adaptnoise.datasets import make_funnel
    >>> X = make_funnel(n_samples=500, random_state=0)
    >>> X.shape
    (500, 2)
    >>> float(X[0, 0])
    5.292...
    """
    rng = check_random_state(random_state)
    z = rng.standard_normal(size=(n_samples, 2))
    x1 = _FUNNEL_X1_STD * z[:, 0]
    x2 = np.exp(x1 / 2.0) * z[:, 1]
    return np.column_stack([x1, x2])


def _checkerboard_log_density(X):
    squares = np.floor((X + _BOARD_HALF_WIDTH) / _SQUARE_SIDE)
    # The board is closed on its outer edge: x = 4 belongs to the last square
    # rather than to a fifth, empty one.
    squares = np.where(X == _BOARD_HALF_WIDTH, _N_SQUARES_PER_SIDE - 1, squares)
    on_board = np.all(np.abs(X) <= _BOARD_HALF_WIDTH, axis=1)
    occupied = on_board & (squares.sum(axis=1) % 2 == 0)
    return np.where(occupied, -np.log(_OCCUPIED_AREA), -np.inf)


def _gaussian_grid_log_density(X):
    var = GAUSSIAN_GRID_STD**2
    sq_dist = ((X[:, np.newaxis, :] - GAUSSIAN_GRID_MEANS) ** 2).sum(axis=2)
    log_components = -sq_dist / (2.0 * var) - (_LOG_2PI + np.log(var))
    return logsumexp(log_components + np.log(GAUSSIAN_GRID_WEIGHTS), axis=1)


def _funnel_log_density(X):
    x1, x2 = X[:, 0], X[:, 1]
    log_p_x1 = -0.5 * (x1 / _FUNNEL_X1_STD) ** 2 - np.log(_FUNNEL_X1_STD)
    # x2**2 * exp(-x1) computed in log space: the direct product is 0 * inf
    # (NaN) at x2 = 0 once exp(-x1) overflows, whereas the true term is 0.
    with np.errstate(divide="ignore", over="ignore"):
        scaled_sq = np.exp(2.0 * np.log(np.abs(x2)) - x1)
    log_p_x2 = -0.5 * scaled_sq - 0.5 * x1
    return log_p_x1 + log_p_x2 - _LOG_2PI


_LOG_DENSITIES = {
    "checkerboard": _checkerboard_log_density,
    "gaussian_grid": _gaussian_grid_log_density,
    "funnel": _funnel_log_density,
}


def _check_points(X):
    X = check_array(X, dtype=np.float64, input_name="X")
    if X.shape[1] != 2:
        raise ValueError(
            f"X must have exactly 2 columns (one per coordinate); got an array "
            f"of shape {X.shape}."
        )
    return X


@validate_params(
    {"name": [StrOptions(set(_LOG_DENSITIES))], "X": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def log_density(name, X):
    """Evaluate the exact log-density of a toy distribution.

    Parameters
    ----------
    name : {"checkerboard", "gaussian_grid", "funnel"}
        The distribution, matching :func:`make_checkerboard`,
        :func:`make_gaussian_grid` or :func:`make_funnel`.

    X : array-like of shape (n_points, 2)
        The points at which to evaluate the log-density. Must be finite.

    Returns
    -------
    log_p : ndarray of shape (n_points,), dtype=float64
        The natural logarithm of the density at each row of ``X``. For the
        checkerboard this is ``log(1 / 32)`` on the occupied squares (closed
        on their lower-left edges, and on the board's outer edge) and
        ``-inf`` elsewhere.

    Examples
    --------
    >>> from adaptnoise.datasets import log_density
    >>> float(log_density("checkerboard", [[-3.0, -3.0]])[0])
    -3.465...
    >>> float(log_density("checkerboard", [[-1.0, -3.0]])[0])
    -inf
    >>> float(log_density("funnel", [[0.0, 0.0]])[0])
    -2.936...
    """
    X = _check_points(X)
    return _LOG_DENSITIES[name](X)


# The typed columns of the bundled table; everything else is read as float64.
_PENGUIN_DTYPES = {
    "species": "category",
    "island": "category",
    "flipper_length_mm": "Int64",
    "body_mass_g": "Int64",
    "sex": "category",
    "year": "int64",
}


def load_penguins():
    """Load the Palmer penguins table: 344 rows of mixed-type columns.

    Measurements of three penguin species on three islands of the Palmer
    Archipelago, Antarctica, 2007 to 2009 (Gorman, Williams and Fraser,
    2014), as the ``palmerpenguins`` R package ships them (Horst, Hill and
    Gorman, 2020, released under CC0). It has the column kinds a real table
    has: categorical columns (``species``, ``island``, ``sex``), floats
    (``bill_length_mm``, ``bill_depth_mm``), nullable integers
    (``flipper_length_mm``, ``body_mass_g``), an integer ``year``, and
    missing values (2 rows miss every measurement, 11 miss ``sex``).

    Requires pandas.

    Returns
    -------
    frame : pandas.DataFrame of shape (344, 8)
        The table, ``category`` dtype for the categorical columns (categories
        sorted), ``Int64`` with ``<NA>`` for the integer measurements,
        ``float64`` with NaN for the bill measurements and ``int64`` for
        ``year``.

    References
    ----------
    Gorman, K. B., Williams, T. D. and Fraser, W. R. (2014). Ecological
    sexual dimorphism and environmental variability within a community of
    Antarctic penguins (genus Pygoscelis). PLoS ONE 9(3): e90081.

    Horst, A. M., Hill, A. P. and Gorman, K. B. (2020). palmerpenguins:
    Palmer Archipelago (Antarctica) penguin data. R package version 0.1.0,
    doi:10.5281/zenodo.3960218.

    Examples
    --------
    >>> from adaptnoise.datasets import load_penguins
    >>> penguins = load_penguins()
    >>> penguins.shape
    (344, 8)
    >>> penguins["species"].cat.categories.tolist()
    ['Adelie', 'Chinstrap', 'Gentoo']
    >>> int(penguins["sex"].isna().sum())
    11
    """
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError(
            "load_penguins returns a pandas DataFrame and needs pandas: "
            "pip install pandas"
        ) from error
    table = resources.files(__package__).joinpath("data", "penguins.csv")
    with table.open("r") as file:
        return pd.read_csv(file, dtype=_PENGUIN_DTYPES)
