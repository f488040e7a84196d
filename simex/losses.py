"""δ, the per-sample reconstruction error: MSE or iSSIM = 1 − SSIM.

The same function is the autoencoder's training loss (its batch mean) and δ at
comparison time, as in the paper. SSIM comes from pytorch-msssim with Wang et al.'s
11-pixel Gaussian window (σ = 1.5), also the default of the Keras/TensorFlow SSIM the
paper's setup would have used. A smaller window (7, σ = 1.0) was tried first: on 28x28
digits many of its windows are pure background, where SSIM rewards exactly black
output and punishes any faint blur, and iSSIM training fell into the all-black
output (iSSIM ≈ 0.658, the share of non-blank windows) on mnist-rot for every learning
rate and optimizer tried; with the 11-pixel window it trains normally.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import torch
from pytorch_msssim import ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d

from simex.config import SSIMWindow

LOSSES = ("mse", "issim")
PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse_per_sample(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    return (inputs - outputs).pow(2).flatten(1).mean(dim=1)


@lru_cache(maxsize=None)
def _gaussian_window(window: SSIMWindow, channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """pytorch-msssim's own 1-D Gaussian window, made once per device: a CUDA graph may not copy
    it from the host while capturing the training step."""
    with torch.inference_mode(False):  # a normal tensor, which training may save for backward
        return _fspecial_gauss_1d(window.size, window.sigma).repeat([channels, 1, 1, 1]).to(device, dtype)


def issim_per_sample(inputs: torch.Tensor, outputs: torch.Tensor, window: SSIMWindow | None = None) -> torch.Tensor:
    window = window or SSIMWindow.default()  # the schema's ``ssim`` section
    win = _gaussian_window(window, inputs.shape[1], inputs.device, inputs.dtype)
    similarity = ssim(inputs, outputs, data_range=1.0, size_average=False, win=win)
    return 1.0 - similarity


def per_sample_loss(name: str, window: SSIMWindow | None = None) -> PerSampleLoss:
    """δ by name; iSSIM with ``window`` (default: the schema's ``ssim`` section)."""
    if name == "mse":
        return mse_per_sample
    if name == "issim":
        return lambda inputs, outputs: issim_per_sample(inputs, outputs, window)
    raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
