"""How hard each regenerated or stand-in dataset is, next to the published figures.

Larochelle et al. (ICML 2007, Table 1, and the companion page "variations on the MNIST
digits") classify every variant with an RBF SVM: 10,000 training and 2,000 validation
samples (C and γ chosen on the validation split, then the SVM retrained on both), tested
on 50,000. A regenerated variant that stands in for a published one should be about as
hard, and the variants should be ordered as published; LeNet-5 (the project's classifier)
shows the same order under the network that the transfer baseline uses.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from simex.config import Training
from simex.analysis.tables import markdown_table
from simex.base.errors import SimexError
from simex.base.formats import pixels_to_float

# Larochelle et al. (2007), SVM with an RBF kernel: test error (%) of each MNIST variant.
# mnist-basic is MNIST resplit 10k/2k/50k; R and RBI are the companion's corrected ("_new") data.
PUBLISHED_SVM_RBF_ERROR: dict[str, float] = {"M": 3.03, "R": 11.11, "BR": 14.58, "B": 22.61, "RBI": 55.18}
PUBLISHED_NAMES: dict[str, str] = {"M": "mnist-basic", "R": "mnist-rot", "BR": "mnist-back-rand",
                                   "B": "mnist-back-image", "RBI": "mnist-rot-back-image"}
PUBLISHED_SOURCE = "Larochelle et al., ICML 2007, Table 1 (SVM_rbf)"
log = logging.getLogger(__name__)
N_CLASSES = 10


class DifficultyError(SimexError, ValueError):
    pass


def three_splits(images: np.ndarray, labels: np.ndarray, sizes: Mapping[str, int],
                 seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Disjoint class-balanced train/valid/test splits of the first ten classes (``sizes``: a class each)."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    total = sum(sizes[name] for name in parts)
    for label in range(N_CLASSES):
        members = np.flatnonzero(labels == label)
        if len(members) < total:
            raise DifficultyError(f"class {label} has {len(members)} samples; the difficulty check needs {total} "
                                  f"({sizes['train']} train + {sizes['valid']} valid + {sizes['test']} test)")
        chosen = rng.choice(members, size=total, replace=False)
        parts["train"].append(chosen[: sizes["train"]])
        parts["valid"].append(chosen[sizes["train"] : sizes["train"] + sizes["valid"]])
        parts["test"].append(chosen[sizes["train"] + sizes["valid"] :])
    result = {}
    for name, pieces in parts.items():
        index = rng.permutation(np.concatenate(pieces))
        result[name] = (images[index], labels[index].astype(np.int64))
    return result


def pixels(images: np.ndarray) -> np.ndarray:
    """Flattened [0, 1] pixels, as in Larochelle's .amat files."""
    return pixels_to_float(images.reshape(len(images), -1), np.float64)


def svm_error(splits: Mapping[str, tuple[np.ndarray, np.ndarray]], C_values: Sequence[float],
              gamma_factors: Sequence[float]) -> dict[str, Any]:
    """RBF SVM: C and γ (a factor times scikit-learn's "scale", 1 / (784 · var X)) chosen on
    the validation split, then retrained on train + valid and tested (Larochelle's protocol)."""
    from sklearn.svm import SVC

    train_x, train_y = pixels(splits["train"][0]), splits["train"][1]
    valid_x, valid_y = pixels(splits["valid"][0]), splits["valid"][1]
    scale = 1.0 / (train_x.shape[1] * train_x.var())
    grid = []
    for C in C_values:
        for factor in gamma_factors:
            model = SVC(C=C, gamma=factor * scale, kernel="rbf").fit(train_x, train_y)
            grid.append({"C": float(C), "gamma_factor": float(factor),
                         "valid_error": float(1.0 - model.score(valid_x, valid_y))})
            log.info("SVM C %g, gamma factor %g: validation error %.4f", C, factor, grid[-1]["valid_error"])
    best = min(grid, key=lambda row: (row["valid_error"], row["C"], row["gamma_factor"]))
    both_x, both_y = np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y])
    scale_both = 1.0 / (both_x.shape[1] * both_x.var())
    model = SVC(C=best["C"], gamma=best["gamma_factor"] * scale_both, kernel="rbf").fit(both_x, both_y)
    test_error = float(1.0 - model.score(pixels(splits["test"][0]), splits["test"][1]))
    return {"test_error": test_error, "C": best["C"], "gamma_factor": best["gamma_factor"],
            "gamma": best["gamma_factor"] * scale_both, "valid_error": best["valid_error"], "grid": grid}


