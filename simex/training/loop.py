"""The one training loop of the project, for autoencoders and classifiers alike.

Optimizer by name and learning rate, epochs, optional early stopping on a held-out
split (restoring the best weights), callbacks at chosen epochs, a seed, and progress
and loss per epoch in the job's log. Elapsed time counts only the training work.
:func:`train` is the plain loop, host-driven (one Python step per batch, any module),
for one model: the path every fused one is tested against.
Models that fuse (LeNet-5 autoencoders and classifiers, FC stacks) train together as one
fused model on the device with simex.training.fused, each as it would train here alone;
both loops draw the same sample orders (:func:`shuffle_orders`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from simex.base.errors import SimexError, below_minimum
from simex.base.formats import pixels_to_float
from simex.config import NineClassTraining, Training

log = logging.getLogger(__name__)

BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

# Optimizers by name: (parameters, lr, **options) -> optimizer. The options are torch's
# (the fused trainer passes ``capturable=True`` for a CUDA graph to those in CAPTURABLE).
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    # Keras' RMSprop (rho 0.9, epsilon 1e-7), the paper's framework defaults.
    "rmsprop": lambda params, lr, **options: torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7, **options),
    "adam": lambda params, lr, **options: torch.optim.Adam(params, lr=lr, **options),
    "adagrad": lambda params, lr, **options: torch.optim.Adagrad(params, lr=lr, **options),
    "adadelta": lambda params, lr, **options: torch.optim.Adadelta(params, lr=lr, **options),
    "sgd": lambda params, lr, **options: torch.optim.SGD(params, lr=lr, **options),
}
# Those whose state torch keeps on the device for a captured CUDA graph (``capturable=True``);
# Adagrad's and SGD's constructors take no such option.
CAPTURABLE = frozenset({"rmsprop", "adam", "adadelta"})


class TrainingSettingsError(SimexError, ValueError):
    """Training settings that cannot train (a non-positive batch size, learning rate, epochs or steps)."""


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    seed: int
    patience: int = 0  # epochs without improvement before stopping; 0 = never stop early
    checkpoint_epochs: tuple[int, ...] = ()
    # A budget in optimizer steps: when set, training makes exactly this many updates
    # (the last epoch may be partial) and ``epochs`` is not used. Budgets in steps make
    # models trained on sets of different sizes comparable.
    steps: int | None = None

    def __post_init__(self) -> None:
        problems = [] if self.optimizer in OPTIMIZERS else [
            f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}"]
        problems += below_minimum([("epochs", self.epochs, 1), ("batch_size", self.batch_size, 1),
                                   ("patience", self.patience, 0), ("steps", 1 if self.steps is None else self.steps, 1)])
        if not self.lr > 0:
            problems.append(f"lr must be positive, got {self.lr}")
        if problems:
            raise TrainingSettingsError("invalid training settings: " + "; ".join(problems))

    def epochs_for(self, n_samples: int) -> int:
        """Epochs to run on ``n_samples``: ``epochs``, or as many as the step budget needs."""
        if self.steps is None:
            return self.epochs
        return math.ceil(self.steps / math.ceil(n_samples / self.batch_size))


def train_config(section: Training | NineClassTraining, seed: int, checkpoint_epochs: tuple[int, ...] = ()) -> TrainConfig:
    """A validated training section (``autoencoder``, ``classifier.base``, ...) with a seed."""
    return TrainConfig(
        optimizer=section.optimizer,
        lr=float(section.lr),
        epochs=1 if section.epochs is None else int(section.epochs),  # not used under a budget in steps
        batch_size=int(section.batch_size),
        seed=seed,
        patience=int(section.patience),
        checkpoint_epochs=checkpoint_epochs,
        steps=section.steps,
    )


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float | None
    elapsed_s: float  # training time since the start, excluding callbacks


@dataclass
class TrainResult:
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


class EarlyStopping:
    """Stops after ``patience`` epochs without a new minimum; remembers the best epoch."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0

    def update(self, epoch: int, loss: float) -> bool:
        """Record this epoch's loss; True when training should stop."""
        if loss < self.best:
            self.best, self.best_epoch, self.bad_epochs = loss, epoch, 0
            return False
        self.bad_epochs += 1
        return self.patience > 0 and self.bad_epochs >= self.patience


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return torch.Generator().manual_seed(seed)


_MASK32 = 0xFFFFFFFF


