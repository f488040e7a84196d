"""§5.1's baseline: transfer learning from LeNet-5 base classifiers (Fig. 4c, Table 1).

A base classifier B(Y) is trained from scratch on each dataset Y, restricted to ten
classes (EMNIST-Letters: its first ten, a–j). For every other dataset X, a copy of B(Y)
has its convolutions frozen and its fully connected layers retrained on X; its accuracy
on X's test split, divided by B(Y)'s accuracy on Y's own test split, is the normalised
transferred accuracy of Fig. 4c. Table 1 is Spearman's ρ, per base dataset, between
the ordering of the datasets by Δ(X|Y) (ascending) and by that accuracy (descending).

Balancing: the paper balanced samples across classes and datasets. Training sets are
cut to the smallest per-class count among the datasets (EMNIST's 26 classes leave it
the fewest samples per class), so no dataset transfers better merely by having more
samples. Test splits are already class-balanced; all their samples of the ten classes
are used, which only lowers the variance of the accuracies.

Training follows Keras' ``fit`` as the paper used it: the optimizer and learning rate
from the config, the last ``validation_fraction`` of the training samples held out,
early stopping at the minimum validation loss with the best weights restored.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from simex.datasets import code_of, legend_lines
from simex.models import LeNet5Classifier
from simex.stats import rowwise_rho
from simex.training import TrainConfig, TrainResult, classifier_batch_loss, images_to_tensor, seed_everything, train

log = logging.getLogger(__name__)

N_CLASSES = 10
ARCHITECTURE = "lenet5-classifier"
# simex.artifacts.load_classifier builders: B(Y) and its transfers are LeNet-5 classifiers
BASE_CLASSIFIER = {ARCHITECTURE: LeNet5Classifier}

# Table 1 of the paper: ρ per base dataset, SimEx with MSE and with iSSIM.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "mse": {"M": 0.9, "E": 1.0, "R": 1.0, "B": 0.6, "F": 0.7},
    "issim": {"M": 0.9, "E": 1.0, "R": 0.9, "B": 0.9, "F": 0.9},
}
LOSS_NAMES = {"mse": "MSE", "issim": "iSSIM"}


class TransferError(ValueError):
    """Inputs to the transfer baseline are inconsistent or incomplete."""


# --- data ------------------------------------------------------------------------------


def first_classes(images: np.ndarray, labels: np.ndarray, n_classes: int = N_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """The samples of classes 0..n_classes-1 (for EMNIST-Letters: a..j), in order."""
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise TransferError(f"expected (N, 28, 28) images with N labels, got {images.shape} and {labels.shape}")
    keep = labels < n_classes
    return images[keep], labels[keep]


def class_counts(labels: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    return np.bincount(labels[labels < n_classes], minlength=n_classes)[:n_classes]


def common_per_class(label_sets: Mapping[str, np.ndarray], n_classes: int = N_CLASSES) -> int:
    """The largest per-class count every dataset can provide for each of the ten classes."""
    if not label_sets:
        raise TransferError("no datasets to balance")
    counts = {name: int(class_counts(labels, n_classes).min()) for name, labels in label_sets.items()}
    for name, count in counts.items():
        if count < 1:
            raise TransferError(f"{name}: some of the first {n_classes} classes have no samples")
    return min(counts.values())


def balanced_subset(images: np.ndarray, labels: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` samples of each class, keeping the split's (shuffled) order."""
    chosen = []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        if len(index) < per_class:
            raise TransferError(f"class {label} has {len(index)} samples, fewer than the {per_class} asked for")
        chosen.append(index[:per_class])
    keep = np.sort(np.concatenate(chosen))
    return images[keep], labels[keep]


