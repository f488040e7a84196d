"""The one training loop of the project, for autoencoders and classifiers alike.

Optimizer by name and learning rate, epochs, optional early stopping on a held-out
split (restoring the best weights), callbacks at chosen epochs, a seed, and progress
and loss per epoch in the job's log. Elapsed time counts only the training work.
:func:`train_members` is the loop, host-driven (one Python step per batch, any module);
:func:`train` runs it with one model, the plain path every fused one is tested against.
Models that fold (LeNet-5 autoencoders and classifiers, FC stacks) train together as one
folded model on the device with simex.fused_training, each as it would train here alone;
both loops draw the same sample orders (:func:`shuffle_orders`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

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
    """The one uint8 -> float converter: (N, H, W) or (N, C, H, W) to (N, C, H, W) in [0, 1];
    (N, H, W) gets C = 1. On ``device`` when given, converted there (a quarter of the bytes to copy).

    Of torch's default float type: float32 unless changed (the fused trainer's tests run in float64)."""
    tensor = torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda":
            tensor = tensor.pin_memory()
        tensor = tensor.to(device, non_blocking=True)
    return (tensor.unsqueeze(1) if tensor.ndim == 3 else tensor).to(torch.get_default_dtype()).div_(255.0)


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


# One optimizer step's loss for the members still training: given their indices and their
# batches (inputs, targets), each one's batch loss, shape (len(active),).
StepLoss = Callable[[Sequence[int], Sequence[tuple[torch.Tensor, torch.Tensor]]], torch.Tensor]
MemberCheckpoint = Callable[[int, int, nn.Module, EpochRecord], None]  # (member, epoch, model, record)


@dataclass
class _Progress:
    """One member's place in its own epochs: its permutation, position and budget."""

    n_samples: int
    epochs: int
    steps_left: float
    epoch: int = 0
    position: int = 0
    order: torch.Tensor | None = None
    seen: int = 0
    done: bool = False


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
    """Train ``model`` in place; with early stopping, the best epoch's weights are restored."""

    def step_loss(_active: Sequence[int], batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        return batch_loss(model, *batches[0]).unsqueeze(0)

    member_checkpoint = None if on_checkpoint is None else lambda _k, epoch, m, record: on_checkpoint(epoch, m, record)
    return train_members([model], step_loss, batch_loss, [train_data], [config], device, [validation],
                         member_checkpoint, None if parameters is None else [parameters])[0]


def check_members(n_models: int, sizes: Sequence[int], configs: Sequence[TrainConfig]) -> None:
    """Members trained together: one training set and config each, settings shared but the seed, none empty."""
    if not n_models or not (n_models == len(sizes) == len(configs)):
        raise ValueError(f"need one training set and config per model; got {n_models} models, "
                         f"{len(sizes)} training sets, {len(configs)} configs")
    if any(dataclasses.replace(c, seed=configs[0].seed) != configs[0] for c in configs):
        raise ValueError("members trained together must share their training settings; only seeds may differ")
    if any(size == 0 for size in sizes):
        raise ValueError("training set is empty")


def train_members(
    models: Sequence[nn.Module],
    step_loss: StepLoss,
    batch_loss: BatchLoss,
    train_data: Sequence[tuple[torch.Tensor, torch.Tensor]],
    configs: Sequence[TrainConfig],
    device: torch.device,
    validation: Sequence[tuple[torch.Tensor, torch.Tensor] | None] | None = None,
    on_checkpoint: MemberCheckpoint | None = None,
    parameters: Sequence[list[nn.Parameter]] | None = None,
) -> list[TrainResult]:
    """Train K models together, each exactly as :func:`train` would train it alone.

    Every optimizer step takes the next batch of each member still training, from its own
    data in its own shuffled order (:func:`shuffle_orders` of its seed and epoch), and
    back-propagates the sum of the members' losses (``step_loss``; a fused model computes
    them in one pass). The members' parameters are distinct tensors and the optimizers
    are elementwise, so each member's gradient and optimizer state are its own. Members
    of unequal size keep their own epochs: each runs its ``epochs`` (or its ``steps``)
    over its own data and leaves the joint steps when done, as does a member that stops
    early; the rest carry on. ``batch_loss`` scores a member alone (validation). Members
    must not draw from the global random generators while training (no dropout): those
    are seeded once, with the first member's seed. ``elapsed_s`` in the records is the
    joint training time.
    """
    check_members(len(models), [len(inputs) for inputs, _ in train_data], configs)
    config = configs[0]
    validation = list(validation) if validation is not None else [None] * len(models)
    seed_everything(config.seed)
    for model in models:
        model.to(device)
    data = [(inputs.to(device), targets.to(device)) for inputs, targets in train_data]
    groups = parameters if parameters is not None else [list(model.parameters()) for model in models]
    optimizer = OPTIMIZERS[config.optimizer]([p for group in groups for p in group], config.lr)
    progress = [_Progress(len(inputs), config.epochs_for(len(inputs)), config.steps or math.inf)
                for inputs, _ in data]
    running = torch.zeros(len(models), dtype=torch.float64, device=device)
    results = [TrainResult() for _ in models]
    stoppers = [EarlyStopping(config.patience) for _ in models]
    best_states: list[dict[str, torch.Tensor] | None] = [None] * len(models)
    clock = _TrainingClock(device)
    while active := [k for k, p in enumerate(progress) if not p.done]:
        batches = []
        for k in active:
            p = progress[k]
            if p.position == 0:
                p.epoch += 1
                models[k].train()
                p.order = shuffle_orders(torch.tensor([configs[k].seed], device=device),
                                         torch.tensor([p.epoch], device=device), torch.tensor([p.n_samples]),
                                         p.n_samples)[0]
            index = p.order[p.position : p.position + config.batch_size]  # type: ignore[index]
            p.position += len(index)
            p.seen += len(index)
            p.steps_left -= 1
            batches.append((data[k][0][index], data[k][1][index]))
        optimizer.zero_grad(set_to_none=True)
        losses = step_loss(active, batches)
        total = losses.sum()
        if not torch.isfinite(total):
            bad = [k for k, loss in zip(active, losses.tolist()) if not math.isfinite(loss)]
            raise FloatingPointError(f"training loss became {float(total)} at epoch {progress[bad[0]].epoch}"
                                     f"{f' of member {bad[0]}' if len(models) > 1 else ''}: lower the learning rate")
        total.backward()
        optimizer.step()
        sizes = torch.tensor([len(x) for x, _ in batches], dtype=torch.float64, device=device)
        running[active] += losses.detach().double() * sizes
        for k in active:
            p = progress[k]
            if p.position < p.n_samples and p.steps_left > 0:
                continue
            val_loss = None
            if validation[k] is not None:
                val_loss = mean_loss(models[k], batch_loss, *validation[k], max(config.batch_size, 512), device)
            record = EpochRecord(p.epoch, float(running[k]) / p.seen, val_loss, clock.elapsed())
            with clock.paused():
                running[k], p.seen, p.position = 0.0, 0, 0
                p.done = p.epoch >= p.epochs or p.steps_left <= 0
                results[k].history.append(record)
                log.info("%sepoch %d/%d train_loss %.6f val_loss %s elapsed %.2fs",
                         f"member {k}: " if len(models) > 1 else "", p.epoch, p.epochs, record.train_loss,
                         "n/a" if val_loss is None else f"{val_loss:.6f}", record.elapsed_s)
                if on_checkpoint is not None and p.epoch in config.checkpoint_epochs:
                    on_checkpoint(k, p.epoch, models[k], record)
                if val_loss is not None:
                    stopper = stoppers[k]
                    stop = stopper.update(p.epoch, val_loss)
                    if stopper.best_epoch == p.epoch and config.patience > 0:
                        best_states[k] = copy.deepcopy(models[k].state_dict())
                    if stop:
                        p.done = results[k].stopped_early = True
                        log.info("early stop at epoch %d: best val_loss %.6f at epoch %d", p.epoch, stopper.best,
                                 stopper.best_epoch)
    for k, result in enumerate(results):
        result.best_epoch = stoppers[k].best_epoch if validation[k] is not None else len(result.history)
        if best_states[k] is not None:
            models[k].load_state_dict(best_states[k])
    return results


def autoencoder_batch_loss(per_sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> BatchLoss:
    def batch_loss(model: nn.Module, images: torch.Tensor, _unused: torch.Tensor) -> torch.Tensor:
        return per_sample(images, model(images)).mean()

    return batch_loss


def classifier_batch_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(images), labels)
