"""K members trained as one fused model, on the device, without waiting on the host within an epoch.

The fused trainer of the fleets (simex.training.autoencoders.train_autoencoders) and of the fused
LeNet-5 classifiers. Each member trains exactly as the plain loop
(:func:`simex.training.loop.train`) trains it alone, up to float rounding: its own data, seed,
batch order (:func:`simex.training.loop.shuffle_orders`, the same in both loops), epochs or
step budget, early stopping and best-weight restore, the same optimizer maths (torch's
optimizers are elementwise, so one optimizer over the stacked parameters is one per
member).

What stays on the device:

- every member's data, stacked and zero-padded to the longest, (K, N_max, ...);
- the sample orders, drawn on the device for all members at once when an epoch starts,
  and each member's position in its epoch: a step gathers its batches by index tensors;
- the losses, accumulated per member (float64) and read by the host once per epoch end,
  for the log and early stopping (one read when the members' epochs end together).

Shapes are static. Every step gives each member a full batch of ``batch_size`` index
slots; the last batch of an epoch, when the member's size is not a multiple of the batch
size, is **masked**, not dropped: its padding slots get weight 0 and its loss is the mean
over its real samples only, as Keras' ``fit`` (the paper's loop) and the plain loop treat
a short last batch. Dropping it would change the epoch and the models.

Members whose training is done (fewer samples, an earlier step budget, early stopping)
keep being computed until the last one finishes, so that shapes stay static; their
weights were already taken at the moment they finished (or their best epoch's), and a
member's parameters, gradients and optimizer state are its own, so what the others do
with the extra steps cannot reach them.

On CUDA the step (gather, fused forward, backward, optimizer step, loss accumulation)
is captured once in a CUDA graph and replayed (``graph=None`` chooses it on CUDA for the
optimizers in :data:`simex.training.loop.CAPTURABLE`, with ``capturable=True``). Capture needs
warm-up steps; they run on copies' worth of state that is restored afterwards, so the
graph's training is the eager one's. On a CPU the step runs eagerly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from simex.models.fused import FusedClassifiers, load_member, stack_parameters
from simex.models.networks import LeNet5Classifier
from simex.training.loop import (CAPTURABLE, OPTIMIZERS, EarlyStopping, EpochRecord, TrainConfig, TrainResult,
                            _TrainingClock, seed_everything, shuffle_orders)

log = logging.getLogger(__name__)

# (stacked parameters, inputs (B, K, ...), targets (B, K, ...) or None) -> per-sample losses (B, K)
SampleLosses = Callable[[Mapping[str, torch.Tensor], torch.Tensor, torch.Tensor | None], torch.Tensor]

_WARMUP_STEPS = 3  # eager steps on a side stream before a CUDA graph capture, as torch's docs do


def _stack(tensors: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    """(K, N_max, ...) on ``device``, each member zero-padded to the longest."""
    longest = max(len(t) for t in tensors)
    stacked = torch.zeros((len(tensors), longest, *tensors[0].shape[1:]), dtype=tensors[0].dtype, device=device)
    for k, tensor in enumerate(tensors):
        stacked[k, : len(tensor)] = tensor.to(device)
    return stacked


@dataclass
class _Schedule:
    """One member's static plan: steps an epoch, epochs, total steps; all known before training."""

    n_samples: int
    steps_per_epoch: int
    epochs: int
    total_steps: int

    @classmethod
    def of(cls, n_samples: int, config: TrainConfig) -> "_Schedule":
        per_epoch = math.ceil(n_samples / config.batch_size)
        epochs = config.epochs_for(n_samples)
        return cls(n_samples, per_epoch, epochs, config.steps or epochs * per_epoch)

    def samples_seen(self, step: int, batch_size: int) -> int:
        """Samples of the epoch that ends after joint step ``step`` (1-based) of this member."""
        in_epoch = (step - 1) % self.steps_per_epoch + 1
        return min(in_epoch * batch_size, self.n_samples)


