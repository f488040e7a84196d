"""§5.1's baseline: transfer learning from LeNet-5 base classifiers (Fig. 4c, Table 1).

A base classifier B(Y) is trained from scratch on each dataset Y, restricted to ten
classes (EMNIST-Letters: its first ten, a–j). For every other dataset X, a copy of B(Y)
has its convolutions frozen and its fully connected layers retrained on X; its accuracy
on X's test split, divided by B(Y)'s accuracy on Y's own test split, is the normalised
transferred accuracy of Fig. 4c. Table 1 is Spearman's ρ, per base dataset, between
the ordering of the datasets by Δ(X|Y) (ascending) and by that accuracy (descending).

The paper leaves three choices open; a :class:`TransferProtocol` makes each explicit:
how many samples per class of X retrain the classifier (all, or n: §3.1's "learn a new
classifier ... from small number of samples"), whether the retrained FC layers start
from B(Y)'s weights or afresh, and whether the first FC layer is frozen with the
convolutions. Frozen layers are deterministic (no dropout or batch statistics), so
:func:`transfer_on_features` runs them once per sample and trains only the layers
above: the same optimisation as :func:`transfer_classifier`, which runs the whole
network every step as Keras' ``fit`` does (the latency experiment times that one).

Balancing: every dataset's classifier split holds the same number of samples per class
(simex.data.acquire.classifier_split; E's ten classes included), so no dataset
transfers better merely by having more samples. Test splits are class-balanced; all
their samples are used.

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

from simex.base.datasets import code_of, legend_lines
from simex.models.fused import fused_mlp, load_member, stack_mlps
from simex.training.fused import train_fused, train_fused_classifiers
from simex.inference.evaluate import accuracy, map_images
from simex.models.networks import LeNet5Classifier
from simex.config import FROZEN_FC_MODULES, Frozen, Training, TransferProtocol
from simex.analysis.stats import ordering_rho, rowwise_rho
from simex.training.loop import (TrainConfig, TrainResult, classifier_batch_loss, images_to_tensor, seed_everything, train,
                            train_config)
from simex.analysis.tables import frame_markdown, markdown_document, markdown_table
from simex.base.errors import SimexError

log = logging.getLogger(__name__)

N_CLASSES = 10
ARCHITECTURE = "lenet5-classifier"
# simex.base.artifacts.load_classifier builders: B(Y) and its transfers are LeNet-5 classifiers
BASE_CLASSIFIER = {ARCHITECTURE: LeNet5Classifier}

# Table 1 of the paper: ρ per base dataset, SimEx with MSE and with iSSIM.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "mse": {"M": 0.9, "E": 1.0, "R": 1.0, "B": 0.6, "F": 0.7},
    "issim": {"M": 0.9, "E": 1.0, "R": 0.9, "B": 0.9, "F": 0.9},
}
LOSS_NAMES = {"mse": "MSE", "issim": "iSSIM"}


class TransferError(SimexError, ValueError):
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


def subset_per_class(images: np.ndarray, labels: np.ndarray, per_class: int | None,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` random samples of each class in the split's order (None: all samples)."""
    if per_class is None:
        return images, labels
    chosen = []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        if len(index) < per_class:
            raise TransferError(f"class {label} has {len(index)} samples, fewer than the {per_class} asked for")
        chosen.append(rng.choice(index, size=per_class, replace=False))
    keep = np.sort(np.concatenate(chosen))
    return images[keep], labels[keep]


def holdout(inputs: torch.Tensor, labels: np.ndarray, fraction: float) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None]:
    """(train, validation) tensors, the last ``fraction`` held out as Keras' validation_split does."""
    if not 0 <= fraction < 1:
        raise TransferError(f"validation_fraction must be in [0, 1), got {fraction}")
    targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    n_validation = int(round(len(inputs) * fraction))
    if n_validation == 0:
        return (inputs, targets), None
    if n_validation >= len(inputs):
        raise TransferError(f"validation_fraction {fraction} leaves no training samples out of {len(inputs)}")
    cut = len(inputs) - n_validation
    return (inputs[:cut], targets[:cut]), (inputs[cut:], targets[cut:])


