"""δ, the per-sample reconstruction error: MSE or iSSIM = 1 − SSIM.

The same function is the autoencoder's training loss (its batch mean) and δ at
comparison time, as in the paper. SSIM is Wang et al.'s (2004) with an 11-pixel Gaussian
window (σ = 1.5), the valid region, K = (0.01, 0.03) and data range 1: the definition and
defaults of pytorch-msssim's ``ssim`` and of the Keras/TensorFlow SSIM the paper's setup
would have used. A smaller window (7, σ = 1.0) was tried first: on 28x28 digits many of
its windows are pure background, where SSIM rewards exactly black output and punishes
any faint blur, and iSSIM training fell into the all-black output (iSSIM ≈ 0.658, the
share of non-blank windows) on mnist-rot for every learning rate and optimizer tried;
with the 11-pixel window it trains normally.

The separable Gaussian blur is applied as two matrix products (a band matrix per axis)
over the five maps at once, where pytorch-msssim runs ten depthwise convolutions. The
values are pytorch-msssim's (tests/test_similarity.py: equal within 1e-12 in float64,
gradients too); forward and backward on a training batch run about 6x faster on a CPU,
whose depthwise-convolution backward is slow, and iSSIM training had cost twice MSE's.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import torch

from simex.config import SSIMWindow

LOSSES = ("mse", "issim")
PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SSIM_K = (0.01, 0.03)  # Wang et al.'s constants: C1 = (0.01 L)², C2 = (0.03 L)², data range L = 1


def mse_per_sample(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    return (inputs - outputs).pow(2).flatten(1).mean(dim=1)


def gaussian_window(window: SSIMWindow) -> torch.Tensor:
    """The normalised 1-D Gaussian, ``window.size`` taps centred on 0, float64."""
    coords = torch.arange(window.size, dtype=torch.float64) - window.size // 2
    taps = torch.exp(-coords.pow(2) / (2 * window.sigma**2))
    return taps / taps.sum()


def _band(taps: torch.Tensor, size: int) -> torch.Tensor:
    """The valid correlation with ``taps`` along an axis of ``size`` pixels as a (size − w + 1, size)
    matrix; the identity where the axis is shorter than the window (pytorch-msssim skips it)."""
    width = len(taps)
    if size < width:
        return torch.eye(size, dtype=torch.float64)
    band = torch.zeros(size - width + 1, size, dtype=torch.float64)
    for row in range(size - width + 1):
        band[row, row : row + width] = taps
    return band


@lru_cache(maxsize=None)
def _blur_matrices(window: SSIMWindow, height: int, width: int, device: torch.device,
                   dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows (h', H), columns (W, w')) on the device, made once (a CUDA graph may not copy them
    from the host while capturing the training step)."""
    if not (window.size % 2 == 1 and window.size >= 1 and math.isfinite(window.sigma) and window.sigma > 0):
        raise ValueError(f"the SSIM window needs an odd size and a positive sigma, got {window}")
    taps = gaussian_window(window)
    with torch.inference_mode(False):  # normal tensors, which training may save for backward
        return (_band(taps, height).to(device, dtype),
                _band(taps, width).T.contiguous().to(device, dtype))


def issim_per_sample(inputs: torch.Tensor, outputs: torch.Tensor, window: SSIMWindow | None = None) -> torch.Tensor:
    """1 − SSIM of each sample, (N,), for images (N, C, H, W); SSIM averaged over the valid
    region and the channels, as pytorch-msssim's ``ssim(..., size_average=False)``."""
    if inputs.shape != outputs.shape or inputs.dim() != 4:
        raise ValueError(f"iSSIM needs two (N, C, H, W) batches of one shape, got {tuple(inputs.shape)} "
                         f"and {tuple(outputs.shape)}")
    window = window or SSIMWindow.default()  # the schema's ``ssim`` section
    height, width = inputs.shape[-2:]
    rows, columns = _blur_matrices(window, height, width, inputs.device, inputs.dtype)
    x, y = inputs, outputs
    maps = torch.stack((x, y, x * x, y * y, x * y))  # (5, N, C, H, W): every map blurred at once
    blurred = rows @ (maps.reshape(-1, width) @ columns).view(*maps.shape[:-1], columns.shape[1])
    mu_x, mu_y, xx, yy, xy = blurred
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    c1, c2 = SSIM_K[0] ** 2, SSIM_K[1] ** 2
    similarity = ((2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)) * ((2 * cov + c2) / (var_x + var_y + c2))
    return 1.0 - similarity.flatten(2).mean(-1).mean(1)


def per_sample_loss(name: str, window: SSIMWindow | None = None) -> PerSampleLoss:
    """δ by name; iSSIM with ``window`` (default: the schema's ``ssim`` section)."""
    if name == "mse":
        return mse_per_sample
    if name == "issim":
        return lambda inputs, outputs: issim_per_sample(inputs, outputs, window)
    raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