def check_members(n_members: int, sizes: Sequence[int], configs: Sequence[TrainConfig]) -> None:
    """Members trained together: one training set and config each, settings shared but the seed, none empty."""
    if not n_members or not (n_members == len(sizes) == len(configs)):
        raise ValueError(f"need one training set and config per member; got {n_members} members, "
                         f"{len(sizes)} training sets, {len(configs)} configs")
    if any(dataclasses.replace(c, seed=configs[0].seed) != configs[0] for c in configs):
        raise ValueError("members trained together must share their training settings; only seeds may differ")
    if any(size == 0 for size in sizes):
        raise ValueError("training set is empty")


def train_fused(
    parameters: dict[str, torch.Tensor],
    sample_losses: SampleLosses,
    inputs: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor] | None,
    configs: Sequence[TrainConfig],
    device: torch.device,
    validation: Sequence[tuple[torch.Tensor, torch.Tensor | None] | None] | None = None,
    graph: bool | None = None,
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
) -> tuple[list[TrainResult], dict[str, torch.Tensor]]:
    """Train K members whose parameters are stacked member-first (``parameters``: (K, ...) each).

    ``inputs[k]`` (and ``targets[k]``; None: the inputs are the targets) is member k's
    training data, ``validation[k]`` its held-out (inputs, targets) or None. Returns each
    member's history and the trained parameters, stacked: each member's weights at its
    end (its best epoch's with early stopping), as the plain loop leaves a model.
    ``on_epoch(k, record)`` is called after each epoch of member k (progress reports).
    """
    k_members = len(configs)
    check_members(k_members, [len(x) for x in inputs], configs)
    config = configs[0]
    if graph is None:
        graph = device.type == "cuda" and config.optimizer in CAPTURABLE
    if graph and (device.type != "cuda" or config.optimizer not in CAPTURABLE):
        raise ValueError(f"a CUDA graph needs a CUDA device and one of the optimizers {sorted(CAPTURABLE)}; "
                         f"got {device} and {config.optimizer}")
    seed_everything(config.seed)
    batch = config.batch_size
    schedules = [_Schedule.of(len(x), config) for x in inputs]
    total_steps = max(s.total_steps for s in schedules)

    params = {name: tensor.detach().to(device).requires_grad_() for name, tensor in parameters.items()}
    options = {"capturable": True, "foreach": True} if graph else {"foreach": True}
    optimizer = OPTIMIZERS[config.optimizer](list(params.values()), config.lr, **options)
    data = _stack(inputs, device)
    data_flat = data.flatten(0, 1)
    target_flat = None if targets is None else _stack(targets, device).flatten(0, 1)
    longest = data.shape[1]
    sizes = torch.tensor([s.n_samples for s in schedules], device=device)
    per_epoch = torch.tensor([s.steps_per_epoch for s in schedules], device=device)
    seeds = torch.tensor([c.seed for c in configs], device=device)
    offsets = (torch.arange(k_members, device=device) * longest)[:, None]
    slots = torch.arange(batch, device=device)
    # the state a step reads and writes, all on the device
    order = torch.zeros((k_members, longest), dtype=torch.int64, device=device)
    position = torch.zeros(k_members, dtype=torch.int64, device=device)  # batches done in the current epoch
    epoch = torch.zeros(k_members, dtype=torch.int64, device=device)
    running = torch.zeros(k_members, dtype=torch.float64, device=device)  # sum of loss x samples this epoch

    def new_epochs() -> None:
        """Members at the start of an epoch (position 0) get its order; the others keep theirs."""
        starting = position == 0
        epoch.add_(starting)
        order.copy_(torch.where(starting[:, None], shuffle_orders(seeds, epoch, sizes, longest), order))

    def step() -> None:
        """One optimizer step of every member: capturable (no host value is read or written)."""
        slot = position[:, None] * batch + slots  # (K, B)
        real = slot < sizes[:, None]  # the last batch of an epoch may be short: its padding is masked
        index = (order.gather(1, slot.clamp(max=longest - 1)) + offsets).T  # (B, K)
        x = data_flat[index]
        y = None if target_flat is None else target_flat[index]
        weights = real.T.to(x.dtype)
        counts = weights.sum(dim=0)
        losses = (sample_losses(params, x, y) * weights).sum(dim=0) / counts  # each member's batch mean
        losses.sum().backward()
        optimizer.step()
        running.add_(losses.detach().double() * counts.double())
        position.copy_((position + 1) % per_epoch)

    def eager_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        step()

    run_step = eager_step
    clock = _TrainingClock(device)
    if graph:
        run_step = _capture(step, optimizer, [*params.values(), order, position, epoch, running])

    valid = [None] * k_members if validation is None else list(validation)
    val_inputs = [v[0] if v is not None else data.new_zeros((0, *data.shape[2:])) for v in valid]
    has_validation = [v is not None and len(v[0]) > 0 for v in valid]
    evaluate = None
    if any(has_validation):
        val_targets = None if targets is None else [
            v[1] if v is not None else target_flat.new_zeros((0, *target_flat.shape[1:])) for v in valid]
        evaluate = _evaluator(params, sample_losses, val_inputs, val_targets, max(batch, 512), device)

    # host-side plan: at which joint steps each member starts and ends an epoch
    ends: dict[int, list[int]] = {}
    starts: set[int] = set()
    for k, s in enumerate(schedules):
        for t in range(0, s.total_steps, s.steps_per_epoch):
            starts.add(t)
            ends.setdefault(min(t + s.steps_per_epoch, s.total_steps), []).append(k)
    results = [TrainResult() for _ in range(k_members)]
    stoppers = [EarlyStopping(config.patience) for _ in range(k_members)]
    best = {name: tensor.detach().clone() for name, tensor in params.items()}
    final = {name: tensor.detach().clone() for name, tensor in params.items()}
    done = [False] * k_members
    epochs_done = [0] * k_members
    for t in range(total_steps):
        if t in starts:
            new_epochs()
        run_step()
        ending = [k for k in ends.get(t + 1, ()) if not done[k]]
        if not ending:
            continue
        losses = running.tolist()  # the one read of the host per epoch end
        val_losses = evaluate() if evaluate is not None else None
        elapsed = clock.elapsed()
        with clock.paused():
            for k in ending:
                s = schedules[k]
                epochs_done[k] += 1
                seen = s.samples_seen(t + 1, batch)
                if not math.isfinite(losses[k]):
                    raise FloatingPointError(f"training loss became {losses[k] / seen} at epoch {epochs_done[k]}"
                                             f"{f' of member {k}' if k_members > 1 else ''}: lower the learning rate")
                val_loss = val_losses[k] if val_losses is not None and has_validation[k] else None
                record = EpochRecord(epochs_done[k], losses[k] / seen, val_loss, elapsed)
                results[k].history.append(record)
                log.info("%sepoch %d/%d train_loss %.6f val_loss %s elapsed %.2fs",
                         f"member {k}: " if k_members > 1 else "", record.epoch, s.epochs, record.train_loss,
                         "n/a" if val_loss is None else f"{val_loss:.6f}", record.elapsed_s)
                if on_epoch is not None:
                    on_epoch(k, record)
                finished = record.epoch >= s.epochs or t + 1 >= s.total_steps
                if val_loss is not None:
                    stopper = stoppers[k]
                    stop = stopper.update(record.epoch, val_loss)
                    if stopper.best_epoch == record.epoch and config.patience > 0:
                        _copy_member(best, params, k)
                    if stop:
                        finished = results[k].stopped_early = True
                        log.info("early stop at epoch %d: best val_loss %.6f at epoch %d", record.epoch, stopper.best,
                                 stopper.best_epoch)
                if finished:
                    done[k] = True
                    restore = val_loss is not None and config.patience > 0 and stoppers[k].best_epoch > 0
                    _copy_member(final, best if restore else params, k)
            running.index_fill_(0, torch.tensor(ending, device=device), 0.0)
        if all(done):
            break
    for k, result in enumerate(results):
        result.best_epoch = stoppers[k].best_epoch if has_validation[k] else len(result.history)
    return results, final


