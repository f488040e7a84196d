"""Saving and loading trained autoencoders with what they were trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from simex.artifacts import load_checkpoint, save_checkpoint
from simex.fused import FoldedAutoEncoders, load_member, stack_parameters
from simex.fused_training import SampleLosses, train_folded
from simex.losses import PerSampleLoss, SSIMWindow, per_sample_loss
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


def fused_autoencoder_losses(per_sample: PerSampleLoss, code_map: tuple[int, int, int]) -> SampleLosses:
    """Every member's per-sample loss from one folded pass (simex.fused) over its batch, (B, K)."""

    def sample_losses(params: Mapping[str, torch.Tensor], inputs: torch.Tensor, _targets: None) -> torch.Tensor:
        outputs = FoldedAutoEncoders.from_stacked(params, code_map)(inputs, shared=False)
        return per_sample(inputs.flatten(0, 1), outputs.flatten(0, 1)).view(inputs.shape[:2])

    return sample_losses


def train_autoencoders(
    image_sets: Sequence[np.ndarray],
    loss: str,
    window: SSIMWindow,
    configs: Sequence[TrainConfig],
    device: torch.device,
    validation_fraction: float = 0.0,
    graph: bool | None = None,
) -> list[tuple[LeNet5AutoEncoder, TrainResult]]:
    """Several autoencoders trained as one fused model on the device (simex.fused_training),
    each equal (up to float rounding) to :func:`train_autoencoder` with its own images and
    config (seed) alone. ``graph``: capture the step in a CUDA graph (default: on CUDA)."""
    models = [_new_autoencoder(config.seed, images) for config, images in zip(configs, image_sets)]
    if len({model.input_shape for model in models}) != 1:
        raise ValueError(f"autoencoders trained as one fused model must share one input shape, got "
                         f"{sorted({model.input_shape for model in models})}")
    splits = [_split(images, validation_fraction) for images in image_sets]
    code_map = tuple(models[0].layers()["unflatten"].unflattened_size)
    results, trained = train_folded(stack_parameters(models),
                                    fused_autoencoder_losses(per_sample_loss(loss, window), code_map),  # type: ignore[arg-type]
                                    [training[0] for training, _ in splits], None, configs, device,
                                    validation=[None if v is None else (v[0], None) for _, v in splits], graph=graph)
    for k, model in enumerate(models):
        load_member(model, trained, k)
    return [(model.to(device).eval(), result) for model, result in zip(models, results)]
