"""The augmentation experiment (§5.3, Fig. 7): training sets, grid checks, runs, and the e2e artifacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from simex.experiments.augmentation import (
    MNIST_SOURCE,
    NO_BORROWING,
    REFERENCE_SOURCE,
    AugmentationConfigError,
    benefit_table,
    check_grid,
    class_orders,
    classifier_train_config,
    mnist_orders,
    reference_orders,
    run_borrowing,
    run_reference,
    benefit_markdown,
    mnist_test_set,
    training_set,
)
from simex.config import AugmentationClassifier, Grid, train_per_class
from simex.data.acquire import balanced_split
from simex.training.loop import classifier_batch_loss, train

CPU = torch.device("cpu")


def tagged_split(n_classes: int, per_class: int, dataset_tag: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose pixels say where they came from: [0,0] dataset, [0,1] class, [0,2] index."""
    labels = np.repeat(np.arange(n_classes), per_class)
    np.random.default_rng(dataset_tag).shuffle(labels)
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    images[:, 0, 0] = dataset_tag
    images[:, 0, 1] = labels
    images[:, 0, 2] = np.arange(len(labels))
    images[:, 5:20, 5:20] = (labels * 9)[:, None, None]  # something to learn
    return images, labels.astype(np.int64)


def test_borrowed_samples_carry_the_paired_mnist_label_and_come_from_the_paired_class():
    mnist, letters = tagged_split(10, 20, dataset_tag=1), tagged_split(26, 15, dataset_tag=2)
    rng = np.random.default_rng(0)
    m_orders, y_orders = class_orders(mnist[1], 10, rng), class_orders(letters[1], 26, rng)
    pairs = {i: 25 - 2 * i for i in range(10)}  # 0←z, 1←x, ...
    data = training_set(mnist, m_orders, 7, letters, y_orders, pairs, 4)
    assert len(data.labels) == 10 * (7 + 4)
    borrowed = data.source == REFERENCE_SOURCE
    # Every borrowed sample is an image of Y's class pairs[i], trained as MNIST class i.
    assert np.all(data.images[borrowed, 0, 0] == 2)
    assert np.all(data.images[borrowed, 0, 1] == [pairs[i] for i in data.labels[borrowed]])
    assert np.all(data.source_class[borrowed] == [pairs[i] for i in data.labels[borrowed]])
    assert np.array_equal(letters[0][data.source_index[borrowed]], data.images[borrowed])
    # The MNIST samples keep their own label.
    own = data.source == MNIST_SOURCE
    assert np.all(data.images[own, 0, 0] == 1) and np.all(data.images[own, 0, 1] == data.labels[own])
    for i in range(10):
        assert np.sum(own & (data.labels == i)) == 7
        assert np.sum(borrowed & (data.labels == i)) == 4
        assert len(set(data.source_index[borrowed & (data.labels == i)])) == 4  # no sample twice


def test_subsets_are_nested_across_the_grid_and_shared_by_methods():
    mnist, reference = tagged_split(10, 30, 1), tagged_split(10, 30, 3)
    m_orders, y_orders = mnist_orders(mnist[1], 7, 0), reference_orders(reference[1], 10, 7, "B", 0)
    small = training_set(mnist, m_orders, 5, reference, y_orders, {i: i for i in range(10)}, 3)
    large = training_set(mnist, m_orders, 10, reference, y_orders, {i: i for i in range(10)}, 8)
    assert set(small.source_index[small.source == 0]) <= set(large.source_index[large.source == 0])
    assert set(small.source_index[small.source == 1]) <= set(large.source_index[large.source == 1])
    swapped = training_set(mnist, m_orders, 5, reference, y_orders, {**{i: i for i in range(10)}, 1: 8, 8: 1}, 3)
    # Class 8's samples borrowed for MNIST 1 are the ones the identity pairing borrows for MNIST 8.
    assert set(swapped.source_index[(swapped.source == 1) & (swapped.labels == 1)]) == \
        set(small.source_index[(small.source == 1) & (small.labels == 8)])
    assert not np.array_equal(mnist_orders(mnist[1], 7, 0)[0], mnist_orders(mnist[1], 7, 1)[0])  # trials differ


