"""The augmentation experiment of §5.3 (Fig. 7).

A 10-class LeNet-5 is trained on n(c_M) MNIST samples per class plus n(c_Y) samples
borrowed from the reference class k paired with each MNIST class i (labelled i), and
tested on the MNIST test samples. Every combination of n(c_M), n(c_Y), reference dataset
Y and pairing method is run for several seeded trials; the runs without borrowing are the
reference.

Design choices (the paper does not state them):

- Common random numbers: in trial t the MNIST samples of class i are the first n(c_M) of
  one fixed permutation of that class, and the samples borrowed from class k the first
  n(c_Y) of one fixed permutation of k. Methods, grid points and Y share them, so the
  accuracy differences come from the pairings (and the grid), not from sampling noise;
  methods that chose identical pairings train identical sets, which are trained once.
- Borrowed samples come from Y's prepared train split (the samples the per-class
  autoencoders were trained on). For R, B and E* the raw pool is no larger (they are
  regenerated / rendered at data.samples_per_dataset), so n(c_Y) is capped by the split:
  a grid point above it is a configuration error, reported before any training.
- Training length: at least ``epochs`` epochs and at least ``min_updates`` optimizer
  steps, so the smallest training sets (10 samples a class) are not starved of updates
  while the larger ones still see every sample ``epochs`` times.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from simex.augmentation_grid import Grid, grid_problems, train_per_class  # noqa: F401 (part of this module's API)
from simex.models import LeNet5Classifier
from simex.settings import derived_seed
from simex.training import TrainConfig, classifier_batch_loss, images_to_tensor, train

log = logging.getLogger(__name__)

NO_BORROWING = "none"
MNIST_SOURCE, REFERENCE_SOURCE = 0, 1


class AugmentationConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ClassifierSettings:
    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    min_updates: int = 0

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> "ClassifierSettings":
        return cls(section["optimizer"], float(section["lr"]), int(section["epochs"]), int(section["batch_size"]),
                   int(section["min_updates"]))

    def epochs_for(self, n_train: int) -> int:
        steps_per_epoch = math.ceil(n_train / self.batch_size)
        return max(self.epochs, math.ceil(self.min_updates / steps_per_epoch))

    def train_config(self, n_train: int, seed: int) -> TrainConfig:
        return TrainConfig(self.optimizer, self.lr, self.epochs_for(n_train), self.batch_size, seed)


# ---------------------------------------------------------------------------------------
# Checks of the grid against the data, at parse time (from the config) and in the job


def check_grid(grid: Grid, available: Mapping[str, int]) -> None:
    problems = grid_problems(grid, available)
    if problems:
        raise AugmentationConfigError(
            "; ".join(problems) + ": lower the grid or raise data.samples_per_dataset "
            "(borrowed samples come from the reference dataset's train split)")


# ---------------------------------------------------------------------------------------
# Training sets


def class_orders(labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A random permutation of the indices of each class; a subset of size n is its first n."""
    return [rng.permutation(np.flatnonzero(labels == label)) for label in range(n_classes)]


@dataclass(frozen=True)
class TrainingSet:
    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray  # the MNIST class each sample is trained as
    source: np.ndarray  # MNIST_SOURCE or REFERENCE_SOURCE
    source_class: np.ndarray  # the class in the dataset the sample came from
    source_index: np.ndarray  # its index in that dataset's split


