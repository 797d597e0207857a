"""Training: the optimisation loop, one fit's seeds and interrupts, the flow trainer.

A fit is a *session*: its phases (the noise fit, then the flow's training)
share one interrupt. Ctrl-C stops the phase that is running, which keeps what
it has learned, and every later phase of the same fit is skipped, so one
interrupt ends the whole fit. The estimator decides what a fit cut short
leaves behind.
"""

import contextlib
import copy
import math
import signal
import threading
import warnings
from typing import NamedTuple

import torch
from sklearn.exceptions import ConvergenceWarning
from torch.optim.swa_utils import get_ema_multi_avg_fn

from adaptnoise._batches import Batches
from adaptnoise._progress import Progress
from adaptnoise._torch import make_generator
from adaptnoise.exceptions import TrainingDivergedError

__all__ = [
    "FlowTrainer",
    "Seeds",
    "auto_max_iter",
    "check_split",
    "fit_session",
    "minimize",
    "train_flow",
]

_DIVERGED = (
    "{name} training diverged: the loss became {loss} at iteration {it}. "
    "The input data may contain very large values and need to be scaled, or "
    "learning_rate_init={lr!r} may be too high."
)

_local = threading.local()


class _Session:
    interrupted = False


@contextlib.contextmanager
def fit_session():
    """The scope of one top-level fit; nested fits join the enclosing one.

    Yields the session, whose ``interrupted`` says whether Ctrl-C stopped a
    phase of it.
    """
    session = getattr(_local, "session", None)
    if session is not None:
        yield session
        return
    _local.session = session = _Session()
    try:
        with _interrupts_deferred():
            # torch imports its compiler stack (sympy among it) lazily, at the
            # first optimiser; an import cut short by Ctrl-C leaves those
            # modules half-built for the rest of the process.
            import torch._dynamo  # noqa: F401
        yield session
    finally:
        _local.session = None


