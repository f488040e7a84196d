"""Ranking an unknown dataset against a fleet of trained autoencoders (§3.1, §4).

A *fleet* is a folder of autoencoders with a manifest (simex.fleets).
``Fleet.load(path).rank(images)`` evaluates every autoencoder on the images and orders
the known datasets (or classes) by Δ(X|Y), the mean δ of the fleet's loss, smallest
(most similar) first, with a percentile bootstrap confidence interval and the fraction
of bootstrap resamples in which each member comes first (simex.stats); simex.tables
renders a :class:`Ranking` as text, JSON or CSV. Express mode reads the
samples in a seeded random order, a step at a time, and stops once the top two
members' intervals no longer overlap, or when a sample budget is spent.

Speed: :class:`FleetEvaluator` runs all autoencoders in one pass per batch, exactly
(up to float rounding) equal to running each model on its own:
- the first convolution of every model sees the same input, so it runs as a single
  convolution with 6·K output channels;
- 2x2 max-pooling is four strided maxima (much faster than ``max_pool2d`` on CPU)
  and comes before the ReLU (they commute), on a quarter of the values;
- nearest-neighbour upsampling followed by a 5x5 (transposed) convolution equals a
  3x3 convolution with four times the output channels on the small map, followed by
  ``pixel_shuffle`` (sub-pixel convolution); the kernels are folded once at load time,
  so the decoder never materialises an upsampled map;
- with those, the per-model layers run for all K models at once: convolutions grouped
  (groups = K), FC layers as batched matrix products.
Measured on the 2-core CPU (benchmarks/bench_rank.py): ``torch.vmap`` over stacked
models is slower than the plain loop, and grouping alone is not enough; the rewrites
above are what makes the single pass faster (about 2.5x the plain loop there).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from simex.fleet import FleetError
from simex.fleets import FleetFolder, read_fleet
from simex.losses import SSIMWindow, per_sample_loss
from simex.models import LeNet5AutoEncoder
from simex.readers import ArraySource, SampleSource, open_samples
from simex.similarity import InputError
from simex.stats import bootstrap_means, percentile_intervals


# --- the fused evaluator ---------------------------------------------------------------

# Rows of _SUBPIXEL[a]: which taps u of a 5-tap kernel read source offset -1, 0, +1 (or
# -2, -1, 0 for the transposed convolution) when the output pixel has phase a ∈ {0, 1}
# of a 2x nearest-neighbour upsampled input.
_SUBPIXEL = torch.tensor([[[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]],
                          [[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1]]], dtype=torch.float64)


def subpixel_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Conv kernel (O, C, 5, 5) applied to a 2x upsampled map -> (4·O, C, 3, 3) on the small map.

    Output channel ``4·o + 2·a + b`` is the phase (a, b) of channel o, the order
    ``pixel_shuffle(·, 2)`` expects.
    """
    folded = torch.einsum("aru,ocuv,bsv->oabcrs", _SUBPIXEL, weight.detach().double(), _SUBPIXEL)
    out_channels, in_channels = weight.shape[:2]
    return folded.reshape(4 * out_channels, in_channels, 3, 3).to(weight.dtype)


def _pool_max(h: torch.Tensor) -> torch.Tensor:
    """2x2 max-pooling, stride 2, as four strided maxima."""
    return torch.maximum(torch.maximum(h[..., 0::2, 0::2], h[..., 0::2, 1::2]),
                         torch.maximum(h[..., 1::2, 0::2], h[..., 1::2, 1::2]))