def training_set(
    mnist: tuple[np.ndarray, np.ndarray], mnist_orders: Sequence[np.ndarray], n_mnist: int,
    reference: tuple[np.ndarray, np.ndarray] | None = None, reference_orders: Sequence[np.ndarray] = (),
    pairs: Mapping[int, int] | None = None, n_borrowed: int = 0,
) -> TrainingSet:
    """n_mnist MNIST samples of every class, plus n_borrowed samples of class pairs[i] labelled i.

    MNIST classes without a pair (never the case with 10 MNIST classes and Y of ≥10) borrow nothing.
    """
    images, labels, source, source_class, source_index = [], [], [], [], []

    def add(split: tuple[np.ndarray, np.ndarray], index: np.ndarray, label: int, origin: int) -> None:
        images.append(split[0][index])
        labels.append(np.full(len(index), label, dtype=np.int64))
        source.append(np.full(len(index), origin, dtype=np.int64))
        source_class.append(split[1][index].astype(np.int64))
        source_index.append(index.astype(np.int64))

    for i, order in enumerate(mnist_orders):
        if len(order) < n_mnist:
            raise AugmentationConfigError(f"MNIST class {i} has {len(order)} train samples, {n_mnist} requested")
        add(mnist, order[:n_mnist], i, MNIST_SOURCE)
        if n_borrowed and pairs is not None and i in pairs:
            assert reference is not None
            k = pairs[i]
            if len(reference_orders[k]) < n_borrowed:
                raise AugmentationConfigError(
                    f"reference class {k} has {len(reference_orders[k])} train samples, {n_borrowed} requested")
            add(reference, reference_orders[k][:n_borrowed], i, REFERENCE_SOURCE)
    return TrainingSet(*(np.concatenate(parts) for parts in (images, labels, source, source_class, source_index)))


# ---------------------------------------------------------------------------------------
# Training and testing


def train_classifier(data: TrainingSet, settings: ClassifierSettings, seed: int, device: torch.device) -> LeNet5Classifier:
    config = settings.train_config(len(data.labels), seed)
    torch.manual_seed(seed)  # the initial weights, too, are the trial's
    model = LeNet5Classifier(10)
    train(model, classifier_batch_loss, (images_to_tensor(data.images), torch.from_numpy(data.labels)), config, device)
    return model.eval()


@torch.inference_mode()
def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, device: torch.device,
             batch_size: int = 1024) -> float:
    model.eval().to(device)
    inputs = images_to_tensor(images)
    predictions = torch.cat([model(inputs[s : s + batch_size].to(device)).argmax(1).cpu()
                             for s in range(0, len(inputs), batch_size)])
    return float((predictions.numpy() == labels).mean())


def mnist_orders(labels: np.ndarray, seed: int, trial: int) -> list[np.ndarray]:
    return class_orders(labels, 10, np.random.default_rng(derived_seed(seed, "augmentation", "M", trial)))


def reference_orders(labels: np.ndarray, n_classes: int, seed: int, reference: str, trial: int) -> list[np.ndarray]:
    return class_orders(labels, n_classes, np.random.default_rng(derived_seed(seed, "augmentation", reference, trial)))


def training_seed(seed: int, trial: int, n_mnist: int, n_borrowed: int) -> int:
    """The same for every Y and method at a grid point and trial (common random numbers)."""
    return derived_seed(seed, "augmentation", "train", trial, n_mnist, n_borrowed)


def run_reference(mnist_train: tuple[np.ndarray, np.ndarray], mnist_test: tuple[np.ndarray, np.ndarray],
                  grid: Grid, settings: ClassifierSettings, seed: int, device: torch.device) -> pd.DataFrame:
    """The no-borrowing runs: n(c_M) MNIST samples per class only, every trial."""
    rows = []
    for trial in range(grid.trials):
        orders = mnist_orders(mnist_train[1], seed, trial)
        for n_mnist in grid.n_mnist:
            data = training_set(mnist_train, orders, n_mnist)
            run_seed = training_seed(seed, trial, n_mnist, 0)
            model = train_classifier(data, settings, run_seed, device)
            acc = accuracy(model, *mnist_test, device)
            log.info("no borrowing: n_mnist %d trial %d accuracy %.4f", n_mnist, trial, acc)
            rows.append(result_row(NO_BORROWING, "", "", n_mnist, 0, trial, run_seed, acc, data, mnist_test, settings))
    return pd.DataFrame(rows)


