"""Saving and loading trained autoencoders with what they were trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from simex.artifacts import load_checkpoint, save_checkpoint
from simex.fused import FoldedAutoEncoders
from simex.losses import PerSampleLoss, SSIMWindow, per_sample_loss
from simex.models import LeNet5AutoEncoder
from simex.training import (StepLoss, TrainConfig, TrainResult, autoencoder_batch_loss, images_to_tensor,
                            seed_everything, train, train_members)

ARCHITECTURE = "lenet5-autoencoder"
DEFAULT_INPUT_SHAPE = (1, 28, 28)  # the paper's; a checkpoint of another shape records its "input_shape"


class FleetError(ValueError):
    pass


def save_autoencoder(destination: Path | str, model: LeNet5AutoEncoder, metadata: dict[str, Any]) -> None:
    """``metadata`` says what the autoencoder was trained on: dataset, class, loss, provenance."""
    save_checkpoint(destination, ARCHITECTURE, model.state_dict(), metadata=metadata)


def load_autoencoder(path: Path | str, device: torch.device | str = "cpu") -> tuple[LeNet5AutoEncoder, dict[str, Any]]:
    payload = load_checkpoint(path, "autoencoder", {ARCHITECTURE}, FleetError, device)
    model = LeNet5AutoEncoder(*payload["metadata"].get("input_shape", DEFAULT_INPUT_SHAPE))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload["metadata"]


def _split(images: np.ndarray, validation_fraction: float) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                                       tuple[torch.Tensor, torch.Tensor] | None]:
    """Training pairs (x, x) and the held-out first ``validation_fraction`` of the samples, if any."""
    inputs = images_to_tensor(images)
    n_validation = int(round(len(inputs) * validation_fraction))
    validation = (inputs[:n_validation], inputs[:n_validation]) if n_validation else None
    return (inputs[n_validation:], inputs[n_validation:]), validation


def _new_autoencoder(seed: int, images: np.ndarray) -> LeNet5AutoEncoder:
    """An untrained autoencoder for the shape of ``images``: (N, 28, 28) or (N, C, H, W)."""
    seed_everything(seed)  # the initial weights follow from the seed alone
    return LeNet5AutoEncoder(*(images.shape[1:] if images.ndim == 4 else (1, *images.shape[1:])))


def train_autoencoder(
    images: np.ndarray,
    loss: str,
    window: SSIMWindow,
    config: TrainConfig,
    device: torch.device,
    validation_fraction: float = 0.0,
    on_checkpoint: Callable | None = None,
) -> tuple[LeNet5AutoEncoder, TrainResult]:
    """A LeNet-5 autoencoder trained on uint8 images, (N, 28, 28) or (N, C, H, W), with δ = ``loss`` as its loss."""
    model = _new_autoencoder(config.seed, images)
    training, validation = _split(images, validation_fraction)
    result = train(model, autoencoder_batch_loss(per_sample_loss(loss, window)), training, config, device,
                   validation=validation, on_checkpoint=on_checkpoint)
    return model.eval(), result


def fused_autoencoder_loss(models: Sequence[LeNet5AutoEncoder], per_sample: PerSampleLoss) -> StepLoss:
    """The members' batch losses from one fused pass (simex.fused) over all their batches.

    Batches of unequal length (a member's last, partial batch of an epoch) are padded
    with zeros to the longest; each member's loss is the mean over its own samples only,
    so the padding gets no gradient.
    """

    def step_loss(active: Sequence[int], batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        sizes = [len(x) for x, _ in batches]
        longest = max(sizes)
        padded = [x if len(x) == longest else torch.cat([x, x.new_zeros((longest - len(x), *x.shape[1:]))])
                  for x, _ in batches]
        inputs = torch.stack(padded, dim=1)  # (B, A, C, H, W)
        outputs = FoldedAutoEncoders.fold([models[k] for k in active])(inputs, shared=False)
        errors = per_sample(inputs.flatten(0, 1), outputs.flatten(0, 1)).view(longest, len(active))
        if min(sizes) == longest:
            return errors.mean(dim=0)
        return torch.stack([errors[:n, i].mean() for i, n in enumerate(sizes)])

    return step_loss


def train_autoencoders(
    image_sets: Sequence[np.ndarray],
    loss: str,
    window: SSIMWindow,
    configs: Sequence[TrainConfig],
    device: torch.device,
    validation_fraction: float = 0.0,
) -> list[tuple[LeNet5AutoEncoder, TrainResult]]:
    """Several autoencoders trained as one fused model, each equal (up to float rounding)
    to :func:`train_autoencoder` with its own images and config (seed) alone."""
    models = [_new_autoencoder(config.seed, images) for config, images in zip(configs, image_sets)]
    splits = [_split(images, validation_fraction) for images in image_sets]
    per_sample = per_sample_loss(loss, window)
    results = train_members(models, fused_autoencoder_loss(models, per_sample), autoencoder_batch_loss(per_sample),
                            [training for training, _ in splits], configs, device,
                            validation=[validation for _, validation in splits])
    return [(model.eval(), result) for model, result in zip(models, results)]
