"""Cross-dataset class pairings (§5.3): which class k of a reference dataset Y supplements
MNIST class i.

Three ways to score a pair (i, k), smaller = more similar:

- SimEx: Δ(c_M^i | c_Y^k), the mean reconstruction error δ of the MNIST samples of class i
  through the per-class autoencoder A(c_Y^k) (δ = the loss it was trained with);
- sample-MSE: the mean Euclidean distance between the samples of c_M^i and c_Y^k in sample
  space (pixels in [0, 1]), over all cross pairs of samples;
- embeddings: the same mean Euclidean distance between their 84-d bottleneck codes from the
  per-dataset autoencoder A(Y).

All three are turned into pairs by the paper's greedy step: the smallest score decides the
first pair, then the next smallest among unused i and unused k, each used once, until one
side runs out (E has 26 classes: ten of them are paired).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from simex.models.losses import PerSampleLoss
from simex.data.images import InputError
from simex.inference.evaluate import delta_means, map_images
from simex.inference.similarity import check_images
from simex.analysis.tables import frame_markdown
from simex.training.loop import images_to_tensor
from simex.base.errors import SimexError

SIMEX_PREFIX = "SimEx-"
SAMPLE_MSE = "sample-MSE"
EMBEDDINGS = "embeddings"
METHOD_KINDS = ("simex", "sample-mse", "embeddings")

# What the paper reports in §5.3 (the only pairings it states): for Y = B, SimEx pairs
# B class i with MNIST class i; sample-MSE does the same except that 1 and 8 are swapped.
PAPER_PAIRS: dict[tuple[str, str], dict[int, int]] = {
    ("SimEx-MSE", "B"): {i: i for i in range(10)},
    ("sample-MSE", "B"): {**{i: i for i in range(10)}, 1: 8, 8: 1},
}


class PairingError(SimexError, ValueError):
    pass


def simex_method(loss: str) -> str:
    """The method's name for SimEx with δ = ``loss``, e.g. 'SimEx-MSE'."""
    return SIMEX_PREFIX + {"mse": "MSE", "issim": "iSSIM"}.get(loss, loss)


def method_names(kinds: Sequence[str], simex_losses: Sequence[str]) -> list[str]:
    """Configured method kinds expanded to names, SimEx once per pairing loss, in order."""
    names: list[str] = []
    for kind in kinds:
        if kind == "simex":
            names.extend(simex_method(loss) for loss in simex_losses)
        elif kind == "sample-mse":
            names.append(SAMPLE_MSE)
        elif kind == "embeddings":
            names.append(EMBEDDINGS)
        else:
            raise PairingError(f"unknown pairing method {kind!r}; expected one of {', '.join(METHOD_KINDS)}")
    return names


@dataclass(frozen=True)
class Pair:
    i: int  # row: MNIST class
    k: int  # column: class of the reference dataset
    score: float
    step: int  # 1 = decided first


def greedy_pairs(scores: np.ndarray) -> list[Pair]:
    """The paper's greedy pairing on a (rows × columns) score matrix, smaller = more similar.

    Repeatedly takes the smallest score among rows and columns not used yet; each row and
    each column is used at most once, and min(rows, columns) pairs result. Ties are broken
    by row, then column index, so the result is deterministic.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or 0 in scores.shape:
        raise PairingError(f"expected a non-empty 2-d score matrix, got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise PairingError("score matrix holds NaN or infinite values")
    rows, cols = np.unravel_index(np.lexsort((np.arange(scores.size), scores.ravel())), scores.shape)
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs: list[Pair] = []
    limit = min(scores.shape)
    for i, k in zip(rows.tolist(), cols.tolist()):
        if i in used_rows or k in used_cols:
            continue
        used_rows.add(i)
        used_cols.add(k)
        pairs.append(Pair(i, k, float(scores[i, k]), len(pairs) + 1))
        if len(pairs) == limit:
            break
    return pairs


def class_members(images: np.ndarray, labels: np.ndarray, n_classes: int, name: str,
                  max_per_class: int | None = None) -> list[np.ndarray]:
    """The images of each class 0..n_classes-1 (the first ``max_per_class`` of each, if set)."""
    check_images(images, name)
    if len(labels) != len(images):
        raise InputError(f"{name}: {len(images)} images but {len(labels)} labels")
    members = []
    for label in range(n_classes):
        chosen = images[labels == label]
        if len(chosen) == 0:
            raise InputError(f"{name}: class {label} has no samples")
        members.append(chosen[:max_per_class] if max_per_class else chosen)
    return members


def simex_scores(class_autoencoders: Sequence[nn.Module], mnist_classes: Sequence[np.ndarray],
                 delta: PerSampleLoss, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Δ(c_M^i | c_Y^k): rows i (MNIST classes), columns k (one autoencoder per Y class)."""
    for images in mnist_classes:
        check_images(images)
    return delta_means(class_autoencoders, mnist_classes, delta, device, batch_size)


