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
- Training length: a fixed budget of optimizer steps, the same for every training set
  whatever its size. With a fixed number of epochs, a set grown by borrowing would also
  get more updates, and its accuracy would mix the effect of the data with that of the
  longer optimisation. (Early stopping on held-out MNIST would remove that confound too,
  but needs labelled MNIST samples beyond n(c_M), which the scenario does not have.)
- Test set: MNIST's published test split, less every digit training may have seen (the
  images of M's prepared train split, and the MNIST digits a regenerated R† or B† was made
  from), balanced to ``test_per_class`` samples a class (the paper: 1000 a class).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from simex.config import GRID_ADVICE, AugmentationClassifier, Grid, derived_seed
from simex.training.fused import train_fused_classifiers
from simex.inference.evaluate import accuracy
from simex.models.networks import LeNet5Classifier
from simex.training.loop import TrainConfig, classifier_batch_loss, images_to_tensor, train
from simex.analysis.tables import markdown_document, markdown_table
from simex.base.errors import SimexError

log = logging.getLogger(__name__)

NO_BORROWING = "none"
MNIST_SOURCE, REFERENCE_SOURCE = 0, 1


class AugmentationConfigError(SimexError, ValueError):
    pass


def classifier_train_config(settings: AugmentationClassifier, seed: int) -> TrainConfig:
    """The 10-class LeNet-5's training: ``steps`` optimizer steps, whatever the training-set size."""
    return TrainConfig(settings.optimizer, float(settings.lr), 1, int(settings.batch_size), seed, steps=int(settings.steps))


# ---------------------------------------------------------------------------------------
# Checks of the grid against the data, at parse time (from the config) and in the job


def check_grid(grid: Grid, available: Mapping[str, int]) -> None:
    problems = grid.problems(available)
    if problems:
        raise AugmentationConfigError("; ".join(problems) + ": " + GRID_ADVICE)


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


def train_classifier(data: TrainingSet, settings: AugmentationClassifier, seed: int, device: torch.device) -> LeNet5Classifier:
    config = classifier_train_config(settings, seed)
    torch.manual_seed(seed)  # the initial weights, too, are the trial's
    model = LeNet5Classifier(10)
    train(model, classifier_batch_loss, (images_to_tensor(data.images), torch.from_numpy(data.labels)), config, device)
    return model.eval()


def train_classifiers(sets: Sequence[TrainingSet], settings: AugmentationClassifier, seeds: Sequence[int],
                      device: torch.device) -> list[LeNet5Classifier]:
    """:func:`train_classifier` for several training sets, trained as one fused model
    (simex.training.fused): each equal, up to float rounding, to its training alone."""
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(LeNet5Classifier(10))
    train_fused_classifiers(models, [(images_to_tensor(data.images), torch.from_numpy(data.labels)) for data in sets],
                             [classifier_train_config(settings, seed) for seed in seeds], device)
    return models


def mnist_orders(labels: np.ndarray, seed: int, trial: int) -> list[np.ndarray]:
    return class_orders(labels, 10, np.random.default_rng(derived_seed(seed, "augmentation", "M", trial)))


def reference_orders(labels: np.ndarray, n_classes: int, seed: int, reference: str, trial: int) -> list[np.ndarray]:
    return class_orders(labels, n_classes, np.random.default_rng(derived_seed(seed, "augmentation", reference, trial)))


def training_seed(seed: int, trial: int, n_mnist: int, n_borrowed: int) -> int:
    """The same for every Y and method at a grid point and trial (common random numbers)."""
    return derived_seed(seed, "augmentation", "train", trial, n_mnist, n_borrowed)


def run_reference(mnist_train: tuple[np.ndarray, np.ndarray], mnist_test: tuple[np.ndarray, np.ndarray],
                  grid: Grid, settings: AugmentationClassifier, seed: int, device: torch.device) -> pd.DataFrame:
    """The no-borrowing runs: n(c_M) MNIST samples per class only, every trial, trained as one fused model."""
    runs = []
    for trial in range(grid.trials):
        orders = mnist_orders(mnist_train[1], seed, trial)
        for n_mnist in grid.n_mnist:
            runs.append((trial, n_mnist, training_set(mnist_train, orders, n_mnist), training_seed(seed, trial, n_mnist, 0)))
    models = train_classifiers([data for *_, data, _ in runs], settings, [run_seed for *_, run_seed in runs], device)
    rows = []
    for (trial, n_mnist, data, run_seed), model in zip(runs, models):
        acc = accuracy(model, *mnist_test, device)
        log.info("no borrowing: n_mnist %d trial %d accuracy %.4f", n_mnist, trial, acc)
        rows.append(result_row(NO_BORROWING, "", "", n_mnist, 0, trial, run_seed, acc, data, mnist_test, settings))
    return pd.DataFrame(rows)


