"""Device resolution, NumPy/torch conversion and seeding for the estimators."""

import copy
import warnings
from numbers import Integral

import numpy as np
import torch

from adaptnoise.exceptions import DeviceWarning

__all__ = [
    "PortableDeviceMixin",
    "as_numpy",
    "as_tensor",
    "make_generator",
    "resolve_device",
]


def resolve_device(device):
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a device.

    ``"auto"`` picks CUDA when it is available and the CPU otherwise. An
    explicit CUDA request on a machine without CUDA falls back to the CPU with
    a :class:`~adaptnoise.exceptions.DeviceWarning` rather than failing, so a
    configuration written on a GPU machine still runs on a laptop. Any other
    string, or a CUDA index beyond the GPUs present, raises a ``ValueError``
    naming ``device``.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # torch accepts backends (mps, meta, ...) that fail later with its own
    # errors, and lacks float64 on some of them: refuse them here, by name.
    usage = "use 'auto', 'cpu', 'cuda' or 'cuda:N'"
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(
            f"device={device!r} is not a torch device; {usage}."
        ) from error
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device={str(device)!r} is not supported; {usage}.")
    if (
        device.type == "cuda"
        and torch.cuda.is_available()
        and (device.index or 0) >= torch.cuda.device_count()
    ):
        raise ValueError(
            f"device={str(device)!r} was requested but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"device={str(device)!r} was requested but CUDA is not available; "
            "using the CPU instead.",
            DeviceWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return device


def make_generator(random_state, device="cpu"):
    """A ``torch.Generator`` on ``device`` for a scikit-learn ``random_state``.

    An int seeds it, a ``RandomState`` gives it a seed drawn from itself, and
    ``None`` seeds it from the operating system's entropy. NumPy's and torch's
    global generators are never read or advanced, unlike
    ``check_random_state(None)``, which draws from NumPy's global state.
    """
    generator = torch.Generator(device=device)
    if random_state is None:
        generator.seed()
    elif isinstance(random_state, Integral) and not isinstance(random_state, bool):
        if not 0 <= random_state < 2**64:
            raise ValueError(
                "random_state must be None, an int in [0, 2**64) or a "
                f"numpy.random.RandomState; got {random_state!r}."
            )
        generator.manual_seed(int(random_state))
    elif isinstance(random_state, np.random.RandomState):
        generator.manual_seed(int(random_state.randint(np.iinfo(np.int32).max)))
    else:
        raise ValueError(
            "random_state must be None, an int or a numpy.random.RandomState; "
            f"got {random_state!r}."
        )
    return generator


def as_tensor(X, device, dtype=torch.float64):
    """Copy a NumPy array to a tensor on ``device``."""
    X = np.asarray(X)
    if not X.flags.writeable:
        # torch cannot wrap read-only memory (e.g. a joblib memmap) safely.
        X = X.copy()
    return torch.as_tensor(X, dtype=dtype, device=device)


def as_numpy(tensor, dtype):
    """Detach a tensor to a NumPy array of ``dtype`` on the host."""
    return tensor.detach().cpu().numpy().astype(dtype, copy=False)


class PortableDeviceMixin:
    """Pickle torch modules on the CPU and restore them where they can run.

    Fitted modules are stored as CPU copies, so a model fitted on a GPU
    unpickles on a machine without one: there it stays on the CPU, with a
    :class:`~adaptnoise.exceptions.DeviceWarning`, and ``device_`` says so.
    """

    def __getstate__(self):
        state = super().__getstate__()
        return {
            key: copy.deepcopy(value).cpu()
            if isinstance(value, torch.nn.Module) and _on_accelerator(value)
            else value
            for key, value in state.items()
        }

    def __setstate__(self, state):
        super().__setstate__(state)
        device = getattr(self, "device_", None)
        if device is None or device.type == "cpu":
            return
        if device.type == "cuda" and torch.cuda.is_available():
            target = device
        else:
            warnings.warn(
                f"This model was fitted on {device}, which is not available here; "
                "it is loaded on the CPU.",
                DeviceWarning,
                stacklevel=2,
            )
            target = self.device_ = torch.device("cpu")
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(target)


def _on_accelerator(module):
    return any(t.device.type != "cpu" for t in module.state_dict().values())