def mean_pairwise_distance(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> float:
    """Mean Euclidean distance over all pairs (a_j, b_l) of rows of ``a`` and ``b``."""
    total = 0.0
    for start in range(0, len(a), chunk):
        total += float(torch.cdist(a[start : start + chunk].float(), b.float()).double().sum())
    return total / (len(a) * len(b))


def distance_scores(mnist_vectors: Sequence[torch.Tensor], reference_vectors: Sequence[torch.Tensor]) -> np.ndarray:
    """Mean Euclidean distance between every MNIST class i and reference class k."""
    return np.array([[mean_pairwise_distance(a, b) for b in reference_vectors] for a in mnist_vectors])


def flat_pixels(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return images_to_tensor(images).flatten(1).to(device)


@torch.inference_mode()
def codes(model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 1024) -> torch.Tensor:
    """Bottleneck codes of ``images`` from an autoencoder with ``encode`` (LeNet5AutoEncoder)."""
    model.eval().to(device)
    return map_images(model.encode, images, device, batch_size)


def sample_mse_scores(mnist_classes: Sequence[np.ndarray], reference_classes: Sequence[np.ndarray],
                      device: torch.device) -> np.ndarray:
    return distance_scores([flat_pixels(x, device) for x in mnist_classes],
                           [flat_pixels(x, device) for x in reference_classes])


@torch.inference_mode()
def embedding_scores(dataset_autoencoder: nn.Module, mnist_classes: Sequence[np.ndarray],
                     reference_classes: Sequence[np.ndarray], device: torch.device, batch_size: int = 1024) -> np.ndarray:
    return distance_scores([codes(dataset_autoencoder, x, device, batch_size) for x in mnist_classes],
                           [codes(dataset_autoencoder, x, device, batch_size) for x in reference_classes])


def score_frame(scores: np.ndarray, method: str, reference: str, label: str, class_names: Sequence[str]) -> pd.DataFrame:
    """All (i, k) scores of one method and reference dataset in long form, with the chosen pairs marked."""
    pairs = {(p.i, p.k): p.step for p in greedy_pairs(scores)}
    rows = [
        {"method": method, "Y": label, "dataset": reference, "i": i, "k": k, "k_name": class_names[k],
         "score": float(scores[i, k]), "paired": (i, k) in pairs, "step": pairs.get((i, k), 0)}
        for i in range(scores.shape[0]) for k in range(scores.shape[1])
    ]
    return pd.DataFrame(rows)


def pairings_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The chosen pairs (method, Y, i, k, score, ...) with the paper's k where the paper states it."""
    chosen = scores[scores["paired"]].drop(columns="paired").sort_values(["method", "dataset", "i"], kind="stable")
    chosen = chosen.reset_index(drop=True)
    chosen["paper_k"] = [PAPER_PAIRS.get((m, d), {}).get(i) for m, d, i in zip(chosen["method"], chosen["dataset"], chosen["i"])]
    chosen["paper_k"] = chosen["paper_k"].astype("Int64")
    return chosen[["method", "Y", "dataset", "i", "k", "k_name", "score", "step", "paper_k"]]


def by_class_table(pairings: pd.DataFrame, reference: str, methods: Sequence[str]) -> pd.DataFrame:
    """Class-by-class pairing table of one reference dataset: rows MNIST i, one column per method."""
    part = pairings[pairings["dataset"] == reference]
    if part.empty:
        raise PairingError(f"no pairings for dataset {reference}")
    table = pd.DataFrame(index=pd.Index(range(10), name="MNIST class i"))
    for method in methods:
        rows = part[part["method"] == method].set_index("i")
        table[method] = [f"{rows.at[i, 'k_name']} ({rows.at[i, 'score']:.4g})" if i in rows.index else "" for i in table.index]
    return table


def pairings_markdown(pairings: pd.DataFrame, methods: Sequence[str], labels: Mapping[str, str],
                      legend: Sequence[str]) -> str:
    """Class-by-class pairing tables for every reference dataset, EMNIST first (the paper's supplement)."""
    parts = ["# Class pairings (§5.3): MNIST class i ← reference class k (score; smaller = more similar)\n"]
    for reference in [d for d in ("E", "R", "B", "F") if d in set(pairings["dataset"])]:
        parts.append(f"\n## Y = {labels[reference]}\n\n")
        parts.append(frame_markdown(by_class_table(pairings, reference, methods)))
        stated = {m: p for (m, d), p in PAPER_PAIRS.items() if d == reference}
        for method, pairs in stated.items():
            parts.append(f"\nPaper, {method}: " + ", ".join(f"{i}←{k}" for i, k in sorted(pairs.items())) + "\n")
    if legend:
        parts.append("\n" + "  \n".join(legend) + "\n")
    return "".join(parts)


def reference_scores(
    reference: str,
    label: str,
    mnist: tuple[np.ndarray, np.ndarray],
    reference_train: tuple[np.ndarray, np.ndarray],
    methods: Sequence[str],
    class_autoencoders: Mapping[str, Sequence[nn.Module]],
    dataset_autoencoder: nn.Module | None,
    deltas: Mapping[str, PerSampleLoss],
    device: torch.device,
    batch_size: int = 1024,
    max_per_class: int | None = None,
) -> pd.DataFrame:
    """Long-form scores of every method for one reference dataset Y.

    ``class_autoencoders`` maps a SimEx loss to A(c_Y^0), A(c_Y^1), ...; ``deltas`` maps the
    same loss to its δ; ``dataset_autoencoder`` is A(Y) for the embeddings baseline.
    """
    from simex.base.datasets import dataset_info

    info = dataset_info(reference)
    mnist_classes = class_members(*mnist, 10, "MNIST")
    reference_classes = class_members(*reference_train, info.n_classes, label, max_per_class)
    capped_mnist = [x[:max_per_class] if max_per_class else x for x in mnist_classes]
    frames = []
    for method in methods:
        if method.startswith(SIMEX_PREFIX):
            loss = next(l for l in class_autoencoders if simex_method(l) == method)
            models = class_autoencoders[loss]
            if len(models) != info.n_classes:
                raise PairingError(f"{label}: {len(models)} class autoencoders for {info.n_classes} classes")
            scores = simex_scores(models, mnist_classes, deltas[loss], device, batch_size)
        elif method == SAMPLE_MSE:
            scores = sample_mse_scores(capped_mnist, reference_classes, device)
        elif method == EMBEDDINGS:
            if dataset_autoencoder is None:
                raise PairingError("the embeddings baseline needs the per-dataset autoencoder A(Y)")
            scores = embedding_scores(dataset_autoencoder, capped_mnist, reference_classes, device, batch_size)
        else:
            raise PairingError(f"unknown pairing method {method!r}")
        frames.append(score_frame(scores, method, reference, label, info.class_names))
    return pd.concat(frames, ignore_index=True)