def test_asking_for_more_samples_than_a_class_holds_is_a_clear_error():
    mnist, reference = tagged_split(10, 5, 1), tagged_split(10, 5, 3)
    orders = class_orders(reference[1], 10, np.random.default_rng(0))
    with pytest.raises(AugmentationConfigError, match="reference class 0 has 5 train samples, 6 requested"):
        training_set(mnist, orders, 2, reference, orders, {i: i for i in range(10)}, 6)
    with pytest.raises(AugmentationConfigError, match=r"borrow 60 samples per class from E, whose train split holds 57"):
        check_grid(Grid((10,), (10, 60), 1), {"M": 150, "E": 57, "B": 150})
    with pytest.raises(AugmentationConfigError, match="n_mnist asks for 200"):
        check_grid(Grid((200,), (10,), 1), {"M": 150})
    check_grid(Grid((10, 50), (10, 25, 50), 2), {"M": 150, "E": 57})


@pytest.mark.parametrize("code, expected", [("M", 150), ("E", 57)])
def test_train_per_class_matches_the_prepared_split(code, expected):
    n_classes = 26 if code == "E" else 10
    images, labels = tagged_split(n_classes, 200, 1)
    splits = balanced_split(images, labels, code, 1800, 5, seed=0)
    assert np.bincount(splits["train"][1]).min() == train_per_class(code, 1800, 5) == expected


def test_every_training_set_gets_the_same_number_of_optimizer_steps():
    settings = AugmentationClassifier("rmsprop", 1e-3, 40, 32)
    for n_train in (100, 1000):  # 4 and 32 steps an epoch
        config = classifier_train_config(settings, seed=0)
        assert config.steps == 40 and config.epochs_for(n_train) * 32 >= 40
    small, large = tagged_split(10, 10, 1), tagged_split(10, 100, 2)
    counts = []
    for images, labels in (small, large):
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
        optimizer_steps = []
        model.register_forward_hook(lambda *_: optimizer_steps.append(1))
        train_data = (torch.from_numpy(images).float().unsqueeze(1), torch.from_numpy(labels))
        train(model, classifier_batch_loss, train_data, classifier_train_config(settings, 0), CPU)
        counts.append(len(optimizer_steps))
    assert counts == [40, 40]


