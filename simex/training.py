"""The one training loop of the project, for autoencoders and classifiers alike.

Optimizer by name and learning rate, epochs, optional early stopping on a held-out
split (restoring the best weights), callbacks at chosen epochs, a seed, and progress
and loss per epoch in the job's log. Elapsed time counts only the training work.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    # Keras' RMSprop (rho 0.9, epsilon 1e-7), the paper's framework defaults.
    "rmsprop": lambda params, lr: torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7),
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
    "adagrad": lambda params, lr: torch.optim.Adagrad(params, lr=lr),
    "adadelta": lambda params, lr: torch.optim.Adadelta(params, lr=lr),
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr),
}


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
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 0:
            raise ValueError(f"invalid training settings: {self}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")

    def epochs_for(self, n_samples: int) -> int:
        """Epochs to run on ``n_samples``: ``epochs``, or as many as the step budget needs."""
        if self.steps is None:
            return self.epochs
        return math.ceil(self.steps / math.ceil(n_samples / self.batch_size))


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


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) or (N, C, H, W) to float32 (N, C, H, W) in [0, 1]; (N, 28, 28) gets C = 1."""
    tensor = torch.from_numpy(np.ascontiguousarray(images))
    return (tensor.unsqueeze(1) if tensor.ndim == 3 else tensor).float().div_(255.0)


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
    """Train ``model`` in place; with early stopping, the best epoch's weights are restored."""
    generator = seed_everything(config.seed)
    model.to(device)
    optimizer = OPTIMIZERS[config.optimizer](parameters or list(model.parameters()), config.lr)
    inputs, targets = train_data
    if len(inputs) == 0:
        raise ValueError("training set is empty")
    stopper = EarlyStopping(config.patience)
    best_state = None
    result = TrainResult()
    elapsed = 0.0
    epochs = config.epochs_for(len(inputs))
    steps_left = config.steps if config.steps is not None else math.inf
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(inputs), generator=generator)
        running = 0.0
        seen = 0
        for start in range(0, len(inputs), config.batch_size):
            if steps_left <= 0:
                break
            steps_left -= 1
            index = order[start : start + config.batch_size]
            x, y = inputs[index].to(device), targets[index].to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(model, x, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {float(loss)} at epoch {epoch}: lower the learning rate")
            loss.backward()
            optimizer.step()
            running += float(loss.detach()) * len(index)
            seen += len(index)
        val_loss = None
        if validation is not None:
            val_loss = mean_loss(model, batch_loss, *validation, max(config.batch_size, 512), device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed += time.perf_counter() - started
        record = EpochRecord(epoch, running / seen, val_loss, elapsed)
        result.history.append(record)
        log.info("epoch %d/%d train_loss %.6f val_loss %s elapsed %.2fs", epoch, epochs,
                 record.train_loss, "n/a" if val_loss is None else f"{val_loss:.6f}", elapsed)
        if on_checkpoint is not None and epoch in config.checkpoint_epochs:
            on_checkpoint(epoch, model, record)
        if val_loss is not None:
            stop = stopper.update(epoch, val_loss)
            if stopper.best_epoch == epoch and config.patience > 0:
                best_state = copy.deepcopy(model.state_dict())
            if stop:
                result.stopped_early = True
                log.info("early stop at epoch %d: best val_loss %.6f at epoch %d", epoch, stopper.best, stopper.best_epoch)
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