@contextlib.contextmanager
def _interrupts_deferred():
    """Hold Ctrl-C until the block has run, then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def minimize(
    step,
    *,
    name,
    max_iter,
    tol,
    n_iter_no_change,
    learning_rate,
    verbose,
    check_every=1,
    monitor=None,
    early_stopping=True,
):
    """Call ``step()`` until the loss stalls or ``max_iter`` calls are made.

    ``step`` performs one optimiser update and returns the loss as a float.
    Every ``check_every`` steps the mean loss of those steps is recorded.
    With ``early_stopping``, training stops once the stopping criterion has
    failed to improve on its best value by at least ``tol`` for
    ``n_iter_no_change`` records in a row, as in scikit-learn's MLP, and
    running out of iterations first warns with a ``ConvergenceWarning``. The
    criterion is ``monitor()`` when given (a validation loss, free of
    minibatch noise), else the recorded training loss (averaging first keeps
    minibatch noise from looking like progress). Without ``early_stopping``
    all ``max_iter`` steps run. A non-finite loss raises
    :class:`~adaptnoise.exceptions.TrainingDivergedError`. ``Ctrl-C`` stops
    training, keeps the model as it is and marks the fit's session
    interrupted; in an interrupted session no step runs.

    Returns
    -------
    loss_curve : list of float
        The recorded (mean) losses.
    n_iter : int
        The number of steps run.
    """
    loss_curve, best, stalled, it = [], math.inf, 0, 0
    session = getattr(_local, "session", None) or _Session()
    if session.interrupted:
        return loss_curve, it
    n_checks = math.ceil(max_iter / check_every)
    progress = Progress(name, max_iter, verbose=verbose, bound="at most")
    try:
        for check in range(1, n_checks + 1):
            stop = min(max_iter, check * check_every)
            total, count = 0.0, stop - it
            while it < stop:
                loss = step()
                it += 1
                if not math.isfinite(loss):
                    raise TrainingDivergedError(
                        _DIVERGED.format(name=name, loss=loss, it=it, lr=learning_rate)
                    )
                total += loss
            loss_curve.append(total / count)
            criterion = loss_curve[-1]
            if monitor is not None:
                criterion = monitor()
            progress.update(it, f"loss = {loss_curve[-1]:.8f}")
            if not early_stopping:
                continue
            stalled = 0 if criterion < best - tol else stalled + 1
            best = min(best, criterion)
            if stalled >= n_iter_no_change:
                return loss_curve, it
    except KeyboardInterrupt:
        session.interrupted = True
        warnings.warn(f"{name}: training interrupted by user.", stacklevel=3)
        return loss_curve, it
    if not early_stopping:
        return loss_curve, it
    warnings.warn(
        f"{name}: the loss did not stall within max_iter={max_iter} iterations "
        f"(tol={tol}, n_iter_no_change={n_iter_no_change}). Increase max_iter "
        "or tol if the fit is not good enough.",
        ConvergenceWarning,
        stacklevel=3,
    )
    return loss_curve, it


class Seeds(NamedTuple):
    """The seeds of one generator fit, each stream named for what it draws.

    ``noise`` seeds the noise fit, ``network`` the initial weights,
    ``batches`` the minibatches, ``split`` the validation split. Four seeds
    are drawn from ``random_state``; the others are fixed offsets of them,
    so each stream stays the same whether or not the others are used:
    ``pairing`` (Sinkhorn's draws, apart so that solving the coupling on a
    worker thread changes no order), ``validation`` and
    ``validation_pairing`` (the fixed draws of ``early_stopping``) and
    ``filling`` (the draws that fill missing values and dequantise the
    data the noise is fitted to) and ``levels`` (the model's draws that set
    how nominal columns are decoded, see :mod:`adaptnoise._levels`).
    """

    noise: int
    network: int
    batches: int
    split: int
    pairing: int
    validation: int
    validation_pairing: int
    filling: int
    levels: int

    @classmethod
    def draw(cls, random_state):
        """The seeds of a fit with this ``random_state``."""
        generator = make_generator(random_state)
        noise, network, batches, split = torch.randint(
            2**31, (4,), generator=generator
        ).tolist()
        return cls(
            noise,
            network,
            batches,
            split,
            pairing=batches + 2,
            validation=batches + 1,
            validation_pairing=batches + 3,
            filling=split + 1,
            levels=split + 2,
        )


class FlowTrainer:
    """One flow-matching training run, with its steps as methods.

    The network starts from ``velocity`` (left untouched), is trained by Adam
    with a cosine-annealed learning rate and clipped gradients, and keeps an
    exponential moving average of its weights, which is what sampling uses.

    Parameters
    ----------
    velocity : torch.nn.Module
        The starting network; its weights also start the average.
    batches : iterator of Batch
        The training batches.
    learning_rate, max_iter, ema_decay, max_grad_norm
        The generator's ``learning_rate_init``, ``max_iter``, ``ema_decay``
        and ``max_grad_norm``.
    joint_law : torch.nn.Module or None, default=None
        A noise trained together with the velocity: its parameters join the
        optimiser and its minibatch marginal W2 joins the loss.
    """

    def __init__(
        self,
        velocity,
        batches,
        *,
        learning_rate,
        max_iter,
        ema_decay,
        max_grad_norm,
        joint_law=None,
    ):
        self.network = copy.deepcopy(velocity).requires_grad_(True)
        self.average = copy.deepcopy(velocity).requires_grad_(False)
        # The average starts from zero and is divided by the weight it has
        # gathered, 1 - ema_decay**n: starting from the initial weights and
        # subtracting their share instead cancels catastrophically in float32
        # when ema_decay is close to 1.
        for parameter in self.average.parameters():
            parameter.zero_()
        self._start = velocity
        self.batches = batches
        self.joint_law = joint_law
        self.ema_decay = ema_decay
        self.max_grad_norm = max_grad_norm
        self.n_updates = 0
        self._params = list(self.network.parameters())
        if joint_law is not None:
            self._params += list(joint_law.parameters())
        # The fused kernel updates every tensor in one call: a tenth of a
        # step on a CPU, where the default loops over them in Python.
        self.optimizer = torch.optim.Adam(self._params, lr=learning_rate, fused=True)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, max_iter
        )
        self._update = get_ema_multi_avg_fn(ema_decay)

    def loss(self, network, batch):
        """Mean squared error of the velocity against the batch's target."""
        loss = (network(batch.t[:, 0], batch.x_t) - batch.target).square().mean()
        if self.joint_law is not None:
            # The noise's own objective on the batch: 1D W2^2 per coordinate.
            z, x0 = batch.z, batch.x0
            loss = loss + (z.sort(0).values - x0.sort(0).values).square().mean()
        return loss

    def step(self):
        """One optimiser update on the next batch; returns its loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.network, next(self.batches))
        loss.backward()
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self._params, self.max_grad_norm)
        self.optimizer.step()
        self.schedule.step()
        self.update_average()
        return loss.item()

    @torch.no_grad()
    def update_average(self):
        """Fold the current weights into the moving average."""
        self._update(
            list(self.average.parameters()),
            list(self.network.parameters()),
            self.n_updates,
        )
        self.n_updates += 1

    @torch.no_grad()
    def validation_loss(self, draws):
        """Mean squared error of the averaged network on fixed batches."""
        velocity = self.averaged_velocity()
        total = sum(
            (velocity(batch.t[:, 0], batch.x_t) - batch.target).square().sum().item()
            for batch in draws
        )
        return total / sum(batch.x_t.numel() for batch in draws)

    @torch.no_grad()
    def averaged_velocity(self):
        """The moving average of the weights over the steps taken so far.

        Bias-corrected as Adam's moments are, so that a short fit is not
        pulled toward zero or toward its random start; before any step it is
        the starting network.
        """
        if self.n_updates == 0:
            return copy.deepcopy(self._start)
        velocity = copy.deepcopy(self.average)
        gathered = 1 - self.ema_decay**self.n_updates
        for parameter in velocity.parameters():
            parameter.div_(gathered)
        return velocity

    @torch.no_grad()
    def check_not_diverged(self, batch):
        """Raise if the averaged network fits ``batch`` absurdly badly.

        A diverged run can end on finite but absurd weights. Training must
        beat both the trivial fit, a zero velocity, and the network it
        started from (a fit of a few steps may not have left its random start
        yet), so doing four times worse than the better of them, or worse
        than finite, means divergence.
        """
        velocity = self.averaged_velocity()
        error = self._error(velocity, batch)
        trivial = batch.target.square().mean()
        start = self._error(self._start, batch)
        if not torch.isfinite(error) or error > 4 * torch.maximum(trivial, start):
            raise TrainingDivergedError(
                f"FlowMatchingGenerator training diverged: after {self.n_updates} "
                f"steps the velocity's squared error is {error.item():.3g}, against "
                f"{trivial.item():.3g} for a zero velocity and {start.item():.3g} "
                "for the starting network. learning_rate_init may be too high, or "
                "max_grad_norm=None may let the steps grow."
            )

    @staticmethod
    def _error(velocity, batch):
        return (velocity(batch.t[:, 0], batch.x_t) - batch.target).square().mean()

    def run(self, *, name, max_iter, verbose, validation=None, **stopping):
        """Train for up to ``max_iter`` steps; see :func:`minimize`.

        Returns the training loss curve, the number of steps and the
        validation loss curve (empty without ``validation`` draws).
        """
        validation_curve = []

        def monitor():
            validation_curve.append(self.validation_loss(validation))
            return validation_curve[-1]

        loss_curve, n_iter = minimize(
            self.step,
            name=name,
            max_iter=max_iter,
            verbose=verbose,
            check_every=100,
            monitor=None if validation is None else monitor,
            **stopping,
        )
        return loss_curve, n_iter, validation_curve


def train_flow(
    velocity,
    process,
    law,
    X,
    seeds,
    params,
    widths=None,
    atoms=None,
    nominal=None,
    shares=None,
):
    """Train ``velocity`` by flow matching on the standardised rows ``X``.

    Parameters
    ----------
    velocity : torch.nn.Module
        The starting network.
    process : BaseProcess
        The path from data to noise.
    law : torch.nn.Module
        The float32 terminal law the paths end in; trained in place when
        ``params["noise_training"] == "joint"``.
    X : torch.Tensor of shape (n_samples, n_features)
        Standardised float32 training rows.
    seeds : Seeds
        The fit's seeds.
    params : dict
        The generator's parameters (``get_params(deep=False)``).
    widths : torch.Tensor of shape (n_features,) or None, default=None
        Each column's dequantisation cell, 0 for continuous columns: every
        training row is shifted by a uniform draw within its cells.
    atoms : triple of torch.Tensor of shape (n_features, n_atoms) or None
        Atoms of the continuous columns, their windows' widths and centres:
        a training value at an atom is moved to a uniform draw within its
        window.
    nominal : torch.Tensor of shape (n_features,), dtype=bool, or None
        Nominal columns (categories, booleans, missing indicators), which
        the interpolant noise ``sigma`` leaves alone.
    shares : tuple of torch.Tensor or None, default=None
        The stretched lattice columns and each row's cell in levels of the
        normal law, as :func:`~adaptnoise._lattice.spread_shares` reads
        them: a training value there is moved to the normal quantile of a
        uniform draw within its cell's levels.

    Returns
    -------
    velocity : torch.nn.Module
        The bias-corrected average of the weights.
    curves : tuple
        Training loss curve, number of steps, validation loss curve.
    """
    joint = params["noise_training"] == "joint"
    law.requires_grad_(joint)
    X_train, X_val = _split(X, seeds.split, params)
    if shares is not None:
        # The same seed splits the rows' cells as it split the rows.
        places, low, width, mean, scale = shares
        low, width = (_split(cells, seeds.split, params)[0] for cells in (low, width))
        shares = places, low, width, mean, scale
    batch_size = min(params["batch_size"], X_train.shape[0])
    batches = _batches(process, law, seeds.batches, seeds.pairing, params, X.device)
    batches.widths = None if widths is None or not widths.any() else widths
    batches.atoms = atoms
    batches.nominal = nominal
    batches.shares = shares
    validation = None
    if X_val is not None:
        # One fixed draw of times, noise, pairings and perturbations, so the
        # loss changes only with the network; pairing within chunks of
        # batch_size keeps the coupling's statistics those of training.
        fixed = _batches(
            process, law, seeds.validation, seeds.validation_pairing, params, X.device
        )
        with torch.no_grad():
            validation = [fixed.path(x0) for x0 in torch.split(X_val, batch_size)]
    stream = batches.stream(X_train, batch_size, lookahead=not joint, pooled=not joint)
    with contextlib.closing(stream):
        trainer = FlowTrainer(
            velocity,
            stream,
            learning_rate=params["learning_rate_init"],
            max_iter=params["max_iter"],
            ema_decay=params["ema_decay"],
            max_grad_norm=params["max_grad_norm"],
            joint_law=law if joint else None,
        )
        curves = trainer.run(
            name="FlowMatchingGenerator",
            validation=validation,
            learning_rate=params["learning_rate_init"],
            **{key: params[key] for key in _STOPPING},
        )
        trainer.check_not_diverged(next(stream))
    return trainer.averaged_velocity(), curves


_STOPPING = ("max_iter", "verbose", "tol", "n_iter_no_change", "early_stopping")


def auto_max_iter(n_samples, batch_size, passes=200, least=500, most=7500):
    """Steps of ``passes`` passes over ``n_samples`` rows, within ``[least, most]``."""
    steps = math.ceil(passes * n_samples / min(batch_size, n_samples))
    return min(max(steps, least), most)


def check_split(early_stopping, validation_fraction, n_samples):
    """Raise unless ``early_stopping`` leaves validation and training rows."""
    n_val = int(round(validation_fraction * n_samples))
    if early_stopping and not 1 <= n_val < n_samples:
        raise ValueError(
            f"validation_fraction={validation_fraction!r} leaves no "
            f"validation or no training rows out of {n_samples}; use more "
            "rows or early_stopping=False."
        )


def _split(X, seed, params):
    if not params["early_stopping"]:
        return X, None
    n_val = int(round(params["validation_fraction"] * X.shape[0]))
    generator = torch.Generator(device=X.device).manual_seed(seed)
    order = torch.randperm(X.shape[0], generator=generator, device=X.device)
    return X[order[n_val:]], X[order[:n_val]]


def _batches(process, law, seed, pairing_seed, params, device):
    return Batches(
        process,
        law,
        params["coupling"],
        params["ot_reg"],
        params["sigma"],
        torch.Generator(device=device).manual_seed(seed),
        torch.Generator(device=device).manual_seed(pairing_seed),
    )
