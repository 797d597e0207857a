"""Noising processes that join data (t=0) to noise (t=1)."""

from adaptnoise.processes._base import BaseProcess
from adaptnoise.processes.kac import KacProcess
from adaptnoise.processes.linear import LinearProcess
from adaptnoise.processes.ou import OUProcess
from adaptnoise.processes.uniform import UniformProcess

__all__ = [
    "BaseProcess",
    "KacProcess",
    "LinearProcess",
    "OUProcess",
    "UniformProcess",
    "resolve_process",
]

PROCESSES = {
    "linear": LinearProcess,
    "ou": OUProcess,
    "kac": KacProcess,
    "uniform": UniformProcess,
}


def resolve_process(process):
    """A process instance for a name in ``PROCESSES`` or a process object."""
    if isinstance(process, str):
        if process not in PROCESSES:
            raise ValueError(
                f"Unknown process {process!r}; use one of {sorted(PROCESSES)} or a "
                "BaseProcess instance."
            )
        return PROCESSES[process]()
    return process