def classifier_data(images: np.ndarray, labels: np.ndarray, per_class: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes, cut to ``per_class`` samples each when balancing (None: all)."""
    images, labels = first_classes(images, labels)
    if len(images) == 0:
        raise TransferError(f"no samples of the first {N_CLASSES} classes")
    return balanced_subset(images, labels, per_class) if per_class is not None else (images, labels)


def holdout(images: np.ndarray, labels: np.ndarray, fraction: float) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None]:
    """(train, validation) tensors, the last ``fraction`` held out as Keras' validation_split does."""
    if not 0 <= fraction < 1:
        raise TransferError(f"validation_fraction must be in [0, 1), got {fraction}")
    inputs, targets = images_to_tensor(images), torch.from_numpy(np.asarray(labels, dtype=np.int64))
    n_validation = int(round(len(inputs) * fraction))
    if n_validation == 0:
        return (inputs, targets), None
    if n_validation >= len(inputs):
        raise TransferError(f"validation_fraction {fraction} leaves no training samples out of {len(inputs)}")
    cut = len(inputs) - n_validation
    return (inputs[:cut], targets[:cut]), (inputs[cut:], targets[cut:])


def load_labels(path: Path | str) -> np.ndarray:
    with np.load(path) as archive:
        return archive["labels"]


def training_per_class(train_paths: Mapping[str, Path | str], balance: bool) -> int | None:
    """Per-class training count shared by all datasets when balancing, else None (all)."""
    if not balance:
        return None
    return common_per_class({code: load_labels(path) for code, path in train_paths.items()})


def load_classifier_split(path: Path | str, per_class: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A split's samples of the ten classes, optionally cut to ``per_class`` each."""
    from simex.data.acquire import load_split

    images, labels = load_split(path)
    try:
        return classifier_data(images, labels, per_class)
    except TransferError as err:
        raise TransferError(f"{path}: {err}") from None


# --- training --------------------------------------------------------------------------


@dataclass(frozen=True)
class StageSettings:
    """One training stage (base or transfer) of the baseline, from the config."""

    config: TrainConfig
    validation_fraction: float


def stage_settings(section: Mapping[str, Any], seed: int) -> StageSettings:
    from simex.settings import train_config

    return StageSettings(train_config(section, seed), float(section["validation_fraction"]))


@torch.inference_mode()
def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, device: torch.device, batch_size: int = 1024) -> float:
    """Fraction of ``images`` whose predicted class is the label."""
    if len(images) == 0:
        raise TransferError("cannot measure accuracy on an empty test set")
    model.eval().to(device)
    inputs = images_to_tensor(images)
    predicted = torch.cat([model(inputs[s : s + batch_size].to(device)).argmax(1).cpu()
                           for s in range(0, len(inputs), batch_size)])
    return float((predicted.numpy() == np.asarray(labels)).mean())


def fit(model: LeNet5Classifier, images: np.ndarray, labels: np.ndarray, settings: StageSettings,
        device: torch.device, parameters: list[nn.Parameter] | None = None) -> TrainResult:
    training, validation = holdout(images, labels, settings.validation_fraction)
    return train(model, classifier_batch_loss, training, settings.config, device,
                 validation=validation, parameters=parameters)


def train_base_classifier(images: np.ndarray, labels: np.ndarray, settings: StageSettings,
                          device: torch.device) -> tuple[LeNet5Classifier, TrainResult]:
    """B(Y): LeNet-5 trained from scratch on ten classes of Y."""
    seed_everything(settings.config.seed)
    model = LeNet5Classifier(N_CLASSES)
    result = fit(model, images, labels, settings, device)
    return model.eval(), result


def freeze_convolutions(model: LeNet5Classifier) -> list[nn.Parameter]:
    """Stop gradients to the convolutions; returns the FC parameters left to train."""
    for parameter in model.features.parameters():
        parameter.requires_grad_(False)
    return list(model.classifier.parameters())


def reset_fc(model: LeNet5Classifier) -> None:
    for layer in model.classifier:
        if isinstance(layer, nn.Linear):
            layer.reset_parameters()


def transfer_classifier(base: LeNet5Classifier, images: np.ndarray, labels: np.ndarray, settings: StageSettings,
                        device: torch.device, reinitialize_fc: bool = False) -> tuple[LeNet5Classifier, TrainResult]:
    """A copy of ``base`` with frozen convolutions and its FC layers retrained on X.

    The FC layers start from the base network's weights (``reinitialize_fc``: from a
    fresh initialisation); ``base`` itself is left untouched.
    """
    seed_everything(settings.config.seed)
    model = copy.deepcopy(base).cpu()
    fc_parameters = freeze_convolutions(model)
    if reinitialize_fc:
        reset_fc(model)
    result = fit(model, images, labels, settings, device, parameters=fc_parameters)
    return model.eval(), result


def stage_summary(result: TrainResult) -> dict[str, Any]:
    """What the latency experiment needs: epochs run, best epoch, time to reach it."""
    best = next((r for r in result.history if r.epoch == result.best_epoch), result.history[-1])
    return {
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "elapsed_to_best_s": best.elapsed_s,
        "elapsed_total_s": result.history[-1].elapsed_s,
        "history": [asdict(record) for record in result.history],
    }


def transfer_all(base: LeNet5Classifier, base_code: str, targets: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                 section: Mapping[str, Any], seeds: Mapping[str, int], device: torch.device,
                 reinitialize_fc: bool = False) -> dict[str, dict[str, Any]]:
    """Transfer ``base`` to every target X: (train images, labels, test images, labels) each.

    Returns per target its accuracy on X's test split and the training summary.
    """
    results = {}
    for code, (train_images, train_labels, test_images, test_labels) in targets.items():
        if code == base_code:
            raise TransferError(f"base dataset {base_code} is not a transfer target")
        settings = stage_settings(section, seeds[code])
        model, result = transfer_classifier(base, train_images, train_labels, settings, device, reinitialize_fc)
        results[code] = {"accuracy": accuracy(model, test_images, test_labels, device), "n_train": int(len(train_images)),
                         "n_test": int(len(test_images)), "training": asdict(settings.config),
                         "validation_fraction": settings.validation_fraction, **stage_summary(result)}
        log.info("B(%s) -> %s: accuracy %.4f after %d epochs (best %d, %.2fs to best)", base_code, code,
                 results[code]["accuracy"], results[code]["epochs_run"], results[code]["best_epoch"],
                 results[code]["elapsed_to_best_s"])
    return results


# --- saving ----------------------------------------------------------------------------


# --- tables ----------------------------------------------------------------------------


def accuracy_matrix(records: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str]) -> pd.DataFrame:
    """Raw accuracies, rows base Y, columns X (display labels); the diagonal is B(Y) on Y.

    ``records``: per base code, the transfer job's record: ``base_accuracy`` and
    ``targets`` {X code: {"accuracy": ...}}.
    """
    codes = list(labels)
    rows = {}
    for base in codes:
        if base not in records:
            raise TransferError(f"no transfer record for base dataset {base}")
        record = records[base]
        row = {}
        for target in codes:
            if target == base:
                row[target] = float(record["base_accuracy"])
            elif target in record.get("targets", {}):
                row[target] = float(record["targets"][target]["accuracy"])
            else:
                raise TransferError(f"base dataset {base}: no transfer to {target} in its record")
        rows[base] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")[codes]
    frame = frame.rename(index=dict(labels), columns=dict(labels))
    frame.index.name, frame.columns.name = "base classifier B(Y)", "retrained on X"
    return frame


