"""Δ(X|Y): the mean reconstruction error of samples X through the autoencoder of Y."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from simex.base.formats import pixels_to_float
from simex.data.images import InputError
from simex.inference.evaluate import FleetEvaluator, delta_means
from simex.models.losses import PerSampleLoss
from simex.models.networks import LeNet5AutoEncoder


def check_images(images: np.ndarray, name: str = "images") -> None:
    """The pipeline's prepared splits: uint8 (N, 28, 28), N > 0 (the pixel check is simex.data.images')."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise InputError(f"{name}: expected shape (N, 28, 28), got {images.shape}")
    if len(images) == 0:
        raise InputError(f"{name}: no samples")
    if images.dtype != np.uint8:
        raise InputError(f"{name}: expected uint8 pixels, got {images.dtype}")


def per_sample_errors(
    model: LeNet5AutoEncoder, images: np.ndarray, delta: PerSampleLoss, device: torch.device, batch_size: int = 1024
) -> np.ndarray:
    """δ(x_i, A(x_i)) for every sample, in order (the fused evaluator with one member)."""
    check_images(images)
    return FleetEvaluator([model], delta, device).image_errors(images, batch_size)[:, 0].cpu().numpy()


def delta_matrix(
    autoencoders: Mapping[str, LeNet5AutoEncoder],
    inputs: Mapping[str, np.ndarray],
    delta: PerSampleLoss,
    device: torch.device,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Rows: the autoencoder's dataset Y; columns: the input dataset X; values Δ(X|Y).

    Every input goes once through all autoencoders together (the fused evaluator).
    """
    for name, images in inputs.items():
        check_images(images, name)
    means = delta_means(list(autoencoders.values()), list(inputs.values()), delta, device, batch_size)
    frame = pd.DataFrame(means.T, index=list(autoencoders), columns=list(inputs))
    frame.index.name = "autoencoder A(Y)"
    frame.columns.name = "input X"
    return frame


def mean_l2_norm(images: np.ndarray) -> float:
    """Dataset-wide mean L2 norm of the samples, pixels in [0, 1] (§5.3's normaliser)."""
    flat = pixels_to_float(images.reshape(len(images), -1), np.float64)
    return float(np.linalg.norm(flat, axis=1).mean())


def dataset_delta_table(
    model_paths: Mapping[str, Path],
    test_paths: Mapping[str, Path],
    labels: Mapping[str, str],
    delta: PerSampleLoss,
    device: torch.device,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Δ(X|Y) over datasets, rows and columns named by display label (stand-ins marked)."""
    from simex.data.acquire import load_split
    from simex.training.autoencoders import load_autoencoder

    models = {code: load_autoencoder(path, device)[0] for code, path in model_paths.items()}
    inputs = {code: load_split(path)[0] for code, path in test_paths.items()}
    frame = delta_matrix(models, inputs, delta, device, batch_size)
    return relabel(frame, labels)


def relabel(frame: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    renamed = frame.rename(index=dict(labels), columns=dict(labels))
    renamed.index.name, renamed.columns.name = frame.index.name, frame.columns.name
    return renamed


def read_matrix(path: Path | str) -> pd.DataFrame:
    frame = pd.read_csv(path, index_col=0)
    frame.columns.name = "input X"
    return frame