def raw_mnist_like() -> tuple[np.ndarray, np.ndarray]:
    """60 'train' rows then 40 'test' rows (4 a class), every image distinct."""
    labels = np.concatenate([np.arange(60) % 10, np.arange(40) % 10]).astype(np.int64)
    images = np.zeros((100, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(100)
    return images, labels


def test_mnist_test_set_is_the_published_test_split_less_every_digit_training_may_have_seen():
    images, labels = raw_mnist_like()
    train_images = images[[3, 65, 66]]  # M's train split holds two test rows (classes 5 and 6)
    seen_rows = np.array([70, 10])  # a regenerated dataset was made from test row 70 (class 0) and train row 10
    test_images, test_labels = mnist_test_set(images, labels, 60, seen_rows, train_images, None)
    rows = test_images[:, 0, 0].astype(int)
    assert rows.min() >= 60 and not {65, 66, 70} & set(rows.tolist())
    assert np.bincount(test_labels).tolist() == [3] * 10  # balanced to the scarcest class
    assert np.bincount(mnist_test_set(images, labels, 60, seen_rows, train_images, 2)[1]).tolist() == [2] * 10
    with pytest.raises(AugmentationConfigError, match="holds 3 of its scarcest class"):
        mnist_test_set(images, labels, 60, seen_rows, train_images, 4)


def test_runs_share_training_for_identical_pairings_and_reference_rows_borrow_nothing():
    mnist, test, reference = tagged_split(10, 12, 1), tagged_split(10, 3, 4), tagged_split(10, 12, 3)
    grid, settings = Grid((2,), (1, 3), 1), AugmentationClassifier("adam", 1e-3, 2, 32)
    identity = {i: i for i in range(10)}
    runs = run_borrowing(mnist, test, reference, 10, "B", "B†", {"SimEx-MSE": identity, "sample-MSE": dict(identity)},
                         grid, settings, 5, CPU)
    assert len(runs) == 4 and set(runs["n_train"]) == {30, 50}
    simex, sample = (runs[runs["method"] == m].set_index("n_borrowed")["accuracy"] for m in ("SimEx-MSE", "sample-MSE"))
    assert simex.equals(sample)
    none = run_reference(mnist, test, grid, settings, 5, CPU)
    assert list(none["method"]) == [NO_BORROWING] and none["n_borrowed"].tolist() == [0]
    assert none["n_train"].tolist() == [20] and ((none["accuracy"] >= 0) & (none["accuracy"] <= 1)).all()


def test_benefit_is_the_gain_over_no_borrowing_of_the_same_trial_with_min_max_over_trials():
    def run(method: str, dataset: str, trial: int, n_borrowed: int, accuracy: float) -> dict:
        return {"method": method, "Y": dataset and dataset + "†", "dataset": dataset, "n_mnist": 10,
                "n_borrowed": n_borrowed, "trial": trial, "accuracy": accuracy}

    runs = pd.DataFrame([
        run(NO_BORROWING, "", 0, 0, 0.5), run(NO_BORROWING, "", 1, 0, 0.7),
        run("SimEx-MSE", "B", 0, 10, 0.6), run("SimEx-MSE", "B", 0, 50, 0.8),  # gains +0.1, +0.3
        run("SimEx-MSE", "B", 1, 10, 0.7), run("SimEx-MSE", "B", 1, 50, 0.8),  # gains 0, +0.1
        run("SimEx-MSE", "F", 0, 50, 0.4), run("SimEx-MSE", "F", 1, 50, 0.6),  # gains -0.1, -0.1
    ])
    table = benefit_table(runs).set_index("dataset")
    assert table.loc["B", "gain_at_max"] == pytest.approx(0.2)
    assert (table.loc["B", "gain_at_max_min"], table.loc["B", "gain_at_max_max"]) == pytest.approx((0.1, 0.3))
    assert table.loc["B", "gain_all"] == pytest.approx(0.125)
    assert (table.loc["B", "gain_all_min"], table.loc["B", "gain_all_max"]) == pytest.approx((0.05, 0.2))
    assert table.loc["F", "gain_all"] == pytest.approx(-0.1)
    assert table.loc["B", "rank"] == 1 and table.loc["F", "rank"] == 2
    assert table.loc["B", "paper_rank"] == 1 and table.loc["F", "paper_rank"] == 4
    text = benefit_markdown(table.reset_index())
    assert "| SimEx-MSE | +0.125 [+0.050, +0.200] | −0.100 [−0.100, −0.100] | B† > F† |" in text


def test_benefit_needs_the_no_borrowing_run_of_every_trial():
    runs = pd.DataFrame([
        {"method": NO_BORROWING, "Y": "", "dataset": "", "n_mnist": 10, "n_borrowed": 0, "trial": 0, "accuracy": 0.5},
        {"method": "SimEx-MSE", "Y": "B†", "dataset": "B", "n_mnist": 10, "n_borrowed": 10, "trial": 1, "accuracy": 0.6},
    ])
    with pytest.raises(AugmentationConfigError, match="no run without borrowing"):
        benefit_table(runs)


@pytest.mark.e2e
def test_tiny_run_pairings_and_augmentation_tables(tiny_run):
    tables = tiny_run / "results" / "tables"
    pairings = pd.read_csv(tables / "pairings.csv")
    assert set(pairings["method"]) == {"SimEx-MSE", "sample-MSE", "embeddings"}
    assert "E*" in set(pairings["Y"])  # the stand-in is marked
    for (method, dataset), part in pairings.groupby(["method", "dataset"]):
        assert sorted(part["i"]) == list(range(10)), (method, dataset)
        assert part["k"].is_unique and part["k"].between(0, 25 if dataset == "E" else 9).all()
        assert np.isfinite(part["score"]).all()
    scores = pd.read_csv(tables / "pairing_scores.csv")
    assert len(scores) == 3 * 10 * (26 + 10 + 10 + 10)
    assert (tables / "pairings_emnist.md").read_text().count("\n|") >= 11
    runs = pd.read_csv(tables / "augmentation.csv", keep_default_na=False)
    borrowed = runs[runs["method"] != NO_BORROWING]
    assert len(borrowed) == 3 * 4 * 1 * 2 * 1  # methods × Y × n_mnist × n_borrowed × trials
    assert len(runs) - len(borrowed) == 1
    assert runs["accuracy"].between(0, 1).all()
    assert (runs["n_train"] == 10 * (runs["n_mnist"] + runs["n_borrowed"])).all()
    # tested on MNIST's published test split (far more than the prepared 3 a class), every run with the same steps
    assert (runs["n_test"] > 1000).all() and runs["steps"].nunique() == 1
    assert "order of Y by gain" in (tables / "augmentation_benefit.md").read_text()
    assert (tiny_run / "results" / "figures" / "fig7_augmentation.png").stat().st_size > 10_000