def normalised_accuracy(raw: pd.DataFrame) -> pd.DataFrame:
    """Each row divided by the base network's own accuracy (its diagonal entry)."""
    diagonal = pd.Series(np.diag(raw.to_numpy(dtype=float)), index=raw.index)
    if (diagonal <= 0).any():
        raise TransferError(f"base accuracy of zero for {list(diagonal[diagonal <= 0].index)}: cannot normalise")
    return raw.div(diagonal, axis=0)


def align(delta: pd.DataFrame, accuracy: pd.DataFrame) -> pd.DataFrame:
    """``accuracy`` with the rows and columns of ``delta`` (both in display labels)."""
    if set(delta.index) != set(accuracy.index) or set(delta.columns) != set(accuracy.columns):
        raise TransferError(f"Δ table ({list(delta.index)} x {list(delta.columns)}) and accuracy matrix "
                            f"({list(accuracy.index)} x {list(accuracy.columns)}) cover different datasets")
    return accuracy.loc[delta.index, delta.columns]


def spearman_rows(deltas: Mapping[str, pd.DataFrame], accuracy: pd.DataFrame) -> pd.DataFrame:
    """ρ per loss (rows) and base dataset (columns): Δ(X|Y) ascending vs accuracy descending."""
    rows = {}
    for loss, delta in deltas.items():
        rows[loss] = rowwise_rho(delta, "ascending", align(delta, accuracy), "descending")
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "loss"
    return frame