class FleetEvaluator:
    """δ(x, A_k(x)) for all K autoencoders at once: (B, 1, 28, 28) -> (B, K).

    One pass per batch: the shared first convolution (6·K channels), the second
    convolution and the decoder's two folded convolutions as grouped convolutions
    (groups = K), the four FC layers as batched matrix products over the K models.
    """

    def __init__(self, models: Sequence[LeNet5AutoEncoder], loss: str, window: SSIMWindow = SSIMWindow(),
                 device: torch.device | str = "cpu") -> None:
        if not models:
            raise FleetError("a fleet needs at least one autoencoder")
        self.device = torch.device(device)
        self.delta = per_sample_loss(loss, window)
        self.k = len(models)
        enc = [m.encoder for m in models]
        dec = [m.decoder for m in models]

        def cat(tensors: list[torch.Tensor]) -> torch.Tensor:
            return torch.cat([t.detach() for t in tensors]).contiguous().to(self.device)

        def stack(tensors: list[torch.Tensor]) -> torch.Tensor:
            return torch.stack([t.detach() for t in tensors]).contiguous().to(self.device)

        with torch.no_grad():
            self.w1, self.b1 = cat([e[0].weight for e in enc]), cat([e[0].bias for e in enc])
            self.w2, self.b2 = cat([e[3].weight for e in enc]), cat([e[3].bias for e in enc])
            # FC layers: weights (K, in, out) for x @ W, biases (K, 1, out)
            linears = [[e[7] for e in enc], [e[9] for e in enc], [d[0] for d in dec], [d[2] for d in dec]]
            self.fc = [(stack([l.weight.T for l in layer]), stack([l.bias[None] for l in layer])) for layer in linears]
            # ConvTranspose2d(16, 6, 5) = conv with the flipped, transposed kernel and padding 4; folded
            self.wt = cat([subpixel_kernel(d[6].weight.flip(2, 3).transpose(0, 1)) for d in dec])
            self.bt = cat([d[6].bias.repeat_interleave(4) for d in dec])
            self.wf = cat([subpixel_kernel(d[9].weight) for d in dec])
            self.bf = cat([d[9].bias.repeat_interleave(4) for d in dec])

    @torch.inference_mode()
    def errors(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        b, k = len(x), self.k
        h = F.relu(_pool_max(F.conv2d(x, self.w1, self.b1, padding=2)))  # (B, 6K, 14, 14)
        h = F.relu(_pool_max(F.conv2d(h, self.w2, self.b2, groups=k)))  # (B, 16K, 5, 5)
        h = h.view(b, k, 400).transpose(0, 1)  # (K, B, 400)
        for weight, bias in self.fc:
            h = F.relu(torch.baddbmm(bias, h, weight))  # 400 -> 120 -> 84 (code) -> 120 -> 400
        h = h.transpose(0, 1).reshape(b, 16 * k, 5, 5)
        h = F.pixel_shuffle(F.relu(F.conv2d(h, self.wt, self.bt, padding=2, groups=k)), 2)  # (B, 6K, 14, 14)
        y = torch.sigmoid(F.pixel_shuffle(F.conv2d(h, self.wf, self.bf, padding=1, groups=k), 2))  # (B, K, 28, 28)
        inputs = x.expand(b, k, 28, 28).reshape(b * k, 1, 28, 28)
        return self.delta(inputs, y.reshape(b * k, 1, 28, 28)).view(b, k).float()


@torch.inference_mode()
def plain_errors(models: Sequence[torch.nn.Module], x: torch.Tensor, loss: str, window: SSIMWindow = SSIMWindow(),
                 batch_size: int = 1024) -> torch.Tensor:
    """The reference: each model on its own, one after another, (N, K)."""
    delta = per_sample_loss(loss, window)
    columns = []
    for model in models:
        model.eval()
        columns.append(torch.cat([delta(x[s : s + batch_size], model(x[s : s + batch_size]))
                                  for s in range(0, len(x), batch_size)]))
    return torch.stack(columns, dim=1)


# --- the fleet -------------------------------------------------------------------------


@dataclass
class Fleet(FleetFolder):
    """A verified fleet folder, ranking with its autoencoders on ``device``."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _evaluator: FleetEvaluator | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path | str, loss: str | None = None, device: torch.device | str = "cpu") -> "Fleet":
        """Load and verify a fleet folder (simex.fleets.read_fleet) to rank on ``device``."""
        folder = read_fleet(path, loss)
        return cls(**{f.name: getattr(folder, f.name) for f in fields(FleetFolder)}, device=torch.device(device))

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.members]

    @property
    def evaluator(self) -> FleetEvaluator:
        if self._evaluator is None:
            self._evaluator = FleetEvaluator(self.models, self.loss, self.window, self.device)
        return self._evaluator

    def errors(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """δ of every sample through every member, (N, K); images float in [0, 1] or uint8."""
        source = as_source(images)
        return self._errors(source.take(np.arange(len(source))), batch_size)

    def _errors(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        if batch_size < 1:
            raise InputError(f"batch size must be positive, got {batch_size}")
        tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        parts = [self.evaluator.errors(tensor[s : s + batch_size]).cpu() for s in range(0, len(tensor), batch_size)]
        return torch.cat(parts).numpy().astype(np.float64)

    def rank(self, images: np.ndarray | str | Path | SampleSource, batch_size: int = 1024,
             settings: "RankSettings | None" = None) -> "Ranking":
        """Order the members by Δ (most similar first) for the unknown ``images``."""
        settings = settings or RankSettings()
        started = time.perf_counter()
        source = as_source(images)
        n_total = len(source)
        rng = np.random.default_rng(settings.seed)
        if not settings.express:
            errors = self._errors(source.take(np.arange(n_total)), batch_size)
            stop_reason = "all samples"
        else:
            order = rng.permutation(n_total)
            limit = min(n_total, settings.budget) if settings.budget else n_total
            chunks, used, stop_reason = [], 0, "all samples"
            while used < limit:
                step = min(settings.step, limit - used)
                chunks.append(self._errors(source.take(order[used : used + step]), batch_size))
                used += step
                if used >= settings.min_samples and used < limit and settled(np.concatenate(chunks), settings, rng):
                    stop_reason = "settled"
                    break
            else:
                stop_reason = "budget" if limit < n_total else "all samples"
            errors = np.concatenate(chunks)
        return summarize(self, errors, n_total, stop_reason, time.perf_counter() - started, settings, rng)


def as_source(images: np.ndarray | str | Path | SampleSource) -> SampleSource:
    if isinstance(images, (str, Path)):
        return open_samples(images)
    if isinstance(images, np.ndarray):
        return ArraySource(images, "images")
    if torch.is_tensor(images):
        return ArraySource(images.detach().cpu().numpy(), "images")
    return images


# --- bootstrap and the ranking ---------------------------------------------------------


@dataclass(frozen=True)
class RankSettings:
    bootstrap: int = 1000  # resamples for the confidence intervals
    confidence: float = 0.95
    seed: int = 0
    express: bool = False
    budget: int = 5000  # express: read at most this many samples (0: no budget)
    step: int = 128  # express: samples read between checks
    min_samples: int = 128  # express: never stop before this many
    check_resamples: int = 200  # express: resamples per check

    def __post_init__(self) -> None:
        if self.bootstrap < 1 or self.step < 1 or self.check_resamples < 1 or self.budget < 0:
            raise InputError(f"invalid ranking settings: {self}")
        if not 0.0 < self.confidence < 1.0:
            raise InputError(f"confidence must lie in (0, 1), got {self.confidence}")


def settled(errors: np.ndarray, settings: RankSettings, rng: np.random.Generator) -> bool:
    """The top two members' bootstrap intervals no longer overlap."""
    if errors.shape[1] < 2:
        return True
    low, high = percentile_intervals(bootstrap_means(errors, settings.check_resamples, rng), settings.confidence)
    first, second = np.argsort(errors.mean(axis=0), kind="stable")[:2]
    return bool(high[first] < low[second])


@dataclass
class Ranking:
    fleet: str
    fleet_path: str
    loss: str
    table: pd.DataFrame  # rank, label, key, dataset, class, delta, ci_low, ci_high, p_top
    n_used: int
    n_total: int
    stop_reason: str  # "all samples" | "settled" | "budget"
    seconds: float
    bootstrap: int
    confidence: float

    @property
    def stopped_early(self) -> bool:
        return self.n_used < self.n_total

    @property
    def top(self) -> str:
        return str(self.table["label"].iloc[0])

    @property
    def order(self) -> list[str]:
        return list(self.table["label"])

    def summary(self) -> dict[str, Any]:
        return {"fleet": self.fleet, "fleet_path": self.fleet_path, "loss": self.loss, "n_used": self.n_used,
                "n_total": self.n_total, "stopped_early": self.stopped_early, "stop_reason": self.stop_reason,
                "seconds": round(self.seconds, 4), "bootstrap": self.bootstrap, "confidence": self.confidence}


def summarize(fleet: Fleet, errors: np.ndarray, n_total: int, stop_reason: str, seconds: float,
              settings: RankSettings, rng: np.random.Generator) -> Ranking:
    delta = errors.mean(axis=0)
    means = bootstrap_means(errors, settings.bootstrap, rng)
    low, high = percentile_intervals(means, settings.confidence)
    p_top = np.bincount(means.argmin(axis=1), minlength=len(delta)) / len(means)
    order = np.argsort(delta, kind="stable")
    table = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        "label": [fleet.members[i].label for i in order],
        "key": [fleet.members[i].key for i in order],
        "dataset": [fleet.members[i].dataset for i in order],
        "class": [fleet.members[i].class_name for i in order],
        "delta": delta[order], "ci_low": low[order], "ci_high": high[order], "p_top": p_top[order],
    })
    if not math.isfinite(float(delta.sum())):
        raise InputError("δ is not finite for some samples; the input holds values the autoencoders cannot handle")
    return Ranking(fleet.name, str(fleet.root), fleet.loss, table, int(len(errors)), n_total, stop_reason, seconds,
                   settings.bootstrap, settings.confidence)