def run_borrowing(mnist_train: tuple[np.ndarray, np.ndarray], mnist_test: tuple[np.ndarray, np.ndarray],
                  reference_train: tuple[np.ndarray, np.ndarray], n_reference_classes: int, reference: str, label: str,
                  pairings: Mapping[str, Mapping[int, int]], grid: Grid, settings: AugmentationClassifier, seed: int,
                  device: torch.device) -> pd.DataFrame:
    """Every (method, n(c_M), n(c_Y), trial) for one reference dataset Y; identical sets are trained once,
    all distinct ones as one fused model."""
    runs = []
    distinct: dict[tuple, tuple[TrainingSet, int]] = {}
    for trial in range(grid.trials):
        m_orders = mnist_orders(mnist_train[1], seed, trial)
        y_orders = reference_orders(reference_train[1], n_reference_classes, seed, reference, trial)
        for n_mnist in grid.n_mnist:
            for n_borrowed in grid.n_borrowed:
                run_seed = training_seed(seed, trial, n_mnist, n_borrowed)
                for method, pairs in pairings.items():
                    data = training_set(mnist_train, m_orders, n_mnist, reference_train, y_orders, pairs, n_borrowed)
                    key = (trial, n_mnist, n_borrowed, tuple(sorted(pairs.items())))
                    if key in distinct:
                        log.info("%s: same pairing as an earlier method, reusing its run", method)
                    distinct.setdefault(key, (data, run_seed))
                    runs.append((method, n_mnist, n_borrowed, trial, run_seed, data, key))
    models = train_classifiers([data for data, _ in distinct.values()], settings,
                               [run_seed for _, run_seed in distinct.values()], device)
    accuracies = {key: accuracy(model, *mnist_test, device) for key, model in zip(distinct, models)}
    rows = []
    for method, n_mnist, n_borrowed, trial, run_seed, data, key in runs:
        acc = accuracies[key]
        log.info("%s %s: n_mnist %d n_borrowed %d trial %d accuracy %.4f", method, label, n_mnist, n_borrowed, trial, acc)
        rows.append(result_row(method, label, reference, n_mnist, n_borrowed, trial, run_seed, acc, data,
                               mnist_test, settings))
    return pd.DataFrame(rows)


def result_row(method: str, label: str, reference: str, n_mnist: int, n_borrowed: int, trial: int, seed: int,
               acc: float, data: TrainingSet, test: tuple[np.ndarray, np.ndarray],
               settings: AugmentationClassifier) -> dict[str, Any]:
    return {"method": method, "Y": label, "dataset": reference, "n_mnist": n_mnist, "n_borrowed": n_borrowed,
            "trial": trial, "seed": seed, "accuracy": acc, "n_train": len(data.labels), "n_test": len(test[1]),
            "steps": settings.steps}