@torch.no_grad()
def _copy_member(destination: dict[str, torch.Tensor], source: Mapping[str, torch.Tensor], k: int) -> None:
    for name, tensor in destination.items():
        tensor[k].copy_(source[name][k])


def _evaluator(params: Mapping[str, torch.Tensor], sample_losses: SampleLosses, inputs: Sequence[torch.Tensor],
               targets: Sequence[torch.Tensor] | None, chunk: int,
               device: torch.device) -> Callable[[], list[float]]:
    """Every member's mean loss on its held-out samples, all members in one pass per chunk."""
    data = _stack(inputs, device)  # (K, V_max, ...)
    target_data = None if targets is None else _stack(targets, device)
    sizes = torch.tensor([len(x) for x in inputs], device=device)

    @torch.no_grad()
    def evaluate() -> list[float]:
        total = torch.zeros(len(inputs), dtype=torch.float64, device=device)
        for start in range(0, data.shape[1], chunk):
            x = data[:, start : start + chunk].transpose(0, 1)
            y = None if target_data is None else target_data[:, start : start + chunk].transpose(0, 1)
            real = (torch.arange(start, start + len(x), device=device)[:, None] < sizes).double()
            total += (sample_losses(params, x, y).double() * real).sum(dim=0)
        return (total / sizes.clamp(min=1)).tolist()

    return evaluate


