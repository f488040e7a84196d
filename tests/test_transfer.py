"""The transfer-learning baseline (§5.1, Fig. 4c, Table 1): data, freezing, tables, and the e2e artifacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from simex.base.artifacts import load_classifier, save_classifier
from simex.models.networks import LeNet5Classifier
from simex.config import ProtocolError, Training, TransferProtocol, protocol_grid
from simex.training.loop import TrainConfig, images_to_tensor
from simex.experiments.transfer import (
    ARCHITECTURE,
    BASE_CLASSIFIER,
    PAPER_TABLE1,
    StageSettings,
    TransferError,
    accuracy,
    accuracy_matrix,
    balanced_subset,
    classifier_data,
    common_per_class,
    holdout,
    normalised_accuracy,
    normalized_delta,
    paper_order_note,
    per_target_markdown,
    per_target_table,
    per_target_view,
    spearman_rows,
    stage_summary,
    subset_per_class,
    table1,
    table1_markdown,
    train_base_classifier,
    transfer_all,
    transfer_classifier,
    transfer_on_features,
    transfers_on_features,
    variance_shares,
)

LABELS = {"M": "M", "E": "E*", "R": "R†", "B": "B†", "F": "F"}
CPU = torch.device("cpu")


def class_images(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable uint8 images: class k lights a bar at row 2k; labels balanced and interleaved."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row = 1 + 2 * (label % 13)
        images[i, row : row + 2, 4:24] = 255
    return images, labels.astype(np.int64)


def settings(epochs: int = 2, seed: int = 0, validation_fraction: float = 0.25, patience: int = 0) -> StageSettings:
    return StageSettings(TrainConfig("rmsprop", 1e-3, epochs, 16, seed, patience=patience), validation_fraction)


def square(values: list[list[float]], name: str = "input X") -> pd.DataFrame:
    labels = list(LABELS.values())
    frame = pd.DataFrame(values, index=labels, columns=labels)
    frame.columns.name = name
    return frame


# --- data ------------------------------------------------------------------------------


def test_letters_keep_their_first_ten_classes_a_to_j():
    images, labels = class_images(26 * 4, 26, seed=1)
    kept_images, kept_labels = classifier_data(images, labels, per_class=None)
    assert sorted(set(kept_labels.tolist())) == list(range(10))
    assert len(kept_labels) == 40
    assert np.array_equal(kept_images, images[labels < 10])


def test_balancing_cuts_every_dataset_to_the_smallest_per_class_count():
    letters = np.arange(26 * 3) % 26  # 3 per class
    digits = np.arange(10 * 7) % 10  # 7 per class
    assert common_per_class({"E": letters, "M": digits}) == 3
    images, labels = class_images(70, 10, seed=2)
    cut_images, cut_labels = balanced_subset(images, labels, 3)
    assert np.bincount(cut_labels).tolist() == [3] * 10
    assert np.array_equal(cut_images[0], images[0])  # the split's order is kept


def test_balancing_names_the_problem_when_a_class_is_missing():
    with pytest.raises(TransferError, match="have no samples"):
        common_per_class({"M": np.arange(9)})
    images, labels = class_images(20, 10, seed=3)
    with pytest.raises(TransferError, match="fewer than"):
        balanced_subset(images, labels, 3)


def test_holdout_keeps_the_last_fraction_for_validation_like_keras():
    images, labels = class_images(20, 10, seed=4)
    inputs = images_to_tensor(images)
    (train_x, train_y), (val_x, val_y) = holdout(inputs, labels, 0.25)
    assert len(train_x) == 15 and len(val_x) == 5
    assert torch.equal(val_y, torch.from_numpy(labels[15:]))
    assert holdout(inputs, labels, 0.0)[1] is None
    with pytest.raises(TransferError, match="validation_fraction"):
        holdout(inputs, labels, 1.0)


def test_n_samples_per_class_are_drawn_from_every_class_and_the_draw_is_seeded():
    images, labels = class_images(200, 10, seed=13)
    cut_images, cut_labels = subset_per_class(images, labels, 4, np.random.default_rng(0))
    assert np.bincount(cut_labels).tolist() == [4] * 10
    again, _ = subset_per_class(images, labels, 4, np.random.default_rng(0))
    assert np.array_equal(cut_images, again)
    other, _ = subset_per_class(images, labels, 4, np.random.default_rng(1))
    assert not np.array_equal(cut_images, other)
    assert subset_per_class(images, labels, None, np.random.default_rng(0))[0] is images
    with pytest.raises(TransferError, match="fewer than"):
        subset_per_class(images, labels, 21, np.random.default_rng(0))


def test_protocols_from_config_are_named_validated_and_crossed():
    assert TransferProtocol.from_dict({"samples_per_class": "all", "fc_init": "base", "frozen": "conv"}) == \
        TransferProtocol(None, "base", "conv")
    assert TransferProtocol(10, "reinit", "conv+fc1").name == "n10-reinit-conv+fc1"
    grid = protocol_grid({"samples_per_class": ["all", 10], "fc_init": ["base", "reinit"], "frozen": ["conv"]})
    assert sorted(grid) == ["all-base-conv", "all-reinit-conv", "n10-base-conv", "n10-reinit-conv"]
    with pytest.raises(ProtocolError, match="frozen"):
        TransferProtocol(None, "base", "fc")
    with pytest.raises(ProtocolError, match="non-empty"):
        protocol_grid({"samples_per_class": [], "fc_init": ["base"], "frozen": ["conv"]})


# --- training and freezing -------------------------------------------------------------


def test_transfer_freezes_the_convolutions_bit_for_bit_and_retrains_fc():
    images, labels = class_images(48, 10, seed=5)
    base, _ = train_base_classifier(images, labels, settings(epochs=1), CPU)
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    other_images, other_labels = class_images(48, 10, seed=6)
    other_labels = (other_labels + 3) % 10  # a different task on the same features
    model, result = transfer_classifier(base, other_images, other_labels, settings(epochs=2), CPU)
    assert len(result.history) == 2
    for name, value in model.features.state_dict().items():
        assert torch.equal(value, base.features.state_dict()[name]), name
    changed = [name for name, value in model.classifier.state_dict().items()
               if not torch.equal(value, base.classifier.state_dict()[name])]
    assert changed, "the FC layers were not retrained"
    for name, value in base.state_dict().items():  # the base network itself is untouched
        assert torch.equal(value, base_state[name]), name
    assert all(p.requires_grad for p in base.parameters())


def test_reinitialised_fc_differs_from_the_base_and_frozen_layers_stay_the_bases():
    images, labels = class_images(60, 10, seed=7)
    base, _ = train_base_classifier(images, labels, settings(epochs=1), CPU)
    for frozen, kept in (("conv", []), ("conv+fc1", ["0.weight", "0.bias"])):
        protocol = TransferProtocol(None, "reinit", frozen)
        # one step at a negligible rate: what is left is the initialisation itself
        tiny = StageSettings(TrainConfig("sgd", 1e-12, 1, 16, 0, steps=1), 0.0)
        model, _ = transfer_on_features(base, images, labels, tiny, CPU, protocol)
        for name, value in model.features.state_dict().items():
            assert torch.equal(value, base.features.state_dict()[name]), name
        for name, value in model.classifier.state_dict().items():
            same = torch.allclose(value, base.classifier.state_dict()[name])
            assert same == (name in kept), (frozen, name)


def test_transfer_on_features_equals_running_the_whole_network_every_step():
    images, labels = class_images(120, 10, seed=14)
    base, _ = train_base_classifier(images, labels, settings(epochs=1), CPU)
    other_images, other_labels = class_images(120, 10, seed=15)
    stage = settings(epochs=3, seed=4, patience=2)
    for fc_init in ("base", "reinit"):
        for frozen in ("conv", "conv+fc1"):
            plain, plain_result = transfer_classifier(base, other_images, other_labels, stage, CPU,
                                                      fc_init == "reinit", frozen)
            fast, fast_result = transfer_on_features(base, other_images, other_labels, stage, CPU,
                                                     TransferProtocol(None, fc_init, frozen))
            for name, value in plain.state_dict().items():
                assert torch.allclose(value, fast.state_dict()[name], atol=1e-6), (fc_init, frozen, name)
            assert [r.val_loss for r in plain_result.history] == pytest.approx([r.val_loss for r in fast_result.history])


def test_a_learnable_task_is_learned_and_early_stopping_is_summarised():
    images, labels = class_images(200, 10, seed=8)
    model, result = train_base_classifier(images, labels, settings(epochs=5, patience=2), CPU)
    test_images, test_labels = class_images(100, 10, seed=9)
    assert accuracy(model, test_images, test_labels, CPU) > 0.5  # chance is 0.1
    summary = stage_summary(result)
    assert summary["epochs_run"] == len(result.history)
    assert 1 <= summary["best_epoch"] <= summary["epochs_run"]
    assert summary["elapsed_to_best_s"] <= summary["elapsed_total_s"]


def test_transfer_all_respects_n_per_class_and_skips_the_base_itself():
    images, labels = class_images(60, 10, seed=10)
    bases = {"M": LeNet5Classifier(), "E": LeNet5Classifier()}
    data = (images, labels, images[:20], labels[:20])
    section = Training.from_dict({"optimizer": "rmsprop", "lr": 1e-3, "epochs": 1, "batch_size": 16, "patience": 0,
                                  "validation_fraction": 0.0, "steps": None})  # a validated config section
    every = TransferProtocol(None, "base", "conv")
    seeds = {(y, x): 1 + i for i, (y, x) in enumerate((y, x) for y in "ME" for x in "MEF")}
    results = transfer_all(bases, {"M": data, "E": data, "F": data}, section, seeds, {"M": 0, "E": 0, "F": 0}, every,
                           CPU)
    assert {y: set(row) for y, row in results.items()} == {"M": {"E", "F"}, "E": {"M", "F"}}
    assert all(0 <= r["accuracy"] <= 1 and r["n_train"] == 60 and r["n_test"] == 20
               for row in results.values() for r in row.values())
    few = transfer_all({"M": bases["M"]}, {"E": data}, section, seeds, {"E": 0}, TransferProtocol(3, "base", "conv"),
                       CPU)
    assert few["M"]["E"]["n_train"] == 30


def test_fused_transfers_equal_each_transfer_alone(float64):
    torch.set_num_threads(1)
    images, labels = class_images(90, 10, seed=21)
    bases = [train_base_classifier(images, labels, settings(epochs=1, seed=s), CPU)[0] for s in (1, 2)]
    targets = [class_images(n, 10, seed=22 + n) for n in (70, 53)]  # unequal sizes: unequal epochs, short batches
    for fc_init, frozen in (("base", "conv"), ("reinit", "conv+fc1")):
        protocol = TransferProtocol(None, fc_init, frozen)
        pairs = [(base, *target, settings(epochs=6, seed=10 * b + t, patience=2))
                 for b, base in enumerate(bases) for t, target in enumerate(targets)]
        fused = transfers_on_features(pairs, CPU, protocol)
        for (base, x, y, stage), (model, result) in zip(pairs, fused):
            alone, alone_result = transfer_on_features(base, x, y, stage, CPU, protocol)
            assert [r.epoch for r in result.history] == [r.epoch for r in alone_result.history]
            assert result.best_epoch == alone_result.best_epoch
            for name, value in alone.state_dict().items():
                torch.testing.assert_close(model.state_dict()[name], value, rtol=1e-9, atol=1e-9)


def test_classifier_round_trip_and_a_wrong_file_is_named(tmp_path):
    model = LeNet5Classifier()
    save_classifier(tmp_path / "m.pt", ARCHITECTURE, model, range(10), {"dataset": "M", "accuracy": 0.5})
    loaded, classes, metadata = load_classifier(tmp_path / "m.pt", BASE_CLASSIFIER, TransferError)
    assert metadata["accuracy"] == 0.5 and classes == list(range(10))
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name])
    torch.save({"architecture": "lenet5-autoencoder"}, tmp_path / "ae.pt")
    with pytest.raises(TransferError, match="not a classifier checkpoint"):
        load_classifier(tmp_path / "ae.pt", BASE_CLASSIFIER, TransferError)
    with pytest.raises(TransferError, match="no such classifier"):
        load_classifier(tmp_path / "missing.pt", BASE_CLASSIFIER, TransferError)


# --- tables ----------------------------------------------------------------------------


def records_from(raw: list[list[float]]) -> dict[str, dict]:
    codes = list(LABELS)
    return {base: {"base_accuracy": raw[i][i],
                   "targets": {x: {"accuracy": raw[i][j]} for j, x in enumerate(codes) if j != i}}
            for i, base in enumerate(codes)}


def test_accuracy_matrix_is_normalised_by_the_base_networks_own_accuracy():
    raw_values = [[0.9, 0.6, 0.3, 0.45, 0.72],
                  [0.5, 0.8, 0.4, 0.2, 0.1],
                  [0.5, 0.5, 0.5, 0.5, 0.5],
                  [0.8, 0.4, 0.2, 0.4, 0.1],
                  [0.2, 0.3, 0.4, 0.5, 1.0]]
    raw = accuracy_matrix(records_from(raw_values), LABELS)
    assert list(raw.index) == list(LABELS.values()) and list(raw.columns) == list(LABELS.values())
    normalised = normalised_accuracy(raw)
    assert np.allclose(np.diag(normalised), 1.0)
    assert normalised.loc["M", "E*"] == pytest.approx(0.6 / 0.9)
    assert normalised.loc["B†", "M"] == pytest.approx(2.0)  # transfer may beat the base
    records = records_from(raw_values)
    del records["R"]["targets"]["F"]
    with pytest.raises(TransferError, match="no transfer to F"):
        accuracy_matrix(records, LABELS)


def test_rho_of_an_ordering_against_itself_is_one_and_against_its_reverse_minus_one():
    rng = np.random.default_rng(11)
    delta = square(rng.uniform(0.01, 0.2, size=(5, 5)).tolist())
    same = square((1.0 - delta).to_numpy().tolist(), "retrained on X")  # smaller Δ, higher accuracy
    reverse = square(delta.to_numpy().tolist(), "retrained on X")  # smaller Δ, lower accuracy
    rho = spearman_rows({"mse": delta, "issim": delta}, same)
    assert np.allclose(rho.to_numpy(), 1.0)
    assert np.allclose(spearman_rows({"mse": delta}, reverse).to_numpy(), -1.0)


def test_accuracy_is_aligned_to_the_delta_tables_labels_before_ranking():
    rng = np.random.default_rng(12)
    delta = square(rng.uniform(0.01, 0.2, size=(5, 5)).tolist())
    accuracy_frame = square((1.0 - delta).to_numpy().tolist())
    shuffled = accuracy_frame.iloc[::-1, [2, 0, 4, 1, 3]]
    assert np.allclose(spearman_rows({"mse": delta}, shuffled).to_numpy(), 1.0)
    with pytest.raises(TransferError, match="different datasets"):
        spearman_rows({"mse": delta}, accuracy_frame.drop(columns="F"))


def test_table1_over_replicates_shows_mean_range_and_the_papers_values():
    rng = np.random.default_rng(16)
    delta = square(rng.uniform(0.01, 0.2, size=(5, 5)).tolist())
    same = square((1.0 - delta).to_numpy().tolist(), "retrained on X")
    reverse = square(delta.to_numpy().tolist(), "retrained on X")
    table = table1({"mse": delta, "issim": delta}, {"as_written": [same, reverse], "few_shot": [same, same, same]})
    both = table.set_index(["protocol", "self_entry", "loss", "base"])
    row = table[table["self_entry"] == "with"].set_index(["protocol", "loss", "base"])
    assert row.loc[("as_written", "mse", "M"), ["rho", "rho_min", "rho_max"]].tolist() == pytest.approx([0.0, -1.0, 1.0])
    assert row.loc[("few_shot", "issim", "mean"), "rho"] == pytest.approx(1.0)
    assert row.loc[("few_shot", "issim", "mean"), "replicates"] == 3
    assert row.loc[("few_shot", "mse", "mean"), "paper"] == pytest.approx(0.84)
    assert row.loc[("few_shot", "issim", "mean"), "paper"] == pytest.approx(0.92)
    assert row.loc[("few_shot", "mse", "B†"), "paper"] == PAPER_TABLE1["mse"]["B"]
    # without Y itself: the other four datasets only; chance 0 against 0.5 with it; the paper's implied value
    assert both.loc[("few_shot", "without", "issim", "mean"), "rho"] == pytest.approx(1.0)
    assert both.loc[("as_written", "without", "mse", "M"), ["rho_min", "rho_max"]].tolist() == pytest.approx([-1.0, 1.0])
    assert both.loc[("few_shot", "with", "mse", "M"), "chance"] == 0.5
    assert both.loc[("few_shot", "without", "mse", "M"), "chance"] == 0.0
    assert both.loc[("few_shot", "without", "issim", "mean"), "paper"] == pytest.approx(2 * 0.92 - 1)
    markdown = table1_markdown(table, {"as_written": "all-base-conv", "few_shot": "n10-base-conv"})
    assert "| few_shot | with | 0.50 | iSSIM | 1.00 [1.00, 1.00] | 0.90 |" in markdown
    assert "| few_shot | without | 0.00 | iSSIM | 1.00 [1.00, 1.00] | 0.80 |" in markdown
    assert "synthetic stand-in" in markdown and "regenerated" in markdown


def test_per_target_view_leaves_x_out_and_checks_the_top1_pick():
    delta = square([[0.0, 1, 2, 3, 4], [1, 0.0, 1, 2, 3], [2, 1, 0.0, 1, 2], [3, 2, 1, 0.0, 1], [4, 3, 2, 1, 0.0]])
    # accuracy ordered like Δ, except the diagonal, which must not matter
    raw = square((10 - delta).to_numpy().tolist(), "retrained on X")
    for i in range(5):
        raw.iloc[i, i] = -100.0
    view = per_target_view(delta, raw)
    assert view["rho"].tolist() == pytest.approx([1.0] * 5)
    assert view["top1_agrees"].all() and view.loc["M", "simex_pick"] == "E*"
    swapped = raw.copy()
    swapped.loc["E*", "M"], swapped.loc["R†", "M"] = raw.loc["R†", "M"], raw.loc["E*", "M"]
    view = per_target_view(delta, swapped)
    assert not view.loc["M", "top1_agrees"] and view.loc["M", "best_base"] == "R†"
    assert view.loc["M", "rho"] == pytest.approx(0.8)
    table = per_target_table({"mse": delta}, {"few_shot": [raw, swapped]})
    summary = table.set_index("target").loc["mean"]
    assert summary["top1_agrees"] == pytest.approx(4.5) and summary["top1_min"] == 4 and summary["top1_max"] == 5
    assert "top-1 agrees (of 5)" in per_target_markdown(table)


def test_variance_shares_tell_a_source_effect_from_a_target_effect():
    rng = np.random.default_rng(17)
    effect = rng.uniform(0, 1, size=5)
    by_source = square(np.repeat(effect[:, None], 5, axis=1).tolist())
    by_target = square(np.repeat(effect[None, :], 5, axis=0).tolist())
    assert variance_shares(by_source) == pytest.approx({"source": 1.0, "target": 0.0, "residual": 0.0}, abs=1e-9)
    assert variance_shares(by_target) == pytest.approx({"source": 0.0, "target": 1.0, "residual": 0.0}, abs=1e-9)
    mixed = variance_shares(square(rng.uniform(0, 1, size=(5, 5)).tolist()))
    assert sum(mixed.values()) == pytest.approx(1.0, abs=0.15)


def test_delta_is_normalised_by_the_mean_l2_norm_of_the_reference_dataset():
    delta = square([[float(i + j) for j in range(5)] for i in range(5)])
    norms = {label: 2.0 * (i + 1) for i, label in enumerate(LABELS.values())}
    normalised = normalized_delta(delta, norms)
    assert normalised.loc["R†", "F"] == pytest.approx((2 + 4) / 6.0)
    note = paper_order_note(normalised, list(normalised.index))
    assert note.startswith("Post-normalisation order for X = M: ours Δ(M|M) <")
    with pytest.raises(TransferError, match="no mean L2 norm"):
        normalized_delta(delta, {"M": 1.0})


# --- end to end ------------------------------------------------------------------------


@pytest.mark.e2e
def test_tiny_run_table1_and_transfer_matrix(tiny_run):
    tables = tiny_run / "results" / "tables"
    table = pd.read_csv(tables / "table1_spearman.csv")
    assert set(table["protocol"]) == {"as_written", "few_shot"} and set(table["loss"]) == {"mse", "issim"}
    assert set(table["self_entry"]) == {"with", "without"}
    ours = table[table["base"] != "mean"]
    assert len(ours) == 2 * 2 * 2 * 5 and "E*" in set(ours["base"])  # the stand-in is marked
    assert ((ours["rho_min"] <= ours["rho"]) & (ours["rho"] <= ours["rho_max"])).all()
    assert set(table["replicates"]) == {3}
    for _, row in ours[ours["self_entry"] == "with"].iterrows():
        assert row["paper"] == PAPER_TABLE1[row["loss"]][row["base"].rstrip("*†")]
    per_target = pd.read_csv(tables / "table1_per_target.csv")
    assert len(per_target) == 2 * 2 * 6  # protocols x losses x (five targets + mean)
    accuracy_frame = pd.read_csv(tables / "transfer_accuracy.csv", index_col=0)
    assert accuracy_frame.shape == (5, 5) and np.allclose(np.diag(accuracy_frame), 1.0)
    assert "E*" in (tables / "table1_spearman.md").read_text()
    assert pd.read_csv(tables / "delta_dataset_normalized.csv", index_col=0).shape == (5, 5)
    assert (tiny_run / "results" / "figures" / "fig4_inter_dataset.png").stat().st_size > 10_000
    assert (tiny_run / "results" / "figures" / "table1_per_target.png").stat().st_size > 10_000