def stratified_holdout(labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: of each class, the last round(count·fraction) samples held out."""
    if not 0 < fraction < 1:
        raise TransferError(f"validation_fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    train_index, validation_index = [], []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        held = int(round(len(index) * fraction))
        if held < 1 or held >= len(index):
            raise TransferError(f"class {label}: validation_fraction {fraction} of {len(index)} samples leaves "
                                f"{held} for validation; need at least one on each side")
        train_index.append(index[: len(index) - held])
        validation_index.append(index[len(index) - held :])
    return np.sort(np.concatenate(train_index)), np.sort(np.concatenate(validation_index))


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


def stage_settings(section: Training, seed: int) -> StageSettings:
    """``classifier.base`` or ``classifier.transfer`` with a seed."""
    return StageSettings(train_config(section, seed), float(section.validation_fraction))


def fit(model: LeNet5Classifier, images: np.ndarray, labels: np.ndarray, settings: StageSettings,
        device: torch.device, parameters: list[nn.Parameter] | None = None, stratified: bool = False) -> TrainResult:
    """``model`` trained with early stopping on a held-out split: the last ``validation_fraction``
    of the samples (Keras' validation_split), or with ``stratified`` the last of each class."""
    inputs = images_to_tensor(images)
    if stratified:
        train_index, validation_index = stratified_holdout(labels, settings.validation_fraction)
        targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        training, validation = ((inputs[train_index], targets[train_index]),
                                (inputs[validation_index], targets[validation_index]))
    else:
        training, validation = holdout(inputs, labels, settings.validation_fraction)
    return train(model, classifier_batch_loss, training, settings.config, device,
                 validation=validation, parameters=parameters)


def train_base_classifier(images: np.ndarray, labels: np.ndarray, settings: StageSettings,
                          device: torch.device, stratified: bool = False) -> tuple[LeNet5Classifier, TrainResult]:
    """B(Y): LeNet-5 trained from scratch on ten classes of Y (the hold-out: :func:`fit`)."""
    seed_everything(settings.config.seed)
    model = LeNet5Classifier(N_CLASSES)
    result = fit(model, images, labels, settings, device, stratified=stratified)
    return model.eval(), result


def train_base_classifiers(data: Sequence[tuple[np.ndarray, np.ndarray]], settings: Sequence[StageSettings],
                           device: torch.device, graph: bool | None = None,
                           ) -> list[tuple[LeNet5Classifier, TrainResult]]:
    """Several B(Y) trained as one fused model (simex.training.fused), each equal (up to
    float rounding) to :func:`train_base_classifier` with its own data and settings alone."""
    models = []
    for member in settings:
        seed_everything(member.config.seed)  # the initial weights follow from the seed alone, as alone
        models.append(LeNet5Classifier(N_CLASSES))
    splits = [holdout(images_to_tensor(images), labels, member.validation_fraction)
              for (images, labels), member in zip(data, settings)]
    results = train_fused_classifiers(models, [training for training, _ in splits], [member.config for member in settings],
                                device, validation=[validation for _, validation in splits], graph=graph)
    return list(zip(models, results))


def frozen_and_trained(model: LeNet5Classifier, frozen: Frozen) -> tuple[nn.Sequential, nn.Sequential]:
    """``model`` cut into the layers kept from the base and the FC layers retrained (shared modules)."""
    cut = FROZEN_FC_MODULES[frozen]
    return nn.Sequential(model.features, *model.classifier[:cut]), nn.Sequential(*model.classifier[cut:])


def prepare_transfer(base: LeNet5Classifier, reinitialize_fc: bool, frozen: Frozen,
                     seed: int) -> tuple[LeNet5Classifier, nn.Sequential, nn.Sequential]:
    """A copy of ``base``, its frozen layers' gradients off and, if asked, fresh FC layers above them."""
    seed_everything(seed)
    model = copy.deepcopy(base).cpu()
    kept, retrained = frozen_and_trained(model, frozen)
    for parameter in kept.parameters():
        parameter.requires_grad_(False)
    if reinitialize_fc:
        for layer in retrained:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
    return model, kept, retrained


def transfer_classifier(base: LeNet5Classifier, images: np.ndarray, labels: np.ndarray, settings: StageSettings,
                        device: torch.device, reinitialize_fc: bool = False, frozen: Frozen = "conv",
                        ) -> tuple[LeNet5Classifier, TrainResult]:
    """B(Y) retrained on X as Keras' ``fit`` would: the whole network runs at every step.

    ``base`` itself is left untouched.
    """
    model, _, retrained = prepare_transfer(base, reinitialize_fc, frozen, settings.config.seed)
    result = fit(model, images, labels, settings, device, parameters=list(retrained.parameters()))
    return model.eval(), result


@torch.inference_mode()
def embed(layers: nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 1024) -> torch.Tensor:
    """The outputs of ``layers`` for every image, on the CPU."""
    layers.eval().to(device)
    return map_images(layers, images, device, batch_size).cpu()


def transfer_on_features(base: LeNet5Classifier, images: np.ndarray, labels: np.ndarray, settings: StageSettings,
                         device: torch.device, protocol: TransferProtocol) -> tuple[LeNet5Classifier, TrainResult]:
    """:func:`transfer_classifier`'s result, the frozen layers run once per sample instead of every step.

    ``images`` are all the samples to retrain on (``protocol.samples_per_class`` is the
    caller's cut).
    """
    model, kept, retrained = prepare_transfer(base, protocol.fc_init == "reinit", protocol.frozen, settings.config.seed)
    training, validation = holdout(embed(kept, images, device), labels, settings.validation_fraction)
    result = train(retrained, classifier_batch_loss, training, settings.config, device, validation=validation)
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


def fused_mlp_losses(params: Mapping[str, torch.Tensor], inputs: torch.Tensor,
                      labels: torch.Tensor | None) -> torch.Tensor:
    """Every member's per-sample cross-entropy from one pass of the fused FC layers, (B, K)."""
    logits = fused_mlp(params, inputs)
    return nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)


def transfers_on_features(pairs: Sequence[tuple[LeNet5Classifier, np.ndarray, np.ndarray, StageSettings]],
                          device: torch.device, protocol: TransferProtocol, graph: bool | None = None,
                          ) -> list[tuple[LeNet5Classifier, TrainResult]]:
    """:func:`transfer_on_features` for several (base, images, labels, settings), their
    retrained FC layers trained as one fused model: each equal, up to float rounding, to
    its transfer alone."""
    prepared = [prepare_transfer(base, protocol.fc_init == "reinit", protocol.frozen, settings.config.seed)
                for base, _, _, settings in pairs]
    splits = [holdout(embed(kept, images, device), labels, settings.validation_fraction)
              for (_, kept, _), (_, images, labels, settings) in zip(prepared, pairs)]
    retrained = [layers for _, _, layers in prepared]
    results, trained = train_fused(stack_mlps(retrained), fused_mlp_losses, [training[0] for training, _ in splits],
                                    [training[1] for training, _ in splits], [settings.config for *_, settings in pairs],
                                    device, validation=[validation for _, validation in splits], graph=graph)
    for k, layers in enumerate(retrained):
        load_member(layers, trained, k)
    return [(model.to(device).eval(), result) for (model, _, _), result in zip(prepared, results)]


def transfer_all(bases: Mapping[str, LeNet5Classifier],
                 targets: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                 section: Training, seeds: Mapping[tuple[str, str], int], subset_seeds: Mapping[str, int],
                 protocol: TransferProtocol, device: torch.device) -> dict[str, dict[str, dict[str, Any]]]:
    """Transfer every base B(Y) to every other target X: (train images, labels, test images, labels) each.

    ``seeds[Y, X]`` seeds the transfer; ``subset_seeds`` draws the
    ``protocol.samples_per_class`` samples of each X, the same for every base, so that all
    of them retrain on the same samples of X. All transfers train as one fused model.
    Returns per base and target its accuracy on X's test split and the training summary.
    """
    subsets = {code: subset_per_class(train_images, train_labels, protocol.samples_per_class,
                                      np.random.default_rng(subset_seeds[code]))
               for code, (train_images, train_labels, _, _) in targets.items()}
    pairs = [(base_code, code) for base_code in bases for code in targets if code != base_code]
    settings = {pair: stage_settings(section, seeds[pair]) for pair in pairs}
    trained = transfers_on_features([(bases[y], *subsets[x], settings[y, x]) for y, x in pairs], device, protocol)
    results: dict[str, dict[str, dict[str, Any]]] = {code: {} for code in bases}
    for (base_code, code), (model, result) in zip(pairs, trained):
        _, _, test_images, test_labels = targets[code]
        record = results[base_code][code] = {
            "accuracy": accuracy(model, test_images, test_labels, device), "n_train": int(len(subsets[code][0])),
            "n_test": int(len(test_images)), "training": asdict(settings[base_code, code].config),
            "validation_fraction": settings[base_code, code].validation_fraction, **stage_summary(result)}
        log.info("%s: B(%s) -> %s: accuracy %.4f after %d epochs (best %d)", protocol.name, base_code, code,
                 record["accuracy"], record["epochs_run"], record["best_epoch"])
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


def spearman_rows(deltas: Mapping[str, pd.DataFrame], accuracy: pd.DataFrame, with_self: bool = True) -> pd.DataFrame:
    """ρ per loss (rows) and base dataset (columns): Δ(X|Y) ascending vs accuracy descending.

    ``with_self``: the paper's Table 1 ranks Y itself among the targets; without it, each
    row orders the other datasets only (see :func:`table1_chance`).
    """
    rows = {}
    for loss, delta in deltas.items():
        rows[loss] = rowwise_rho(delta, "ascending", align(delta, accuracy), "descending", exclude_diagonal=not with_self)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "loss"
    return frame


def per_target_view(delta: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """§2's question, "which known dataset to transfer from", for each new dataset X.

    X itself is left out (a new dataset is not in the library): over the other datasets
    Y, ρ between the order by Δ(X|Y) (ascending) and by the raw accuracy of B(Y)
    retrained on X (descending: what the transfer would deliver, so not normalised by
    B(Y)'s own accuracy), and whether SimEx's first pick transfers best (ties count as
    best). ρ is NaN when every B(Y) reaches the same accuracy on X.
    """
    accuracy = align(delta, raw)
    rows = {}
    for target in delta.columns:
        others = [y for y in delta.index if y != target]
        losses, accuracies = delta.loc[others, target], accuracy.loc[others, target]
        pick = losses.idxmin()
        constant = accuracies.nunique() < 2
        rows[target] = {
            "rho": np.nan if constant else ordering_rho(losses.to_numpy(), "ascending", accuracies.to_numpy(), "descending"),
            "top1_agrees": bool(accuracies[pick] >= accuracies.max()),
            "simex_pick": pick,
            "best_base": accuracies.idxmax(),
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "new dataset X"
    return frame


def variance_shares(raw: pd.DataFrame) -> dict[str, float]:
    """How much of the off-diagonal accuracies' variance the source B(Y) and the target X explain.

    Two-way additive least-squares fit acc(Y→X) ≈ μ + s_Y + t_X over the transfers Y ≠ X;
    each share is the sum of squares of one fitted component over the 20 transfers
    (``source``: s_Y, ``target``: t_X, ``residual``: what the additive fit leaves, the
    interaction) divided by the total. With the diagonal missing the two effects are
    almost but not exactly orthogonal, so the shares sum to about 1. A baseline that
    measures similarity has a large source share (and residual: which source suits which
    target); one that measures how hard each target is has a large target share.
    """
    values = raw.to_numpy(dtype=float)
    n = len(values)
    if values.shape != (n, n) or n < 3:
        raise TransferError(f"need a square accuracy matrix of 3+ datasets, got {values.shape}")
    sources, targets = np.nonzero(~np.eye(n, dtype=bool))
    y = values[sources, targets]
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return {"source": np.nan, "target": np.nan, "residual": np.nan}
    design = np.column_stack([np.ones_like(y), np.eye(n)[sources], np.eye(n)[targets]])
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    components = {"source": coefficients[1 : n + 1][sources], "target": coefficients[n + 1 :][targets],
                  "residual": y - design @ coefficients}
    return {name: float(((part - part.mean()) ** 2).sum()) / total for name, part in components.items()}


def over_replicates(values: Sequence[float]) -> dict[str, float]:
    """Mean and range (min–max) over seed replicates; NaNs (undefined ρ) left out and counted."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if len(finite) == 0:
        return {"mean": np.nan, "min": np.nan, "max": np.nan, "n": 0}
    return {"mean": float(finite.mean()), "min": float(finite.min()), "max": float(finite.max()), "n": int(len(finite))}


def replicate_matrices(records: Sequence[Mapping[str, Any]], protocol: str) -> list[pd.DataFrame]:
    """Raw accuracy matrices of one protocol, one per seed replicate's transfer record."""
    matrices = []
    for record in records:
        if protocol not in record["protocols"]:
            raise TransferError(f"seed {record.get('seed')}: no transfers under protocol {protocol!r}")
        matrices.append(accuracy_matrix(record["protocols"][protocol]["bases"], record["labels"]))
    return matrices


def mean_matrix(matrices: Sequence[pd.DataFrame]) -> pd.DataFrame:
    mean = sum(matrices[1:], matrices[0]) / len(matrices)
    mean.index.name, mean.columns.name = matrices[0].index.name, matrices[0].columns.name
    return mean


def table1_chance(self_entry: str, n_datasets: int) -> float:
    """Expected ρ of a random order against the truth, Table 1's chance level.

    Without Y itself: 0. With it, when both orders put Y first (its own Δ smallest, its
    normalised accuracy 1 the largest): the other n − 1 share the same rank differences,
    so 1 − ρ_with = (1 − ρ_without)(n − 2)/(n + 1), and a random order scores 3/(n + 1):
    0.5 for the paper's five datasets, where ρ_with = 0.5 + 0.5 ρ_without.
    """
    return 3.0 / (n_datasets + 1) if self_entry == "with" else 0.0


def table1(deltas: Mapping[str, pd.DataFrame], raws: Mapping[str, Sequence[pd.DataFrame]],
           paper: Mapping[str, Mapping[str, float]] = PAPER_TABLE1) -> pd.DataFrame:
    """Table 1 per protocol (reading), loss and base dataset, over seed replicates, beside the paper's.

    ``raws``: per protocol, one raw accuracy matrix per replicate. Long form: one row per
    (protocol, self entry, loss, base) with ρ's mean, min and max over replicates, the
    chance level and the paper's ρ; base ``mean`` is the mean over bases (per replicate,
    then over replicates). ``self_entry`` ``with`` is the paper's Table 1 (Y ranked among
    its own targets); ``without`` orders the other datasets only, and its paper value is
    the one implied by the paper's, 2ρ − 1, which holds when both orders put Y first.
    """
    rows = []
    for protocol, matrices in raws.items():
        for self_entry, with_self in (("with", True), ("without", False)):
            rhos = [spearman_rows(deltas, normalised_accuracy(raw), with_self) for raw in matrices]
            for loss in deltas:
                per_replicate = pd.DataFrame([rho.loc[loss] for rho in rhos])
                per_replicate["mean"] = per_replicate.mean(axis=1)
                for label in per_replicate.columns:
                    code = "mean" if label == "mean" else code_of(label)
                    paper_value = (float(np.mean(list(paper[loss].values()))) if code == "mean" else paper[loss].get(code, np.nan)) \
                        if loss in paper else np.nan
                    if not with_self:  # the paper's five datasets: ρ_with = 0.5 + 0.5 ρ_without (table1_chance)
                        paper_value = 2.0 * paper_value - 1.0
                    rows.append({"protocol": protocol, "self_entry": self_entry, "loss": loss, "base": label,
                                 **_summary(per_replicate[label]), "chance": table1_chance(self_entry, len(per_replicate.columns) - 1),
                                 "paper": paper_value})
    return pd.DataFrame(rows)


def _summary(values: pd.Series) -> dict[str, float]:
    summary = over_replicates(values.to_numpy())
    return {"rho": summary["mean"], "rho_min": summary["min"], "rho_max": summary["max"], "replicates": len(values)}


def table1_markdown(table: pd.DataFrame, protocols: Mapping[str, str]) -> str:
    """Table 1 for the README: per protocol and loss, ours (mean [min, max] over seeds) beside the paper's."""
    bases = list(dict.fromkeys(table["base"]))
    header = ["Protocol", "Y itself", "chance", "ρ, SimEx",
              *(cell for b in bases for cell in (b, f"{'mean' if b == 'mean' else code_of(b)} (paper)"))]
    rows = []
    for (protocol, self_entry, loss), part in table.groupby(["protocol", "self_entry", "loss"], sort=False):
        part = part.set_index("base")
        rows.append([protocol, self_entry, _fmt(part["chance"].iloc[0]), LOSS_NAMES.get(loss, loss),
                     *(cell for b in bases for cell in (_ranged(part.loc[b]), _fmt(part.loc[b, "paper"])))])
    replicates = int(table["replicates"].max())
    title = "Table 1: Spearman's ρ between SimEx-predicted orders (Δ ascending) and retrained accuracy orders"
    notes = [f"Ours: mean [min, max] over {replicates} seed replicates of the transfer baseline (the autoencoders "
             "are not replicated). Protocols: " + "; ".join(f"{name}: {text}" for name, text in protocols.items()) + ".",
             "Y itself: `with` ranks the base's own dataset among its targets, as the paper's Table 1 does; both "
             "orders put it first, so a random order of the others scores 3/(n + 1), 0.5 for five datasets (the chance column). `without` orders "
             "the other datasets only (chance 0); its paper column is the value the paper's ρ implies, 2ρ − 1.",
             *legend_lines(bases)]
    return markdown_document(title, markdown_table(header, rows, "llrl" + "r" * (2 * len(bases))), notes)


def _ranged(row: pd.Series) -> str:
    if pd.isna(row["rho"]):
        return "–"
    return f"{row['rho']:.2f} [{row['rho_min']:.2f}, {row['rho_max']:.2f}]"


def per_target_table(deltas: Mapping[str, pd.DataFrame], raws: Mapping[str, Sequence[pd.DataFrame]]) -> pd.DataFrame:
    """The per-target view (:func:`per_target_view`) per protocol, loss and new dataset X, over replicates.

    Per row: ρ's mean, min and max over replicates; in how many replicates SimEx's first
    pick transfers best; SimEx's pick and the base that transferred best most often.
    Row X = ``mean`` summarises the targets: mean ρ over them, and the top-1 agreements
    out of the targets (mean, min and max over replicates).
    """
    rows = []
    for protocol, matrices in raws.items():
        for loss, delta in deltas.items():
            views = [per_target_view(delta, raw) for raw in matrices]
            for target in delta.columns:
                best = pd.Series([view.loc[target, "best_base"] for view in views]).mode().iloc[0]
                rows.append({"protocol": protocol, "loss": loss, "target": target,
                             **_summary(pd.Series([view.loc[target, "rho"] for view in views])),
                             "top1_agrees": int(sum(view.loc[target, "top1_agrees"] for view in views)),
                             "simex_pick": views[0].loc[target, "simex_pick"], "best_base": best})
            agreements = over_replicates([view["top1_agrees"].sum() for view in views])
            rows.append({"protocol": protocol, "loss": loss, "target": "mean",
                         **_summary(pd.Series([view["rho"].mean() for view in views])),
                         "top1_agrees": agreements["mean"], "top1_min": agreements["min"], "top1_max": agreements["max"],
                         "simex_pick": "", "best_base": ""})
    return pd.DataFrame(rows)


def per_target_markdown(table: pd.DataFrame) -> str:
    """The per-target view for the README: per protocol and loss, one column per new dataset X."""
    targets = [t for t in dict.fromkeys(table["target"]) if t != "mean"]
    replicates = int(table["replicates"].max())
    header = ["Protocol", "SimEx", *targets, "mean ρ", f"top-1 agrees (of {len(targets)})"]
    rows = []
    for (protocol, loss), part in table.groupby(["protocol", "loss"], sort=False):
        part = part.set_index("target")
        cells = [f"{_ranged(part.loc[t])}; {part.loc[t, 'simex_pick']}→{part.loc[t, 'best_base']} "
                 f"({int(part.loc[t, 'top1_agrees'])}/{replicates})" for t in targets]
        summary = part.loc["mean"]
        rows.append([protocol, LOSS_NAMES.get(loss, loss), *cells, _ranged(summary),
                     f"{summary['top1_agrees']:.1f} [{summary['top1_min']:.0f}, {summary['top1_max']:.0f}]"])
    title = "Which known dataset to transfer from: per new dataset X (X left out of the library)"
    notes = [f"Per X: ρ between Δ(X|Y) and B(Y)'s raw accuracy retrained on X over the four other Y, mean [min, max] "
             f"over {replicates} seed replicates; then SimEx's pick → the base that transferred best (most often), and "
             f"in how many replicates they agree. Last columns: mean ρ over X, and the targets whose top-1 agrees "
             f"(mean [min, max] over replicates).", *legend_lines(targets)]
    return markdown_document(title, markdown_table(header, rows, "ll" + "r" * (len(targets) + 2)), notes)


def matrix_markdown(frame: pd.DataFrame, title: str, value_format: str = "{:.3f}") -> str:
    corner = f"{frame.index.name or ''} \\ {frame.columns.name or ''}".strip()
    table = frame_markdown(frame, value_format.format, corner)
    return markdown_document(title, table, legend_lines([*frame.index, *frame.columns]))


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
