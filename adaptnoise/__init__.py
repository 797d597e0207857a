"""Flow matching with learned, data-adapted noise for scikit-learn."""

from adaptnoise.generator import FlowMatchingGenerator
from adaptnoise.noise import FixedNoise, QuantileNoise
from adaptnoise.tables import TableEncoder

__version__ = "0.1.0.dev0"

__all__ = [
    "FixedNoise",
    "FlowMatchingGenerator",
    "QuantileNoise",
    "TableEncoder",
    "__version__",
]
