"""The difficulty check: disjoint balanced splits, the SVM's protocol, the table and its orders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from simex.config import Training
from simex.experiments.difficulty import (PUBLISHED_SVM_RBF_ERROR, DifficultyError, difficulty_markdown, difficulty_table,
                              lenet_error, orders_match, svm_error, three_splits)
from simex.analysis.plots import samples_figure


def separable(per_class: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes, each a bright bar at its own row, plus uniform noise of amplitude ``noise``."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), per_class)
    images = rng.uniform(0, noise, size=(len(labels), 28, 28))
    for index, label in enumerate(labels):
        images[index, 2 + 2 * label : 4 + 2 * label, 4:24] += 200
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def test_three_splits_are_balanced_disjoint_and_seeded():
    images, labels = separable(12, 30)
    splits = three_splits(images, labels, {"train": 6, "valid": 2, "test": 4}, seed=1)
    for name, count in (("train", 6), ("valid", 2), ("test", 4)):
        assert np.bincount(splits[name][1]).tolist() == [count] * 10
    seen = [{image.tobytes() for image in splits[name][0]} for name in splits]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    again = three_splits(images, labels, {"train": 6, "valid": 2, "test": 4}, seed=1)
    np.testing.assert_array_equal(splits["test"][0], again["test"][0])
    with pytest.raises(DifficultyError, match="class 0 has 12 samples; the difficulty check needs 13"):
        three_splits(images, labels, {"train": 7, "valid": 2, "test": 4}, seed=1)


def test_svm_and_lenet_errors_grow_with_the_noise():
    pytest.importorskip("sklearn")
    errors = {}
    for noise in (10, 255 * 4):
        splits = three_splits(*separable(20, noise), {"train": 10, "valid": 4, "test": 6}, seed=0)
        errors[noise] = svm_error(splits, [1, 10], [1])
        assert errors[noise]["C"] in (1, 10) and len(errors[noise]["grid"]) == 2
    assert errors[10]["test_error"] == 0.0 and errors[255 * 4]["test_error"] > 0.5
    section = Training.from_dict({"optimizer": "rmsprop", "lr": 0.003, "epochs": 15, "batch_size": 16, "patience": 0,
                                  "validation_fraction": 0, "steps": None})
    clean = lenet_error(three_splits(*separable(20, 10), {"train": 10, "valid": 4, "test": 6}, seed=0), section, 0, torch.device("cpu"))
    assert clean["test_error"] < 0.3 and clean["epochs"] == 15


def record(label: str, svm: float, lenet: float, provenance: str = "regenerated") -> dict:
    return {"label": label, "name": label, "provenance": provenance, "sizes": {"train": 10, "valid": 2, "test": 5},
            "svm": {"test_error": svm, "C": 10.0, "gamma_factor": 1.0}, "lenet": {"test_error": lenet}}


def test_table_sets_our_errors_beside_the_published_and_checks_the_order():
    records = {"M": record("M", 0.03, 0.02, "original"), "R": record("R†", 0.12, 0.08),
               "BR": record("BR†", 0.16, 0.30), "B": record("B†", 0.20, 0.10), "RBI": record("RBI†", 0.50, 0.40),
               "E": record("E*", 0.10, 0.09, "stand-in")}
    table = difficulty_table(records)
    assert table.loc["R†", "published_svm_rbf_error"] == PUBLISHED_SVM_RBF_ERROR["R"] == 11.11
    assert table.loc["B†", "svm_rbf_error"] == pytest.approx(20.0) and pd.isna(table.loc["E*", "svm_rank"])
    assert orders_match(table, "svm_rbf_error") and not orders_match(table, "lenet5_error")
    markdown = difficulty_markdown(table)
    assert "- published SVM_rbf: M < R† < BR† < B† < RBI†" in markdown
    assert "our SVM_rbf: M < R† < BR† < B† < RBI† (matches" in markdown
    assert "our LeNet-5: M < R† < B† < BR† < RBI† (does not match" in markdown
    assert "| E* | E* | – | 10.00 | 9.00 |" in markdown


def test_samples_figure_has_a_row_per_dataset_with_its_marker():
    images, _ = separable(1, 10)
    figure = samples_figure([("M", "MNIST", images, [str(i) for i in range(10)]),
                             ("R†", "mnist-rot", images[:7], [str(i) for i in range(7)])])
    axes = figure.axes
    assert len(axes) == 20 and axes[0].get_ylabel() == "M\nMNIST" and axes[10].get_ylabel() == "R†\nmnist-rot"
    assert not axes[19].axison  # R† has seven classes: the rest of its row is empty
    assert "† regenerated" in figure._suptitle.get_text()