def run_borrowing(mnist_train: tuple[np.ndarray, np.ndarray], mnist_test: tuple[np.ndarray, np.ndarray],
                  reference_train: tuple[np.ndarray, np.ndarray], n_reference_classes: int, reference: str, label: str,
                  pairings: Mapping[str, Mapping[int, int]], grid: Grid, settings: ClassifierSettings, seed: int,
                  device: torch.device) -> pd.DataFrame:
    """Every (method, n(c_M), n(c_Y), trial) for one reference dataset Y; identical sets are trained once."""
    rows = []
    trained: dict[tuple, float] = {}
    for trial in range(grid.trials):
        m_orders = mnist_orders(mnist_train[1], seed, trial)
        y_orders = reference_orders(reference_train[1], n_reference_classes, seed, reference, trial)
        for n_mnist in grid.n_mnist:
            for n_borrowed in grid.n_borrowed:
                run_seed = training_seed(seed, trial, n_mnist, n_borrowed)
                for method, pairs in pairings.items():
                    data = training_set(mnist_train, m_orders, n_mnist, reference_train, y_orders, pairs, n_borrowed)
                    key = (trial, n_mnist, n_borrowed, tuple(sorted(pairs.items())))
                    if key not in trained:
                        model = train_classifier(data, settings, run_seed, device)
                        trained[key] = accuracy(model, *mnist_test, device)
                    else:
                        log.info("%s: same pairing as an earlier method, reusing its run", method)
                    acc = trained[key]
                    log.info("%s %s: n_mnist %d n_borrowed %d trial %d accuracy %.4f",
                             method, label, n_mnist, n_borrowed, trial, acc)
                    rows.append(result_row(method, label, reference, n_mnist, n_borrowed, trial, run_seed, acc, data,
                                           mnist_test, settings))
    return pd.DataFrame(rows)


def result_row(method: str, label: str, reference: str, n_mnist: int, n_borrowed: int, trial: int, seed: int,
               acc: float, data: TrainingSet, test: tuple[np.ndarray, np.ndarray],
               settings: ClassifierSettings) -> dict[str, Any]:
    return {"method": method, "Y": label, "dataset": reference, "n_mnist": n_mnist, "n_borrowed": n_borrowed,
            "trial": trial, "seed": seed, "accuracy": acc, "n_train": len(data.labels), "n_test": len(test[1]),
            "epochs": settings.epochs_for(len(data.labels))}


def evaluation_subset(images: np.ndarray, labels: np.ndarray, per_class: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` test samples of every class (all of them when None)."""
    if per_class is None:
        return images, labels
    chosen = []
    for label in range(10):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise AugmentationConfigError(f"augmentation.test_per_class is {per_class}, but the MNIST test split holds "
                                          f"{len(members)} samples of class {label}")
        chosen.append(members[:per_class])
    index = np.sort(np.concatenate(chosen))
    return images[index], labels[index]


# ---------------------------------------------------------------------------------------
# Summaries


def benefit_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy change over no borrowing, per method and Y (averaged over n(c_M), trials):
    at the largest n(c_Y) and over all n(c_Y); with the rank of Y per method (1 = most benefit)."""
    reference = runs[runs["method"] == NO_BORROWING].groupby("n_mnist")["accuracy"].mean()
    borrowed = runs[runs["method"] != NO_BORROWING].copy()
    if borrowed.empty or reference.empty:
        raise AugmentationConfigError("need both borrowing runs and no-borrowing runs to compute benefits")
    borrowed["gain"] = borrowed["accuracy"] - borrowed["n_mnist"].map(reference)
    largest = borrowed["n_borrowed"].max()
    table = borrowed.groupby(["method", "Y", "dataset"], sort=False).agg(
        gain_all=("gain", "mean"),
        gain_at_max=("gain", lambda g: g[borrowed.loc[g.index, "n_borrowed"] == largest].mean()),
    ).reset_index()
    table["rank"] = table.groupby("method")["gain_at_max"].rank(ascending=False, method="min").astype(int)
    is_simex = table["method"].str.startswith("SimEx")
    table["paper_rank"] = table["dataset"].map(PAPER_BENEFIT_RANK).where(is_simex).astype("Int64")
    table.insert(3, "n_borrowed_max", largest)
    return table


# §5.3: the accuracy boost from SimEx's pairings is largest for B, then R, E, F.
PAPER_BENEFIT_RANK = {"B": 1, "R": 2, "E": 3, "F": 4}