def _times32(x: torch.Tensor, constant: int) -> torch.Tensor:
    """(x · constant) mod 2³² for 0 <= x < 2³², in int64 without overflow (constant split in 16-bit halves)."""
    return (x * (constant & 0xFFFF) + (((x * (constant >> 16)) & 0xFFFF) << 16)) & _MASK32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A bijective 32-bit integer hash (Wellons' lowbias32), elementwise on int64 tensors in [0, 2³²)."""
    x = x ^ (x >> 16)
    x = _times32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _times32(x, 0x846CA68B)
    return x ^ (x >> 16)


def shuffle_orders(seeds: torch.Tensor, epochs: torch.Tensor, sizes: torch.Tensor, length: int) -> torch.Tensor:
    """Each member's sample order for an epoch, made on the tensors' device: (K, length) int64.

    Row k is a permutation of ``range(sizes[k])`` followed by ``sizes[k]..length-1``. It
    depends only on the member's seed, epoch and size, never on the other members nor
    the device: the keys are a 32-bit hash of (seed, epoch, position), bijective in the
    position (so no two keys tie), sorted. The plain loop (one member) and the fused one
    (all members in one call, on a GPU without a host round trip) draw the same batches.
    """
    seeds, epochs = seeds.to(torch.int64), epochs.to(torch.int64)
    base = _mix32(_mix32(_mix32((seeds >> 32) & _MASK32) ^ (seeds & _MASK32)) ^ (epochs & _MASK32))
    positions = torch.arange(length, device=seeds.device)
    keys = _mix32(base[:, None] ^ positions)
    keys = keys.masked_fill(positions >= sizes.to(seeds.device)[:, None], 1 << 40)  # past a member's size: last
    return keys.argsort(dim=1, stable=True)


def images_to_tensor(images: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 images as a model's input: (N, H, W) or (N, C, H, W) to (N, C, H, W) in [0, 1]
    (simex.base.formats.pixels_to_float); (N, H, W) gets C = 1. On ``device`` when given,
    converted there (a quarter of the bytes to copy).

    Of torch's default float type: float32 unless changed (the fused trainer's tests run in float64)."""
    tensor = torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda":
            tensor = tensor.pin_memory()
        tensor = tensor.to(device, non_blocking=True)
    return pixels_to_float(tensor.unsqueeze(1) if tensor.ndim == 3 else tensor)


def mean_loss(model: nn.Module, batch_loss: BatchLoss, inputs: torch.Tensor, targets: torch.Tensor,
              batch_size: int, device: torch.device) -> float:
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            x = inputs[start : start + batch_size].to(device)
            y = targets[start : start + batch_size].to(device)
            total += float(batch_loss(model, x, y)) * len(x)
    return total / len(inputs)


class _TrainingClock:
    """Time of the training work since the start, bookkeeping (records, callbacks, weight copies) excluded."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.started = time.perf_counter()
        self.excluded = 0.0

    def elapsed(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - self.started - self.excluded

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        paused_at = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - paused_at


def train(
    model: nn.Module,
    batch_loss: BatchLoss,
    train_data: tuple[torch.Tensor, torch.Tensor],
    config: TrainConfig,
    device: torch.device,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    on_checkpoint: Callable[[int, nn.Module, EpochRecord], None] | None = None,
    parameters: list[nn.Parameter] | None = None,
) -> TrainResult:
    """Train ``model`` in place; with early stopping, the best epoch's weights are restored.

    Each epoch takes the samples in the order :func:`shuffle_orders` draws for the
    config's seed and the epoch, in batches of ``batch_size`` (the last one short when the
    size is not a multiple); with ``steps`` it stops after that many optimizer steps, the
    last epoch partial. ``parameters``: the ones to train (default: all of the model's).
    """
    inputs, targets = train_data
    if len(inputs) == 0:
        raise ValueError("training set is empty")
    seed_everything(config.seed)
    model.to(device)
    inputs, targets = inputs.to(device), targets.to(device)
    optimizer = OPTIMIZERS[config.optimizer](parameters if parameters is not None else list(model.parameters()),
                                             config.lr)
    n_samples, epochs = len(inputs), config.epochs_for(len(inputs))
    steps_left = config.steps or math.inf
    seed, size = torch.tensor([config.seed], device=device), torch.tensor([n_samples])
    result, stopper = TrainResult(), EarlyStopping(config.patience)
    best_state: dict[str, torch.Tensor] | None = None
    clock = _TrainingClock(device)
    for epoch in range(1, epochs + 1):
        model.train()
        order = shuffle_orders(seed, torch.tensor([epoch], device=device), size, n_samples)[0]
        running = torch.zeros((), dtype=torch.float64, device=device)
        seen = 0
        for start in range(0, n_samples, config.batch_size):
            index = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(model, inputs[index], targets[index])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {float(loss)} at epoch {epoch}: lower the learning rate")
            loss.backward()
            optimizer.step()
            running += loss.detach().double() * len(index)
            seen += len(index)
            steps_left -= 1
            if steps_left <= 0:
                break
        val_loss = None
        if validation is not None:
            val_loss = mean_loss(model, batch_loss, *validation, max(config.batch_size, 512), device)
        record = EpochRecord(epoch, float(running) / seen, val_loss, clock.elapsed())
        with clock.paused():
            result.history.append(record)
            log.info("epoch %d/%d train_loss %.6f val_loss %s elapsed %.2fs", epoch, epochs, record.train_loss,
                     "n/a" if val_loss is None else f"{val_loss:.6f}", record.elapsed_s)
            if on_checkpoint is not None and epoch in config.checkpoint_epochs:
                on_checkpoint(epoch, model, record)
            if val_loss is not None:
                stop = stopper.update(epoch, val_loss)
                if stopper.best_epoch == epoch and config.patience > 0:
                    best_state = copy.deepcopy(model.state_dict())
                if stop:
                    result.stopped_early = True
                    log.info("early stop at epoch %d: best val_loss %.6f at epoch %d", epoch, stopper.best,
                             stopper.best_epoch)
                    break
        if steps_left <= 0:
            break
    result.best_epoch = stopper.best_epoch if validation is not None else len(result.history)
    if best_state is not None:
        model.load_state_dict(best_state)
    return result


def autoencoder_batch_loss(per_sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> BatchLoss:
    def batch_loss(model: nn.Module, images: torch.Tensor, _unused: torch.Tensor) -> torch.Tensor:
        return per_sample(images, model(images)).mean()

    return batch_loss


def classifier_batch_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(images), labels)