def _rehearse(step: Callable[[], None], optimizer: torch.optim.Optimizer, state: Sequence[torch.Tensor],
              steps: int = _WARMUP_STEPS) -> None:
    """Run ``steps`` eager steps and put back what they changed: ``state`` from copies, the
    optimizer's state to zeros (the initial state of every optimizer here: averages,
    accumulators and step counts), the gradients to None. A CUDA graph's capture needs such
    warm-up steps (on a side stream, as torch's docs do), and they must not train."""
    saved = [tensor.detach().clone() for tensor in state]
    side = torch.cuda.Stream() if saved and saved[0].is_cuda else None
    if side is not None:
        side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            step()
    if side is not None:
        torch.cuda.current_stream().wait_stream(side)
    with torch.no_grad():
        for tensor, copy in zip(state, saved):
            tensor.copy_(copy)
        for member_state in optimizer.state.values():
            for value in member_state.values():
                if torch.is_tensor(value):
                    value.zero_()
    optimizer.zero_grad(set_to_none=True)


def _capture(step: Callable[[], None], optimizer: torch.optim.Optimizer,
             state: Sequence[torch.Tensor]) -> Callable[[], None]:
    """``step`` captured in a CUDA graph after :func:`_rehearse`; returns its replay."""
    _rehearse(step, optimizer, state)
    cuda_graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(cuda_graph):
        step()
    return cuda_graph.replay


def fused_classifier_losses(params: Mapping[str, torch.Tensor], inputs: torch.Tensor,
                             labels: torch.Tensor | None) -> torch.Tensor:
    """Every member's per-sample cross-entropy from one fused LeNet-5 pass, (B, K)."""
    logits = FusedClassifiers.from_stacked(params)(inputs)
    return nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)


def train_fused_classifiers(models: Sequence[LeNet5Classifier], train_data: Sequence[tuple[torch.Tensor, torch.Tensor]],
                      configs: Sequence[TrainConfig], device: torch.device,
                      validation: Sequence[tuple[torch.Tensor, torch.Tensor] | None] | None = None,
                      graph: bool | None = None) -> list[TrainResult]:
    """LeNet-5 classifiers trained in place as one fused model, each as
    ``train(model, classifier_batch_loss, ...)`` trains it alone (up to float rounding)."""
    results, trained = train_fused(stack_parameters(models), fused_classifier_losses,
                                    [inputs for inputs, _ in train_data], [labels for _, labels in train_data],
                                    configs, device, validation=validation, graph=graph)
    for k, model in enumerate(models):
        load_member(model, trained, k)
        model.to(device).eval()
    return results