def table1(rho: pd.DataFrame, paper: Mapping[str, Mapping[str, float]] = PAPER_TABLE1) -> pd.DataFrame:
    """Ours beside the paper's per base dataset, then the mean of each row.

    Columns: ``<label>`` (ours, display label with provenance marker) and
    ``<code> (paper)``, per base in ``rho``'s order, then ``mean`` and ``mean (paper)``.
    """
    table = pd.DataFrame(index=rho.index)
    paper_means = {}
    for label in rho.columns:
        code = code_of(label)
        table[label] = rho[label]
        table[f"{code} (paper)"] = [paper.get(loss, {}).get(code, np.nan) for loss in rho.index]
    table["mean"] = rho.mean(axis=1)
    for loss in rho.index:
        values = [paper.get(loss, {}).get(code_of(label), np.nan) for label in rho.columns]
        paper_means[loss] = float(np.mean(values))
    table["mean (paper)"] = pd.Series(paper_means)
    table.index.name = "loss"
    return table


def table1_markdown(table: pd.DataFrame) -> str:
    """Table 1 for the README: one row per loss; ours beside the paper's per base dataset."""
    lines = ["| Base dataset | " + " | ".join(table.columns) + " |", "|---|" + "---:|" * table.shape[1]]
    for loss, row in table.iterrows():
        lines.append(f"| ρ, SimEx {LOSS_NAMES.get(loss, loss)} | " + " | ".join(_fmt(v) for v in row) + " |")
    title = "Table 1: Spearman's ρ between SimEx-predicted orders (Δ ascending) and retrained accuracy orders"
    notes = legend_lines(table.columns)
    return "\n".join([title, "", *lines, *([""] + notes if notes else [])]) + "\n"


def matrix_markdown(frame: pd.DataFrame, title: str, value_format: str = "{:.3f}") -> str:
    corner = f"{frame.index.name or ''} \\ {frame.columns.name or ''}".strip()
    lines = ["| " + " | ".join([corner, *map(str, frame.columns)]) + " |", "|" + "---|" * (frame.shape[1] + 1)]
    for label, row in frame.iterrows():
        lines.append("| " + " | ".join([str(label), *(value_format.format(v) for v in row)]) + " |")
    notes = legend_lines([*frame.index, *frame.columns])
    return "\n".join([title, "", *lines, *([""] + notes if notes else [])]) + "\n"


def _fmt(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.2f}"


def normalized_delta(delta: pd.DataFrame, norms: Mapping[str, float]) -> pd.DataFrame:
    """§5.3: Δ(X|Y) divided by the dataset-wide mean L2 norm of Y's samples (per row)."""
    missing = [label for label in delta.index if label not in norms]
    if missing:
        raise TransferError(f"no mean L2 norm for {missing}")
    divisor = pd.Series({label: float(norms[label]) for label in delta.index})
    if (divisor <= 0).any():
        raise TransferError(f"mean L2 norm must be positive, got {divisor.to_dict()}")
    return delta.div(divisor, axis=0)


def column_order(frame: pd.DataFrame, column: str) -> list[str]:
    """Rows ordered by one column, ascending (e.g. Y by Δ(M|Y) after normalisation)."""
    return list(frame[column].sort_values(kind="stable").index)


def paper_order_note(normalised: pd.DataFrame, labels: Sequence[str]) -> str:
    """The §5.3 observation on X = M: our post-normalisation order of Y beside the paper's."""
    mnist = next((label for label in labels if code_of(label) == "M"), None)
    if mnist is None or mnist not in normalised.columns:
        return ""
    ours = " < ".join(f"Δ({mnist}|{y})" for y in column_order(normalised, mnist))
    return f"Post-normalisation order for X = M: ours {ours}; paper Δ(M|M) < Δ(M|B) < Δ(M|R) < Δ(M|E) < Δ(M|F)."