def mnist_test_set(raw_images: np.ndarray, raw_labels: np.ndarray, published_train_size: int,
                   seen_rows: np.ndarray, train_images: np.ndarray, per_class: int | None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's published test split less the digits training may have seen, balanced over the classes.

    ``seen_rows``: rows of the raw data other datasets were made from (regenerated R†, B†);
    images equal to one of ``train_images`` (M's prepared train split, drawn from train and
    test rows alike) go too. The first ``per_class`` remaining of every class are kept;
    None keeps as many of each as the scarcest class has.
    """
    if not 0 < published_train_size < len(raw_labels):
        raise AugmentationConfigError(f"published train split size {published_train_size} does not fit the "
                                      f"{len(raw_labels)} rows of the raw MNIST data")
    rows = np.setdiff1d(np.arange(published_train_size, len(raw_labels)), seen_rows)
    trained_on = {image.tobytes() for image in train_images}
    rows = np.array([row for row in rows if raw_images[row].tobytes() not in trained_on], dtype=np.int64)
    members = [rows[raw_labels[rows] == label] for label in range(10)]
    available = min(len(m) for m in members)
    keep = available if per_class is None else per_class
    if keep > available or keep < 1:
        raise AugmentationConfigError(f"augmentation.test_per_class is {per_class}, but after leaving out the digits "
                                      f"training may have seen MNIST's test split holds {available} of its scarcest class")
    chosen = np.sort(np.concatenate([m[:keep] for m in members]))
    log.info("MNIST test set: %d a class from the published test split (%d rows left out as seen in training)",
             keep, len(raw_labels) - published_train_size - len(rows))
    return raw_images[chosen], raw_labels[chosen]


# ---------------------------------------------------------------------------------------
# Summaries


def trial_gains(runs: pd.DataFrame) -> pd.DataFrame:
    """Every borrowing run with its gain: its accuracy minus that of no borrowing at the same n(c_M) and trial.

    Trials share their MNIST samples and seeds (common random numbers), so the difference
    within a trial isolates the borrowed samples.
    """
    reference = runs[runs["method"] == NO_BORROWING].set_index(["n_mnist", "trial"])["accuracy"]
    borrowed = runs[runs["method"] != NO_BORROWING].copy()
    if borrowed.empty or reference.empty:
        raise AugmentationConfigError("need both borrowing runs and no-borrowing runs to compute benefits")
    keys = pd.MultiIndex.from_frame(borrowed[["n_mnist", "trial"]])
    missing = keys.difference(reference.index)
    if len(missing):
        raise AugmentationConfigError(f"no run without borrowing for (n_mnist, trial) {list(missing)}")
    borrowed["gain"] = borrowed["accuracy"].to_numpy() - reference.reindex(keys).to_numpy()
    return borrowed


def benefit_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Gain over no borrowing per method, Y and n(c_M): mean over trials with min–max over trials.

    ``gain_all``: averaged over every n(c_Y) of the grid; ``gain_at_max``: at the largest
    n(c_Y). ``rank``: Y's place by mean ``gain_all`` within the method and n(c_M) (1 = most
    beneficial); ``paper_rank``: the paper's order of SimEx's boosts, B > R > E > F.
    """
    borrowed = trial_gains(runs)
    largest = borrowed["n_borrowed"].max()
    keys = ["method", "Y", "dataset", "n_mnist"]
    per_trial = borrowed.groupby([*keys, "trial"], sort=False).agg(
        gain_all=("gain", "mean"),
        gain_at_max=("gain", lambda g: g[borrowed.loc[g.index, "n_borrowed"] == largest].mean()),
    ).reset_index()
    table = per_trial.groupby(keys, sort=False).agg(
        gain_all=("gain_all", "mean"), gain_all_min=("gain_all", "min"), gain_all_max=("gain_all", "max"),
        gain_at_max=("gain_at_max", "mean"), gain_at_max_min=("gain_at_max", "min"),
        gain_at_max_max=("gain_at_max", "max"), trials=("trial", "nunique"),
    ).reset_index()
    table["rank"] = table.groupby(["method", "n_mnist"])["gain_all"].rank(ascending=False, method="min").astype(int)
    is_simex = table["method"].str.startswith("SimEx")
    table["paper_rank"] = table["dataset"].map(PAPER_BENEFIT_RANK).where(is_simex).astype("Int64")
    table.insert(4, "n_borrowed_max", largest)
    return table


def benefit_markdown(table: pd.DataFrame) -> str:
    """Per n(c_M): methods × Y, 'mean [min, max]' of the gain over every n(c_Y), and the order of Y."""

    def signed(value: float) -> str:
        return f"{value:+.3f}".replace("-", "−")

    order = sorted(table["dataset"].unique(), key=lambda code: PAPER_BENEFIT_RANK.get(code, 99))
    labels = table.drop_duplicates("dataset").set_index("dataset")["Y"]
    lines = []
    for n_mnist, part in table.groupby("n_mnist"):
        title = (f"n(c_M) = {n_mnist}: gain in accuracy over no borrowing, mean over {part['trials'].max()} trials "
                 f"[min, max over trials], averaged over n(c_Y); columns in the paper's order of SimEx's gains")
        body = []
        for method, rows in part.groupby("method", sort=False):
            rows = rows.set_index("dataset")
            cells = [f"{signed(rows.loc[c, 'gain_all'])} [{signed(rows.loc[c, 'gain_all_min'])}, "
                     f"{signed(rows.loc[c, 'gain_all_max'])}]" if c in rows.index else "n/a" for c in order]
            body.append([method, *cells, " > ".join(labels[c] for c in rows.sort_values("gain_all", ascending=False).index)])
        paper = " > ".join(labels[c] for c in order if c in PAPER_BENEFIT_RANK)
        header = ["method", *(labels[c] for c in order), "order of Y by gain"]
        lines.append(markdown_document(title, markdown_table(header, body, "l" + "r" * len(order) + "l"),
                                       [f"The paper's order of SimEx's gains: {paper}."]))
    return "\n".join(lines)


# §5.3: the accuracy boost from SimEx's pairings is largest for B, then R, E, F.
PAPER_BENEFIT_RANK = {"B": 1, "R": 2, "E": 3, "F": 4}
