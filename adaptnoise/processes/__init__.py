"""Noising processes that join data (t=0) to noise (t=1)."""

from adaptnoise.processes._base import (
    AffineProcess,
    BaseProcess,
    ComponentwiseProcess,
    TerminalLaw,
)
from adaptnoise.processes.kac import KacProcess
from adaptnoise.processes.linear import LinearProcess
from adaptnoise.processes.ou import OUProcess
from adaptnoise.processes.uniform import UniformProcess

__all__ = [
    "AffineProcess",
    "BaseProcess",
    "ComponentwiseProcess",
    "KacProcess",
    "LinearProcess",
    "OUProcess",
    "TerminalLaw",
    "UniformProcess",
    "resolve_process",
]

PROCESSES = {
    "linear": LinearProcess,
    "ou": OUProcess,
    "kac": KacProcess,
    "uniform": UniformProcess,
}

# The members BaseProcess declares, which a process object must have.
_INTERFACE = tuple(name for name in vars(BaseProcess) if not name.startswith("_"))


def resolve_process(process):
    """The process for a name in ``PROCESSES`` or a ``BaseProcess`` instance.

    Parameters
    ----------
    process : str or BaseProcess
        A name, which gives a new instance with default parameters, or a
        process, returned as it is.

    Returns
    -------
    process : BaseProcess

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For an object that is not a ``BaseProcess``; the message lists the
        members of the interface it lacks.
    """
    if isinstance(process, str):
        if process not in PROCESSES:
            raise ValueError(
                f"Unknown process {process!r}; use one of {sorted(PROCESSES)} or a "
                "BaseProcess instance."
            )
        return PROCESSES[process]()
    if isinstance(process, BaseProcess):
        return process
    missing = [name for name in _INTERFACE if not hasattr(process, name)]
    why = f"it lacks {', '.join(missing)}" if missing else "it does not subclass it"
    raise TypeError(
        f"process={process!r} is not a BaseProcess; {why}. Use one of "
        f"{sorted(PROCESSES)} or an instance of a subclass of "
        "adaptnoise.processes.BaseProcess."
    )
