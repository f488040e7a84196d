"""δ of samples through autoencoders: the one fast path (fused) and the plain reference.

:class:`FleetEvaluator` runs K autoencoders in one pass per batch (simex.models.fused) and
computes δ for all of them at once: (B, C, H, W) -> (B, K). :func:`delta_means` is the
one Δ entry point (a fleet × image sets -> the matrix of mean δ): the Δ tables, the class
pairings, Fig. 6's curves and the inter-class matrices call it; ``simex rank`` and Fig. 5's
latency use the evaluator directly. :func:`plain_errors`, each model on its own, is the
reference the fused path is tested against. :func:`batched` is the one loop that feeds
large inputs through a model in batches (:func:`map_images` for uint8 images, e.g. a
classifier's outputs in :func:`accuracy`).

Measured on the 2-core CPU (perf/bench_rank.py): ``torch.vmap`` over stacked
models is slower than the plain loop, and grouping alone is not enough; the folding of
simex.models.fused is what makes the single pass faster.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from simex.models.fused import FoldedAutoEncoders
from simex.models.losses import PerSampleLoss
from simex.models.networks import LeNet5AutoEncoder
from simex.training.loop import images_to_tensor


def batched(fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, batch_size: int,
            device: torch.device | str | None = None) -> torch.Tensor:
    """``fn`` over consecutive batches of ``inputs`` (moved to ``device`` a batch at a time), concatenated."""
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    return torch.cat([fn(inputs[start : start + batch_size].to(device or inputs.device, non_blocking=True))
                      for start in range(0, len(inputs), batch_size)])


@torch.inference_mode()
def map_images(fn: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray, device: torch.device | str,
               batch_size: int = 1024) -> torch.Tensor:
    """``fn`` (a model in eval mode, an encoder, ...) over uint8 images in batches on ``device``."""
    return batched(fn, images_to_tensor(images, device), batch_size)


def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, device: torch.device | str,
             batch_size: int = 1024) -> float:
    """Fraction of ``images`` a classifier labels correctly."""
    if len(images) == 0:
        raise ValueError("cannot measure accuracy on an empty test set")
    model.eval().to(device)
    predicted = map_images(model, images, device, batch_size).argmax(1).cpu()
    return float((predicted.numpy() == np.asarray(labels)).mean())


CPU_PASS_SAMPLE_MEMBERS = 1024


class FleetEvaluator:
    """δ(x, A_k(x)) for K autoencoders at once, their weights folded once (simex.models.fused)."""

    def __init__(self, models: Sequence[LeNet5AutoEncoder], delta: PerSampleLoss,
                 device: torch.device | str = "cpu") -> None:
        if not models:
            raise ValueError("a fleet needs at least one autoencoder")
        self.device = torch.device(device)
        self.delta = delta
        self.k = len(models)
        # On a CPU, passes of about a thousand sample·members keep the activations in cache:
        # 128-256 samples through 5 members ran 1.7x faster than 1024 (perf/bench_rank.py).
        self.pass_size = max(1, CPU_PASS_SAMPLE_MEMBERS // self.k) if self.device.type == "cpu" else None
        with torch.no_grad():
            self.folded = FoldedAutoEncoders.fold(models).to(self.device)

    @torch.inference_mode()
    def errors(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> δ (B, K), on the evaluator's device."""
        x = x.to(self.device, non_blocking=True)
        if self.pass_size is not None and len(x) > self.pass_size:
            return batched(self._pass, x, self.pass_size)
        return self._pass(x)

    def _pass(self, x: torch.Tensor) -> torch.Tensor:
        b, k = len(x), self.k
        y = self.folded(x, shared=True)  # (B, K, C, H, W)
        inputs = x.unsqueeze(1).expand_as(y)
        return self.delta(inputs.reshape(b * k, *x.shape[1:]), y.reshape(b * k, *x.shape[1:])).view(b, k).float()

    @torch.inference_mode()
    def image_errors(self, images: np.ndarray, batch_size: int = 1024) -> torch.Tensor:
        """δ of uint8 images, (N, H, W) or (N, C, H, W), through every member: (N, K) on the evaluator's device."""
        return batched(self.errors, images_to_tensor(images, self.device), batch_size)


def delta_means(models: Sequence[LeNet5AutoEncoder] | FleetEvaluator, inputs: Sequence[np.ndarray],
                delta: PerSampleLoss | None, device: torch.device | str, batch_size: int = 1024) -> np.ndarray:
    """The one Δ entry point: Δ = mean δ of every image set (uint8) through every autoencoder,
    (len(inputs), len(models)), float64; the fleet folded once for all of them. ``models`` may
    be a fleet already folded (a :class:`FleetEvaluator`, its own δ and device; ``delta`` and
    ``device`` are then not used): a zoo folds once and times only the pass (the benchmark)."""
    evaluator = models if isinstance(models, FleetEvaluator) else FleetEvaluator(models, delta, device)
    return np.stack([evaluator.image_errors(images, batch_size).double().mean(dim=0).cpu().numpy()
                     for images in inputs])


@torch.inference_mode()
def plain_errors(models: Sequence[torch.nn.Module], x: torch.Tensor, delta: PerSampleLoss,
                 batch_size: int = 1024) -> torch.Tensor:
    """The reference: each model on its own, one after another, (N, K)."""
    columns = []
    for model in models:
        model.eval()
        columns.append(batched(lambda batch, model=model: delta(batch, model(batch)), x, batch_size))
    return torch.stack(columns, dim=1)
