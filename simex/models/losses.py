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


# --- δ over many pairs of two sets (sample-MSE / sample-iSSIM of §5.4) -----------------------------


def _blur(maps: torch.Tensor, window: SSIMWindow) -> torch.Tensor:
    """The valid Gaussian blur of (..., H, W) maps, as issim_per_sample applies it."""
    height, width = maps.shape[-2:]
    rows, columns = _blur_matrices(window, height, width, maps.device, maps.dtype)
    return rows @ (maps.reshape(-1, width) @ columns).view(*maps.shape[:-1], columns.shape[1])


def pair_distance_sum(name: str, a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor,
                      window: SSIMWindow | None = None, batch_size: int = 4096) -> float:
    """Σ over the index pairs (ia[p], ib[p]) of δ(a[ia[p]], b[ib[p]]), for images (N, C, H, W):
    what ``per_sample_loss(name)`` gives summed over the gathered pairs, with what depends on
    one sample alone made once per sample instead of once per pair.

    MSE folds completely: Σ_p |a_i − b_j|² = Σ_i n_i |a_i|² + Σ_j m_j |b_j|² − 2 Σ_i a_i · (Σ_{j~i} b_j),
    the last sum a sparse (pairs) by dense product, in float64. iSSIM blurs the means and
    second moments of each sample once and, per pair, only the product map (one map of the
    five). tests/test_interclass.py checks both against the gathered per-pair δ.
    """
    if name == "mse":
        fa, fb = a.flatten(1).double(), b.flatten(1).double()
        counts_a = torch.bincount(ia, minlength=len(a)).double()
        counts_b = torch.bincount(ib, minlength=len(b)).double()
        pairs = torch.sparse_coo_tensor(torch.stack([ia, ib]), torch.ones(len(ia), dtype=torch.float64),
                                        (len(a), len(b)), check_invariants=True).coalesce()
        cross = (fa * torch.sparse.mm(pairs, fb)).sum()
        total = counts_a @ fa.pow(2).sum(1) + counts_b @ fb.pow(2).sum(1) - 2 * cross
        return float(total) / fa.shape[1]
    if name != "issim":
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    window = window or SSIMWindow.default()
    mu_a, sq_a = _blur(torch.stack((a, a * a)), window)
    mu_b, sq_b = _blur(torch.stack((b, b * b)), window)
    var_a, var_b = sq_a - mu_a * mu_a, sq_b - mu_b * mu_b
    c1, c2 = SSIM_K[0] ** 2, SSIM_K[1] ** 2
    total = 0.0
    for start in range(0, len(ia), batch_size):
        i, j = ia[start : start + batch_size], ib[start : start + batch_size]
        mx, my = mu_a[i], mu_b[j]
        cov = _blur(a[i] * b[j], window) - mx * my
        similarity = ((2 * mx * my + c1) / (mx * mx + my * my + c1)) * ((2 * cov + c2) / (var_a[i] + var_b[j] + c2))
        total += float((1.0 - similarity.flatten(2).mean(-1).mean(1)).double().sum())
    return total
