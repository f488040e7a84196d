"""Saving and loading trained autoencoders with what they were trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from simex.artifacts import load_checkpoint, save_checkpoint
from simex.losses import SSIMWindow, per_sample_loss
from simex.models import LeNet5AutoEncoder
from simex.training import TrainConfig, TrainResult, autoencoder_batch_loss, images_to_tensor, seed_everything, train

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

    seed_everything(config.seed)
    inputs = images_to_tensor(images)
    model = LeNet5AutoEncoder(*inputs.shape[1:])
    n_validation = int(round(len(inputs) * validation_fraction))
    validation = (inputs[:n_validation], inputs[:n_validation]) if n_validation else None
    training = (inputs[n_validation:], inputs[n_validation:])
    result = train(model, autoencoder_batch_loss(per_sample_loss(loss, window)), training, config, device,
                   validation=validation, on_checkpoint=on_checkpoint)
    return model.eval(), result
