"""Inter-class similarity within one dataset (§4 Fig. 1a, §5.4 Fig. 8, Table 2).

Every matrix here is indexed the same way: the row is class c_k, the column class c_i,
and row k orders the *other* nine classes with respect to c_k.

- SimEx: Δ(c_i | c_k), the mean δ of c_i's test samples through A(c_k) (smaller = more similar),
  as ``interclass_delta`` computes and stores it (row k = the autoencoder A(c_k)).
- sample-MSE / sample-iSSIM: the mean δ between a training sample of c_k and a test sample
  of c_i, over all such pairs or a seeded subsample of them (smaller = more similar).
- 9class-*: C_k, a 9-class classifier trained without c_k, applied to c_k's test samples;
  the mean softmax output at class c_i is the confusion of c_k with c_i (larger = more
  confusing). C_k has no output for c_k, so the diagonal is undefined (NaN).

Table 2 is the mean over classes k of Spearman's ρ between two methods' orderings of the
other nine classes (simex.analysis.stats.rowwise_rho with the diagonal left out).

Orientation. The paper defines the confusion as "the potential confusion levels of an
unknown class with respect to known classes of a dataset": C_k knows every class but k,
and s_k, the unknown class, is fed to it, so row k of 9class-* is the *unknown* class c_k
spread over the *known* classes c_i. SimEx's counterpart (§3: Δ(X | Y_k), unknown X
through the autoencoder of known Y_k) feeds the unknown c_k to the known A(c_i): row k
holds Δ(c_k | c_i), the stored Δ matrix read by columns. Table 2 uses that orientation
(``DEFINITION_ORIENTATION``), and the sample distances are read the same way (c_k's test
samples against c_i's training samples); SimEx's other orientation, row k = Δ(c_i | c_k)
(how A(c_k) meets the other classes), is reported beside it.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from simex.training.fused import train_fused_classifiers
from simex.config import SSIMWindow
from simex.models.losses import PerSampleLoss, pair_distance_sum
from simex.inference.evaluate import batched, map_images
from simex.models.networks import LeNet5Classifier
from simex.inference.similarity import check_images, delta_matrix
from simex.analysis.stats import Direction, rowwise_rho
from simex.analysis.tables import markdown_table
from simex.training.loop import TrainConfig, TrainResult, classifier_batch_loss, images_to_tensor, seed_everything, train
from simex.base.errors import SimexError

log = logging.getLogger(__name__)

ROW_NAME = "class c_k"
COLUMN_NAME = "class c_i"

SIMEX_METHODS = {"mse": "SimEx-MSE", "issim": "SimEx-iSSIM"}
SAMPLE_METHODS = {"mse": "sample-MSE", "issim": "sample-iSSIM"}
CLASSIFIER_METHODS = {"lenet5": "9class-Le5", "resnet18": "9class-Res18"}
ARCHITECTURES = tuple(CLASSIFIER_METHODS)

# Which way each method orders the other classes, most similar first.
DIRECTIONS: dict[str, Direction] = {
    **{name: "ascending" for name in SIMEX_METHODS.values()},
    **{name: "ascending" for name in SAMPLE_METHODS.values()},
    **{name: "descending" for name in CLASSIFIER_METHODS.values()},
}

TABLE2_ROWS = ("SimEx-MSE", "SimEx-iSSIM", "sample-MSE", "sample-iSSIM")
TABLE2_COLUMNS = ("sample-MSE", "sample-iSSIM", "9class-Le5", "9class-Res18")
DEFINITION_ORIENTATION = "row k = Δ(c_k|c_i): the unknown class c_k through the known classes' autoencoders A(c_i)"
OTHER_ORIENTATION = "row k = Δ(c_i|c_k): the other classes through A(c_k)"
# SimEx in the other orientation: rows of their own in the tables, compared with the paper's SimEx rows.
OTHER_ORIENTATION_METHODS = {name: f"{name}, Δ(c_i|c_k)" for name in SIMEX_METHODS.values()}
DIRECTIONS.update({OTHER_ORIENTATION_METHODS[name]: DIRECTIONS[name] for name in SIMEX_METHODS.values()})
PAPER_ROW = {**{name: name for name in TABLE2_ROWS}, **{v: k for k, v in OTHER_ORIENTATION_METHODS.items()}}

# Table 2 of the paper; NaN where the paper has n/a.
PAPER_TABLE2 = pd.DataFrame(
    [[0.692, 0.725, 0.639, 0.662],
     [0.765, 0.804, 0.629, 0.646],
     [np.nan, np.nan, 0.438, 0.442],
     [np.nan, np.nan, 0.325, 0.338]],
    index=pd.Index(TABLE2_ROWS, name="method"), columns=list(TABLE2_COLUMNS),
)
# §4: "Δ(9|4) < Δ(7|4) < Δ(5|4) < Δ(3|4)" with δ = MSE.
PAPER_FIG1A_ORDER = (9, 7, 5, 3)


class InterclassError(SimexError, ValueError):
    """Inputs of the inter-class experiment are not what it needs."""


# --------------------------------------------------------------------------- matrices


def class_frame(values: np.ndarray, classes: Sequence[int]) -> pd.DataFrame:
    """A square class-by-class matrix with the module's row/column convention."""
    names = [str(c) for c in classes]
    frame = pd.DataFrame(np.asarray(values, dtype=float), index=pd.Index(names, name=ROW_NAME),
                         columns=pd.Index(names, name=COLUMN_NAME))
    return frame


