"""δ, the per-sample reconstruction error: MSE or iSSIM = 1 − SSIM.

The same function is the autoencoder's training loss (its batch mean) and δ at
comparison time, as in the paper. SSIM comes from pytorch-msssim with a 7-pixel
Gaussian window (σ = 1.0) rather than the usual 11 (σ = 1.5): on 28x28 images an
11-pixel window leaves an 18x18 map whose every value mixes a third of the image,
while 7 keeps the comparison local (22x22 map) like SSIM's design intends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from pytorch_msssim import ssim

LOSSES = ("mse", "issim")
PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SSIMWindow:
    size: int = 7
    sigma: float = 1.0


def mse_per_sample(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    return (inputs - outputs).pow(2).flatten(1).mean(dim=1)


def issim_per_sample(inputs: torch.Tensor, outputs: torch.Tensor, window: SSIMWindow = SSIMWindow()) -> torch.Tensor:
    similarity = ssim(inputs, outputs, data_range=1.0, size_average=False, win_size=window.size, win_sigma=window.sigma)
    return 1.0 - similarity


def per_sample_loss(name: str, window: SSIMWindow = SSIMWindow()) -> PerSampleLoss:
    if name == "mse":
        return mse_per_sample
    if name == "issim":
        return lambda inputs, outputs: issim_per_sample(inputs, outputs, window)
    raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
