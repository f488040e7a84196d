"""Inter-class similarity within MNIST (§4 Fig. 1a, §5.4 Fig. 8, Table 2)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from simex.base.artifacts import load_classifier, save_classifier
from simex.experiments.interclass import (
    InterclassError,
    build_classifier,
    class_frame,
    confusion_row,
    delta_ordering,
    interclass_delta,
    NINE_CLASS_CLASSIFIERS,
    mean_pair_distance,
    mean_rho,
    nine_class_split,
    pair_indices,
    read_class_matrix,
    sample_distance_matrix,
    spearman_table,
    table2_markdown,
    table2_with_paper,
    train_nine_class,
    transposed,
    table2_matrices,
    OTHER_ORIENTATION_METHODS,
)
from simex.models.losses import SSIMWindow, per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.inference.similarity import per_sample_errors
from simex.training.loop import TrainConfig

CPU = torch.device("cpu")


def labelled_images(n_classes: int = 10, per_class: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    return images, labels


# --------------------------------------------------------------------------- 9-class training sets


@pytest.mark.parametrize("excluded", range(10))
def test_nine_class_training_set_has_no_sample_of_the_held_out_class(excluded: int) -> None:
    images, labels = labelled_images()
    # Tag every image with its class in pixel (0, 0) so the samples can be traced.
    images[:, 0, 0] = labels
    chosen, targets, kept = nine_class_split(images, labels, excluded, 10)
    assert kept == [c for c in range(10) if c != excluded]
    original = chosen[:, 0, 0]
    assert excluded not in set(original.tolist())
    assert len(chosen) == len(images) - int((labels == excluded).sum())
    # targets renumber the kept classes 0..8 in order
    np.testing.assert_array_equal(np.asarray(kept)[targets], original)
    assert set(targets.tolist()) == set(range(9))


def test_nine_class_split_caps_samples_per_class_and_rejects_bad_input() -> None:
    images, labels = labelled_images(per_class=6)
    chosen, targets, _ = nine_class_split(images, labels, 3, 10, per_class=2, rng=np.random.default_rng(1))
    assert len(chosen) == 18 and np.all(np.bincount(targets) == 2)
    with pytest.raises(InterclassError, match="excluded class 10"):
        nine_class_split(images, labels, 10, 10)
    with pytest.raises(InterclassError, match=r"classes \[9\] have no samples"):
        nine_class_split(images[labels != 9], labels[labels != 9], 0, 10)


def test_trained_nine_class_classifier_never_saw_the_held_out_class(tmp_path: Path) -> None:
    images, labels = labelled_images(per_class=4)
    config = TrainConfig(optimizer="adam", lr=1e-3, epochs=1, batch_size=16, seed=3)
    model, kept, result, n_train = train_nine_class("lenet5", images, labels, 7, 10, config, CPU)
    assert 7 not in kept and n_train == 36 and len(result.history) == 1
    row = confusion_row(model, kept, images[labels == 7], 10, CPU)
    assert math.isnan(row[7]) and np.isclose(np.nansum(row), 1.0)
    save_classifier(tmp_path / "c7.pt", "lenet5", model, kept, {"excluded_class": 7})
    loaded, loaded_kept, metadata = load_classifier(tmp_path / "c7.pt", NINE_CLASS_CLASSIFIERS, InterclassError)
    assert loaded_kept == kept and metadata["excluded_class"] == 7
    np.testing.assert_allclose(confusion_row(loaded, loaded_kept, images[labels == 7], 10, CPU), row, rtol=1e-5)


def test_resnet18_is_adapted_to_one_channel_28x28() -> None:
    model = build_classifier("resnet18", 9).eval()
    assert model.conv1.in_channels == 1 and model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
    with torch.inference_mode():
        assert model(torch.rand(2, 1, 28, 28)).shape == (2, 9)
    with pytest.raises(InterclassError, match="unknown classifier architecture 'vgg'"):
        build_classifier("vgg", 9)


def test_load_classifier_names_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(InterclassError, match="no such classifier file"):
        load_classifier(tmp_path / "missing.pt", NINE_CLASS_CLASSIFIERS, InterclassError)
    torch.save({"architecture": "lenet5-autoencoder"}, tmp_path / "ae.pt")
    with pytest.raises(InterclassError, match="not a classifier checkpoint .architecture lenet5 or resnet18"):
        load_classifier(tmp_path / "ae.pt", NINE_CLASS_CLASSIFIERS, InterclassError)


# --------------------------------------------------------------------------- sample-space baseline


def constant_images(values: list[int]) -> np.ndarray:
    return np.stack([np.full((28, 28), v, dtype=np.uint8) for v in values])


def test_sample_distance_known_answer() -> None:
    mse = per_sample_loss("mse")
    rng = np.random.default_rng(0)
    # pixels 0 and 51 (= 0.2) against 255 (= 1.0): ((1-0)^2 + (1-0.2)^2) / 2 = 0.82
    assert mean_pair_distance(constant_images([0, 51]), constant_images([255]), mse, 0, rng) == pytest.approx(0.82)
    # the 3x2 pairs of {0, 51, 102} x {0, 255}: mean of squared differences of the [0, 1] values
    a, b = [0.0, 0.2, 0.4], [0.0, 1.0]
    expected = np.mean([(x - y) ** 2 for x in a for y in b])
    assert mean_pair_distance(constant_images([0, 51, 102]), constant_images([0, 255]), mse, 0, rng) == pytest.approx(expected)


def test_sample_distance_matrix_orientation_and_diagonal() -> None:
    # class c has constant images of value 25*c; distances grow with |c_k - c_i|
    reference = constant_images([25 * c for c in range(10) for _ in range(3)])
    reference_labels = np.repeat(np.arange(10), 3)
    inputs, input_labels = reference[::-1].copy(), reference_labels[::-1].copy()
    matrix = sample_distance_matrix(reference, reference_labels, inputs, input_labels, per_sample_loss("mse"), 10, 0, 0)
    expected = np.array([[(25 * (k - i) / 255) ** 2 for i in range(10)] for k in range(10)])
    np.testing.assert_allclose(matrix.to_numpy(), expected, atol=1e-7)
    four = reference_labels < 4
    issim = sample_distance_matrix(reference[four], reference_labels[four], reference[four], reference_labels[four],
                                   per_sample_loss("issim", SSIMWindow.default()), 4, 0, 0)
    np.testing.assert_allclose(np.diag(issim.to_numpy()), 0.0, atol=1e-5)
    assert (issim.to_numpy()[~np.eye(4, dtype=bool)] > 0).all()


def test_pair_subsample_is_seeded_distinct_and_within_bounds() -> None:
    ia, ib = pair_indices(30, 7, 50, np.random.default_rng(5))
    assert len(ia) == 50 and len(set(zip(ia.tolist(), ib.tolist()))) == 50
    assert ia.max() < 30 and ib.max() < 7
    ja, jb = pair_indices(30, 7, 50, np.random.default_rng(5))
    np.testing.assert_array_equal(ia, ja)
    np.testing.assert_array_equal(ib, jb)
    ka, _ = pair_indices(3, 4, 50, np.random.default_rng(5))
    assert len(ka) == 12  # fewer pairs than the budget: all of them


# --------------------------------------------------------------------------- Δ(c_i | c_k)


def test_interclass_delta_rows_are_autoencoders_columns_inputs() -> None:
    # Row k must hold A(c_k)'s errors and column i class i's inputs: compared with the plain
    # per-sample path (one autoencoder, one class at a time) on distinct random autoencoders.
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 10)
    autoencoders = {}
    for k in range(3):
        torch.manual_seed(k)
        autoencoders[k] = LeNet5AutoEncoder().eval()
    matrix = interclass_delta(autoencoders, images, labels, per_sample_loss("mse"), CPU)
    expected = np.array([[per_sample_errors(autoencoders[k], images[labels == i], per_sample_loss("mse"), CPU).mean()
                          for i in range(3)] for k in range(3)])
    np.testing.assert_allclose(matrix.to_numpy(), expected, rtol=1e-5)
    assert list(matrix.index) == ["0", "1", "2"] and len(set(np.round(expected.ravel(), 6))) == 9


# --------------------------------------------------------------------------- Table 2


def test_mean_rho_of_hand_made_matrices() -> None:
    # 3 classes: each row orders the other two. Row 0: Δ ascending says 1 before 2 and confusion
    # descending agrees (ρ = 1); row 1: they disagree (ρ = -1); row 2: agree (ρ = 1). Mean 1/3.
    delta = class_frame(np.array([[0.0, 0.1, 0.2], [0.5, 0.0, 0.1], [0.3, 0.4, 0.0]]), [0, 1, 2])
    confusion = class_frame(np.array([[np.nan, 0.7, 0.3], [0.8, np.nan, 0.2], [0.6, 0.4, np.nan]]), [0, 1, 2])
    assert mean_rho(delta, "ascending", confusion, "descending") == pytest.approx(1 / 3)


def test_mean_rho_over_four_classes_known_value() -> None:
    # Row k orders the other three classes. a (ascending) always ranks them in column order;
    # b (descending) ranks them so that the per-row ρ is 1, 0.5, -0.5, -1: mean 0.
    a = class_frame(np.array([
        [0, 1, 2, 3],
        [1, 0, 2, 3],
        [1, 2, 0, 3],
        [1, 2, 3, 0],
    ], dtype=float), [0, 1, 2, 3])
    b = class_frame(np.array([
        [9, 3, 2, 1],  # others 1, 2, 3 ranked 1st, 2nd, 3rd: same order, ρ = 1
        [3, 9, 1, 2],  # others 0, 2, 3 ranked 1st, 3rd, 2nd: ρ = 0.5
        [2, 1, 9, 3],  # others 0, 1, 3 ranked 2nd, 3rd, 1st: ρ = -0.5
        [1, 2, 3, 9],  # others 0, 1, 2 ranked 3rd, 2nd, 1st: reversed, ρ = -1
    ], dtype=float), [0, 1, 2, 3])
    assert mean_rho(a, "ascending", b, "descending") == pytest.approx(0.0)
    assert mean_rho(a, "ascending", a, "ascending") == pytest.approx(1.0)


def test_spearman_table_shape_self_pairs_and_paper_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    matrices = {name: class_frame(rng.random((10, 10)), range(10)) for name in
                ["SimEx-MSE", "SimEx-iSSIM", "sample-MSE", "sample-iSSIM", "9class-Le5", "9class-Res18"]}
    ours = spearman_table(matrices)
    assert list(ours.index) == ["SimEx-MSE", "SimEx-iSSIM", "sample-MSE", "sample-iSSIM"]
    assert list(ours.columns) == ["sample-MSE", "sample-iSSIM", "9class-Le5", "9class-Res18"]
    assert math.isnan(ours.loc["sample-MSE", "sample-MSE"]) and math.isnan(ours.loc["sample-iSSIM", "sample-iSSIM"])
    assert np.isfinite(ours.loc["SimEx-MSE"]).all()
    combined = table2_with_paper(ours)
    assert combined.loc["SimEx-iSSIM", "sample-iSSIM (paper)"] == 0.804
    assert math.isnan(combined.loc["sample-MSE", "sample-iSSIM (paper)"])
    markdown = table2_markdown([("Table 2", combined)])
    assert "| SimEx-MSE |" in markdown and "(0.692)" in markdown and "n/a" in markdown


def test_table2_reads_simex_as_the_unknown_class_through_the_known_autoencoders() -> None:
    # Stored Δ(c_i|c_k): row k = A(c_k), column i = input c_i.
    delta = class_frame(np.array([[0.0, 0.1, 0.9], [0.5, 0.0, 0.2], [0.3, 0.4, 0.0]]), [0, 1, 2])
    sample = class_frame(np.array([[0.0, 0.2, 0.4], [0.3, 0.0, 0.6], [0.5, 0.1, 0.0]]), [0, 1, 2])
    # C_k meets the unknown c_k: row 0 confuses 0 with 1 most, row 1 with 2, row 2 with 0.
    confusion = class_frame(np.array([[np.nan, 0.7, 0.3], [0.2, np.nan, 0.8], [0.6, 0.4, np.nan]]), [0, 1, 2])
    matrices = table2_matrices({"SimEx-MSE": delta}, {"sample-MSE": sample}, {"9class-Le5": confusion})
    # Row k of Table 2's SimEx is Δ(c_k|c_i): c_k through A(c_i), i.e. column k of the stored matrix.
    assert matrices["SimEx-MSE"].loc["0"].tolist() == [0.0, 0.5, 0.3]
    assert matrices["sample-MSE"].loc["0"].tolist() == [0.0, 0.3, 0.5]
    assert matrices[OTHER_ORIENTATION_METHODS["SimEx-MSE"]].equals(delta)
    # row 0: Δ(0|1) = 0.5, Δ(0|2) = 0.3 -> 2 first, confusion -> 1 first: ρ = -1, and so on for every row
    ours = spearman_table(matrices)
    assert ours.loc["SimEx-MSE", "9class-Le5"] == pytest.approx(-1.0)
    other = spearman_table(matrices, rows=[OTHER_ORIENTATION_METHODS["SimEx-MSE"]], columns=["9class-Le5"])
    assert other.iloc[0, 0] == pytest.approx(1.0)  # the stored rows agree with the confusion here
    markdown = table2_markdown([("Table 2", table2_with_paper(ours)), ("other", table2_with_paper(other))])
    # the other orientation's row sits beside the paper's value for the same SimEx method
    assert "| SimEx-MSE, Δ(c_i\\|c_k) | 1.000 (0.639) |" in markdown
    assert "| SimEx-MSE | " in markdown and "-1.000 (0.639)" in markdown


def test_read_class_matrix_round_trip_and_shape_check(tmp_path: Path) -> None:
    frame = class_frame(np.arange(9.0).reshape(3, 3), [0, 1, 2])
    frame.to_csv(tmp_path / "m.csv")
    back = read_class_matrix(tmp_path / "m.csv")
    pd.testing.assert_frame_equal(back, frame)
    frame.iloc[:, :2].to_csv(tmp_path / "bad.csv")
    with pytest.raises(InterclassError, match="must be the same classes"):
        read_class_matrix(tmp_path / "bad.csv")


def test_delta_ordering_for_fig1a() -> None:
    matrix = class_frame(np.tile(np.array([0.5, 0.1, 0.9, 0.7, 0.0, 0.8, 0.2, 0.3, 0.6, 0.4]), (10, 1)), range(10))
    assert [c for c, _ in delta_ordering(matrix, 4, [7, 9, 3, 5])] == [7, 9, 3, 5]
    assert delta_ordering(matrix, 4)[0] == (4, 0.0)


# --------------------------------------------------------------------------- end to end


@pytest.mark.e2e
def test_tiny_run_makes_table2_with_finite_values_and_both_figures(tiny_run: Path) -> None:
    table = pd.read_csv(tiny_run / "results" / "tables" / "table2_spearman.csv", index_col=0)
    ours = table[[c for c in table.columns if c.endswith("(ours)")]]
    assert list(ours.index) == ["SimEx-MSE", "SimEx-iSSIM", "sample-MSE", "sample-iSSIM"]
    for row in ["SimEx-MSE", "SimEx-iSSIM"]:
        assert np.isfinite(ours.loc[row].to_numpy(dtype=float)).all(), table
    for row in ["sample-MSE", "sample-iSSIM"]:
        assert np.isfinite(ours.loc[row, ["9class-Le5 (ours)", "9class-Res18 (ours)"]].to_numpy(dtype=float)).all()
    assert (ours.abs().to_numpy(dtype=float)[np.isfinite(ours.to_numpy(dtype=float))] <= 1).all()
    assert (table["dataset"] == "M").all()
    markdown = (tiny_run / "results" / "tables" / "table2_spearman.md").read_text()
    assert "0.692" in markdown and "| SimEx-MSE, Δ(c_i\\|c_k) |" in markdown  # both orientations
    other = pd.read_csv(tiny_run / "results" / "tables" / "interclass" / "spearman_other_orientation.csv", index_col=0)
    assert list(other.index) == ["SimEx-MSE, Δ(c_i|c_k)", "SimEx-iSSIM, Δ(c_i|c_k)"]
    for figure in ["fig8_interclass_mnist.png", "fig1a_reconstructions.png"]:
        assert (tiny_run / "results" / "figures" / figure).stat().st_size > 10_000
    confusion = read_class_matrix(tiny_run / "results" / "tables" / "interclass" / "confusion_resnet18.csv")
    values = confusion.to_numpy()
    assert np.isnan(np.diag(values)).all()
    np.testing.assert_allclose(np.nansum(values, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("loss", ["mse", "issim"])
@pytest.mark.parametrize("max_pairs", [0, 37])
def test_pair_distance_by_name_equals_gathered_pairs(loss: str, max_pairs: int) -> None:
    """The pipeline's path (per-sample terms once per sample; MSE as a sparse product) gives the plain path's mean."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (9, 28, 28), dtype=np.uint8)
    b = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    plain = mean_pair_distance(a, b, per_sample_loss(loss), max_pairs, np.random.default_rng(5), batch_size=8)
    fast = mean_pair_distance(a, b, loss, max_pairs, np.random.default_rng(5), batch_size=8)
    assert fast == pytest.approx(plain, rel=1e-6)


def test_sample_distance_matrix_by_name_equals_plain() -> None:
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 4)
    for loss in ("mse", "issim"):
        plain = sample_distance_matrix(images, labels, images[::-1], labels[::-1], per_sample_loss(loss), 10, 5, 0)
        fast = sample_distance_matrix(images, labels, images[::-1], labels[::-1], loss, 10, 5, 0)
        np.testing.assert_allclose(fast.to_numpy(), plain.to_numpy(), rtol=1e-6)