def lenet_error(splits: Mapping[str, tuple[np.ndarray, np.ndarray]], section: Training, seed: int,
                device: torch.device) -> dict[str, Any]:
    """LeNet-5 trained like the transfer baseline's base classifiers, early-stopped on the validation split."""
    from simex.models.networks import LeNet5Classifier
    from simex.training.loop import classifier_batch_loss, images_to_tensor, seed_everything, train, train_config
    from simex.experiments.transfer import accuracy

    config = train_config(section, seed)
    seed_everything(config.seed)
    model = LeNet5Classifier(N_CLASSES)
    training = (images_to_tensor(splits["train"][0]), torch.from_numpy(splits["train"][1]))
    validation = (images_to_tensor(splits["valid"][0]), torch.from_numpy(splits["valid"][1]))
    result = train(model, classifier_batch_loss, training, config, device, validation=validation)
    error = 1.0 - accuracy(model, splits["test"][0], splits["test"][1], device)
    return {"test_error": float(error), "epochs": len(result.history)}


def ranks(values: Mapping[str, float]) -> dict[str, int]:
    """1 = easiest (lowest error)."""
    order = sorted(values, key=lambda code: values[code])
    return {code: order.index(code) + 1 for code in values}


def difficulty_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row a dataset: our errors (%) beside the published SVM error, and both difficulty orders."""
    rows = []
    for code, record in records.items():
        rows.append({
            "dataset": record["label"], "code": code, "name": record["name"], "provenance": record["provenance"],
            "published_name": PUBLISHED_NAMES.get(code, ""),
            "published_svm_rbf_error": PUBLISHED_SVM_RBF_ERROR.get(code, np.nan),
            "svm_rbf_error": 100 * record["svm"]["test_error"],
            "lenet5_error": 100 * record["lenet"]["test_error"],
            "svm_C": record["svm"]["C"], "svm_gamma_factor": record["svm"]["gamma_factor"],
            "n_train": record["sizes"]["train"] * N_CLASSES, "n_valid": record["sizes"]["valid"] * N_CLASSES,
            "n_test": record["sizes"]["test"] * N_CLASSES,
        })
    table = pd.DataFrame(rows).set_index("dataset")
    published = table.dropna(subset=["published_svm_rbf_error"])
    for column, source in (("svm_rank", "svm_rbf_error"), ("lenet5_rank", "lenet5_error"),
                           ("published_rank", "published_svm_rbf_error")):
        table[column] = pd.Series(ranks(published[source].to_dict()), dtype="Int64")
    return table


def order_line(table: pd.DataFrame, column: str) -> str:
    published = table.dropna(subset=["published_svm_rbf_error"])
    return " < ".join(published.sort_values(column).index)


def orders_match(table: pd.DataFrame, column: str) -> bool:
    published = table.dropna(subset=["published_svm_rbf_error"])
    return list(published.sort_values(column).index) == list(published.sort_values("published_svm_rbf_error").index)


def difficulty_markdown(table: pd.DataFrame) -> str:
    def cell(value: float) -> str:
        return "–" if pd.isna(value) else f"{value:.2f}"

    first = table.iloc[0]
    lines = [
        "# Difficulty of each dataset: test error (%), ours beside the published",
        "",
        f"RBF SVM (scikit-learn SVC; C and γ chosen on the validation split, then retrained on train + valid) "
        f"and LeNet-5 (the project's classifier, early-stopped on the validation split), "
        f"{int(first['n_train'])} train / {int(first['n_valid'])} valid / {int(first['n_test'])} test samples "
        f"of ten classes per dataset. Published: {PUBLISHED_SOURCE}, 10,000 train / 2,000 valid / 50,000 test.",
        "",
        markdown_table(["dataset", "stands for", "published SVM_rbf", "our SVM_rbf", "our LeNet-5", "C", "γ factor"],
                       [[label, row["published_name"] or row["name"], cell(row["published_svm_rbf_error"]),
                         cell(row["svm_rbf_error"]), cell(row["lenet5_error"]), f"{row['svm_C']:g}",
                         f"{row['svm_gamma_factor']:g}"] for label, row in table.iterrows()]).rstrip("\n"),
        "",
        "Difficulty order of the variants with a published figure (easiest first):",
        "",
        f"- published SVM_rbf: {order_line(table, 'published_svm_rbf_error')}",
        f"- our SVM_rbf: {order_line(table, 'svm_rbf_error')} "
        f"({'matches' if orders_match(table, 'svm_rbf_error') else 'does not match'} the published order)",
        f"- our LeNet-5: {order_line(table, 'lenet5_error')} "
        f"({'matches' if orders_match(table, 'lenet5_error') else 'does not match'} the published order)",
        "",
        "† regenerated from MNIST by the published procedure; * synthetic stand-in.",
    ]
    return "\n".join(lines) + "\n"