def read_class_matrix(path: Path | str) -> pd.DataFrame:
    """A matrix written by this module, checked to be square over the same classes."""
    frame = pd.read_csv(path, index_col=0)
    frame.index = pd.Index([str(c) for c in frame.index], name=ROW_NAME)
    frame.columns = pd.Index([str(c) for c in frame.columns], name=COLUMN_NAME)
    if list(frame.index) != list(frame.columns):
        raise InterclassError(f"{path}: rows {list(frame.index)} and columns {list(frame.columns)} must be the same classes")
    return frame


def classes_of(labels: np.ndarray, n_classes: int) -> list[int]:
    present = sorted(set(np.unique(labels).tolist()))
    missing = [c for c in range(n_classes) if c not in present]
    if missing:
        raise InterclassError(f"classes {missing} have no samples; every one of the {n_classes} classes is needed")
    return list(range(n_classes))


def interclass_delta(
    autoencoders: Mapping[int, nn.Module],
    images: np.ndarray,
    labels: np.ndarray,
    delta: PerSampleLoss,
    device: torch.device,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Δ(c_i | c_k): row k is A(c_k), column i the test samples of c_i."""
    check_images(images)
    classes = sorted(autoencoders)
    inputs = {c: images[labels == c] for c in classes}
    empty = [c for c, x in inputs.items() if len(x) == 0]
    if empty:
        raise InterclassError(f"no test samples of classes {empty}")
    frame = delta_matrix({c: autoencoders[c] for c in classes}, inputs, delta, device, batch_size)
    return class_frame(frame.to_numpy(), classes)


# --------------------------------------------------------------------------- sample space


def pair_indices(n_a: int, n_b: int, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All (a, b) index pairs, or ``max_pairs`` distinct ones drawn at random when there are more."""
    if n_a < 1 or n_b < 1:
        raise InterclassError(f"need samples on both sides of a pair, got {n_a} and {n_b}")
    total = n_a * n_b
    if max_pairs <= 0 or total <= max_pairs:
        flat = np.arange(total)
    else:
        flat = np.sort(rng.choice(total, size=max_pairs, replace=False))
    return flat // n_b, flat % n_b


@torch.inference_mode()
def mean_pair_distance(
    a: np.ndarray, b: np.ndarray, distance: PerSampleLoss | str, max_pairs: int, rng: np.random.Generator,
    batch_size: int = 4096, device: torch.device | str = "cpu", window: SSIMWindow | None = None,
) -> float:
    """Mean δ(a_j, b_l) over the pairs of samples of two sets (uint8 images). ``distance``: a
    loss name (``"mse"``, ``"issim"``, with ``window``), computed by
    :func:`simex.models.losses.pair_distance_sum` (per-sample terms made once per sample, the
    pipeline's path), or any per-sample δ, applied to the gathered pairs (the plain path)."""
    check_images(a, "first set")
    check_images(b, "second set")
    ia, ib = pair_indices(len(a), len(b), max_pairs, rng)
    ta, tb = images_to_tensor(a, device), images_to_tensor(b, device)
    if isinstance(distance, str):
        to = torch.device(device)
        return pair_distance_sum(distance, ta, tb, torch.from_numpy(ia).to(to), torch.from_numpy(ib).to(to), window,
                                 batch_size) / len(ia)
    pairs = torch.from_numpy(np.stack([ia, ib], axis=1))
    sums = batched(lambda batch: distance(ta[batch[:, 0]], tb[batch[:, 1]]).double().sum().view(1), pairs, batch_size,
                   device)  # one sum per batch
    return float(sum(float(total) for total in sums)) / len(ia)


def sample_distance_matrix(
    reference: np.ndarray, reference_labels: np.ndarray, inputs: np.ndarray, input_labels: np.ndarray,
    distance: PerSampleLoss | str, n_classes: int, max_pairs: int, seed: int, device: torch.device | str = "cpu",
    window: SSIMWindow | None = None,
) -> pd.DataFrame:
    """Row k, column i: mean δ between reference samples of c_k and input samples of c_i
    (``distance``: a loss name or a per-sample δ, as :func:`mean_pair_distance`)."""
    classes = classes_of(reference_labels, n_classes)
    classes_of(input_labels, n_classes)
    rng = np.random.default_rng(seed)
    values = np.array([[mean_pair_distance(reference[reference_labels == k], inputs[input_labels == i], distance,
                                           max_pairs, rng, device=device, window=window) for i in classes]
                       for k in classes])
    return class_frame(values, classes)


# --------------------------------------------------------------------------- 9-class classifiers


def nine_class_split(
    images: np.ndarray, labels: np.ndarray, excluded: int, n_classes: int, per_class: int = 0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The training set of C_k: every class but ``excluded``, labels renumbered 0..n-2.

    ``per_class`` > 0 keeps that many random samples of each class (all when fewer).
    Returns images, new labels and the original class of each output.
    """
    check_images(images)
    if len(images) != len(labels):
        raise InterclassError(f"{len(images)} images but {len(labels)} labels")
    if not 0 <= excluded < n_classes:
        raise InterclassError(f"excluded class {excluded} is not in 0..{n_classes - 1}")
    classes_of(labels, n_classes)
    kept = [c for c in range(n_classes) if c != excluded]
    rng = rng or np.random.default_rng(0)
    chosen = []
    for c in kept:
        members = np.flatnonzero(labels == c)
        if per_class > 0 and len(members) > per_class:
            members = np.sort(rng.choice(members, size=per_class, replace=False))
        chosen.append(members)
    index = np.concatenate(chosen)
    renumber = np.full(n_classes, -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    return images[index], renumber[labels[index]], kept


def build_classifier(architecture: str, n_outputs: int) -> nn.Module:
    """LeNet-5, or torchvision's ResNet-18 adapted to 1x28x28 (3x3 stride-1 stem, no max-pool)."""
    if architecture == "lenet5":
        return LeNet5Classifier(n_outputs)
    if architecture == "resnet18":
        from torchvision.models import resnet18

        model = resnet18(weights=None, num_classes=n_outputs)
        model.conv1 = nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
        return model
    raise InterclassError(f"unknown classifier architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}")


# simex.base.artifacts.load_classifier builders of the 9-class classifiers C_k
NINE_CLASS_CLASSIFIERS = {architecture: functools.partial(build_classifier, architecture) for architecture in ARCHITECTURES}


def train_nine_class(
    architecture: str, images: np.ndarray, labels: np.ndarray, excluded: int, n_classes: int,
    config: TrainConfig, device: torch.device, per_class: int = 0,
) -> tuple[nn.Module, list[int], TrainResult, int]:
    """C_k: ``architecture`` trained with the plain loop (:func:`simex.training.loop.train`) on every class but ``excluded``."""
    train_images, train_labels, kept = nine_class_split(
        images, labels, excluded, n_classes, per_class, np.random.default_rng(config.seed))
    seed_everything(config.seed)
    model = build_classifier(architecture, len(kept))
    result = train(model, classifier_batch_loss, (images_to_tensor(train_images), torch.from_numpy(train_labels)),
                   config, device)
    return model.eval(), kept, result, len(train_images)


def train_nine_class_all(
    architecture: str, images: np.ndarray, labels: np.ndarray, excluded: Sequence[int], n_classes: int,
    configs: Sequence[TrainConfig], device: torch.device, per_class: int = 0,
) -> list[tuple[nn.Module, list[int], TrainResult, int]]:
    """:func:`train_nine_class` for every k in ``excluded`` (``configs[i]`` for ``excluded[i]``).

    LeNet-5's are trained as one fused model (simex.training.fused), each equal, up to
    float rounding, to its training alone; other architectures one after another."""
    if architecture != "lenet5":
        return [train_nine_class(architecture, images, labels, k, n_classes, config, device, per_class)
                for k, config in zip(excluded, configs)]
    splits = [nine_class_split(images, labels, k, n_classes, per_class, np.random.default_rng(config.seed))
              for k, config in zip(excluded, configs)]
    models = []
    for (_, _, kept), config in zip(splits, configs):
        seed_everything(config.seed)
        models.append(build_classifier(architecture, len(kept)))
    results = train_fused_classifiers(
        models, [(images_to_tensor(x), torch.from_numpy(y)) for x, y, _ in splits], configs, device)
    return [(model, kept, result, len(x)) for model, (x, _, kept), result in zip(models, splits, results)]


@torch.inference_mode()
def mean_softmax(model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    check_images(images)
    model.eval().to(device)
    sums = map_images(lambda batch: torch.softmax(model(batch).float(), dim=1).sum(dim=0, keepdim=True), images,
                      device, batch_size)  # one row per batch
    total = sums[0]
    for row in sums[1:]:
        total = total + row
    return (total / len(images)).double().cpu().numpy()


def confusion_row(model: nn.Module, kept: Sequence[int], images: np.ndarray, n_classes: int,
                  device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Mean softmax of C_k over c_k's samples, placed at the original class indices; NaN at k."""
    row = np.full(n_classes, np.nan)
    row[list(kept)] = mean_softmax(model, images, device, batch_size)
    return row


# --------------------------------------------------------------------------- Table 2


def mean_rho(a: pd.DataFrame, a_order: Direction, b: pd.DataFrame, b_order: Direction) -> float:
    """Mean over rows c_k of ρ between the two orderings of the other classes."""
    return float(per_class_rho(a, a_order, b, b_order).mean())


def per_class_rho(a: pd.DataFrame, a_order: Direction, b: pd.DataFrame, b_order: Direction) -> pd.Series:
    if list(a.index) != list(b.index) or list(a.columns) != list(b.columns):
        raise InterclassError("the two matrices must cover the same classes in the same order")
    return rowwise_rho(a, a_order, b, b_order, exclude_diagonal=True)


def available(names: Sequence[str], matrices: Mapping[str, pd.DataFrame]) -> list[str]:
    return [name for name in names if name in matrices]


def transposed(frame: pd.DataFrame) -> pd.DataFrame:
    """The matrix read the other way round (row k holds column k), with the same axis names."""
    flipped = pd.DataFrame(frame.to_numpy().T, index=frame.index.copy(), columns=frame.columns.copy())
    return flipped


def spearman_table(matrices: Mapping[str, pd.DataFrame], rows: Sequence[str] = TABLE2_ROWS,
                   columns: Sequence[str] = TABLE2_COLUMNS) -> pd.DataFrame:
    """Table 2 (ours): rows SimEx-*/sample-*, columns sample-*/9class-*; NaN where a method meets itself."""
    rows, columns = available(rows, matrices), available(columns, matrices)
    table = pd.DataFrame(np.nan, index=pd.Index(rows, name="method"), columns=columns)
    for row in rows:
        for column in columns:
            if row != column:
                table.loc[row, column] = mean_rho(matrices[row], DIRECTIONS[row], matrices[column], DIRECTIONS[column])
    return table


def table2_matrices(deltas: Mapping[str, pd.DataFrame], samples: Mapping[str, pd.DataFrame],
                    confusions: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every method's matrix with row k ordering the other classes as Table 2 compares them.

    ``deltas``: SimEx name -> Δ(c_i|c_k) as stored (row k = A(c_k)); ``samples``: sample-*
    name -> mean δ(train c_k, test c_i); ``confusions``: 9class-* name -> row k = C_k on c_k.
    SimEx and sample-* are turned to the definition's orientation (row k: the unknown c_k's
    test samples against the known c_i); SimEx is also kept as stored, under its
    ``OTHER_ORIENTATION_METHODS`` name.
    """
    matrices = {name: transposed(frame) for name, frame in {**deltas, **samples}.items()}
    matrices.update(confusions)
    matrices.update({OTHER_ORIENTATION_METHODS[name]: delta for name, delta in deltas.items()})
    return matrices


def per_class_table(matrices: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """ρ of every pair of Table 2 (and of SimEx in the other orientation) for every class c_k."""
    rows = available([*TABLE2_ROWS, *OTHER_ORIENTATION_METHODS.values()], matrices)
    columns = available(TABLE2_COLUMNS, matrices)
    series = {f"{row} vs {column}": per_class_rho(matrices[row], DIRECTIONS[row], matrices[column], DIRECTIONS[column])
              for row in rows for column in columns if row != column}
    frame = pd.DataFrame(series).T
    frame.index.name = "pair"
    frame.columns.name = ROW_NAME
    return frame


def table2_with_paper(ours: pd.DataFrame) -> pd.DataFrame:
    """Ours beside the paper's: for every column X, 'X (ours)' and 'X (paper)'.

    A row of SimEx in the other orientation sits beside the paper's row of the same method.
    """
    paper = PAPER_TABLE2.reindex(index=[PAPER_ROW.get(name, name) for name in ours.index], columns=ours.columns)
    paper.index = ours.index
    combined = {}
    for column in ours.columns:
        combined[f"{column} (ours)"] = ours[column]
        combined[f"{column} (paper)"] = paper[column]
    frame = pd.DataFrame(combined)
    frame.index.name = "method"
    return frame


def table2_markdown(tables: Sequence[tuple[str, pd.DataFrame]], notes: Sequence[str] = ()) -> str:
    """Tables 2 (from ``table2_with_paper``) as Markdown under their captions: 'ours (paper)' in each cell."""

    def cell(value: float) -> str:
        return "n/a" if pd.isna(value) else f"{value:.3f}"

    lines: list[str] = []
    for caption, combined in tables:
        columns = [c[: -len(" (ours)")] for c in combined.columns if c.endswith(" (ours)")]
        rows = [[method, *(f"{cell(row[f'{c} (ours)'])} ({cell(row[f'{c} (paper)'])})" for c in columns)]
                for method, row in combined.iterrows()]
        lines += [caption, "", markdown_table(["method", *columns], rows)]
    lines += list(notes)
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- Fig. 1a


def delta_ordering(delta: pd.DataFrame, reference: int, classes: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """(c_i, Δ(c_i | reference)) for ``classes`` (default: all), smallest Δ first."""
    row = delta.loc[str(reference)]
    chosen = [str(c) for c in (classes if classes is not None else [int(c) for c in row.index])]
    missing = [c for c in chosen if c not in row.index]
    if missing:
        raise InterclassError(f"classes {missing} are not in the Δ table")
    return sorted(((int(c), float(row[c])) for c in chosen), key=lambda item: item[1])


def ordering_text(ordering: Sequence[tuple[int, float]], reference: int, with_values: bool = True) -> str:
    parts = [f"Δ({c}|{reference})" + (f" = {v:.4f}" if with_values else "") for c, v in ordering]
    return " < ".join(parts)


def first_samples(images: np.ndarray, labels: np.ndarray, digits: Sequence[int], per_digit: int) -> dict[int, np.ndarray]:
    """The first ``per_digit`` test samples of every digit, in the order given."""
    chosen = {}
    for digit in digits:
        members = images[labels == digit][:per_digit]
        if len(members) < per_digit:
            raise InterclassError(f"only {len(members)} test samples of class {digit}, {per_digit} wanted")
        chosen[digit] = members
    return chosen


@torch.inference_mode()
def reconstruct(model: nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """A(x) as float images in [0, 1], shape (N, 28, 28)."""
    model.eval().to(device)
    return map_images(model, images, device).squeeze(1).float().cpu().numpy()
