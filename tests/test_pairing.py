"""Cross-dataset class pairing (§5.3): the greedy step and the three scores, on known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from simex.models.losses import mse_per_sample
from simex.models.networks import LeNet5AutoEncoder
from simex.experiments.pairing import (
    EMBEDDINGS,
    SAMPLE_MSE,
    PairingError,
    by_class_table,
    greedy_pairs,
    mean_pairwise_distance,
    method_names,
    pairings_table,
    sample_mse_scores,
    score_frame,
    simex_scores,
)
from simex.analysis.tables import frame_markdown

CPU = torch.device("cpu")


def test_greedy_takes_the_smallest_first_and_resolves_conflicts():
    # Row 1's best column (0) is the global minimum; row 0 also prefers column 0 but must
    # take its next best among the unused columns.
    scores = np.array([[1.0, 2.0, 9.0],
                       [0.5, 3.0, 9.0],
                       [9.0, 9.0, 9.5]])
    pairs = greedy_pairs(scores)
    assert [(p.i, p.k, p.step) for p in pairs] == [(1, 0, 1), (0, 1, 2), (2, 2, 3)]
    assert pairs[0].score == 0.5


def test_greedy_on_a_rectangular_10x26_matrix_uses_each_row_and_column_once():
    rng = np.random.default_rng(0)
    scores = rng.uniform(1.0, 2.0, size=(10, 26))
    # Planted: every MNIST class i is closest to letter 2i+3 (distinct columns), except that
    # rows 4 and 5 compete for column 11; row 4 wins (0.01 < 0.02), row 5 gets column 20.
    expected = {i: 2 * i + 3 for i in range(10)}
    for i, k in expected.items():
        scores[i, k] = 0.1 + 0.01 * i
    scores[4, 11], scores[5, 11] = 0.01, 0.02
    expected[4] = 11
    scores[5, 13], scores[5, 20] = 1.5, 0.5  # row 5's own plant removed: its next best is 20
    expected[5] = 20
    pairs = greedy_pairs(scores)
    assert len(pairs) == 10
    assert {pair.i: pair.k for pair in pairs} == expected
    assert sorted(p.i for p in pairs) == list(range(10))
    columns = [p.k for p in pairs]
    assert len(set(columns)) == len(columns) == 10
    assert [p.score for p in pairs] == sorted(p.score for p in pairs)  # decided in increasing order


def test_greedy_with_more_rows_than_columns_and_ties_is_deterministic():
    pairs = greedy_pairs(np.zeros((4, 2)))
    assert [(p.i, p.k) for p in pairs] == [(0, 0), (1, 1)]


@pytest.mark.parametrize("bad", [np.array([[0.0, np.nan]]), np.zeros((0, 3)), np.zeros(4)])
def test_greedy_rejects_bad_matrices(bad):
    with pytest.raises(PairingError):
        greedy_pairs(bad)


def test_method_names_expand_simex_per_loss():
    assert method_names(["simex", "sample-mse", "embeddings"], ["mse", "issim"]) == [
        "SimEx-MSE", "SimEx-iSSIM", SAMPLE_MSE, EMBEDDINGS]
    with pytest.raises(PairingError, match="unknown pairing method"):
        method_names(["knn"], ["mse"])


def test_mean_pairwise_distance_known_answer():
    a = torch.tensor([[0.0, 0.0]])
    b = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert mean_pairwise_distance(a, b) == pytest.approx(2.5)
    assert mean_pairwise_distance(torch.zeros(5, 3), torch.ones(7, 3), chunk=2) == pytest.approx(np.sqrt(3))


def constant_images(values: list[int], n: int = 3) -> list[np.ndarray]:
    return [np.full((n, 28, 28), v, dtype=np.uint8) for v in values]


def test_sample_mse_scores_are_euclidean_distances_in_pixel_space():
    scores = sample_mse_scores(constant_images([0, 255]), constant_images([255, 0, 51]), CPU)
    # |v - w| / 255 per pixel over 784 pixels: distance = |v - w| / 255 * 28.
    expected = np.array([[28.0, 0.0, 5.6], [0.0, 28.0, 22.4]])
    assert scores == pytest.approx(expected, rel=1e-4, abs=1e-4)  # float32 distances


def constant_autoencoder(value: float) -> LeNet5AutoEncoder:
    """A LeNet-5 autoencoder whose every reconstruction is the grey ``value``: its last
    convolution has zero weights, so the output is sigmoid(bias) everywhere."""
    model = LeNet5AutoEncoder()
    last = model.layers()["conv_out"]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(float(np.log(value / (1 - value))))
    return model.eval()


def test_simex_scores_are_mean_errors_through_each_class_autoencoder():
    models = [constant_autoencoder(v) for v in (0.1, 0.9, 0.2)]
    scores = simex_scores(models, constant_images([0, 255]), mse_per_sample, CPU)
    assert scores == pytest.approx(np.array([[0.01, 0.81, 0.04], [0.81, 0.01, 0.64]]), rel=1e-5)
    assert [(p.i, p.k) for p in greedy_pairs(scores)] == [(0, 0), (1, 1)]


def test_pairings_table_carries_the_papers_pairs_and_the_by_class_table():
    scores = np.full((10, 10), 1.0)
    np.fill_diagonal(scores, 0.1)
    frame = pd.concat([score_frame(scores, "SimEx-MSE", "B", "B†", [str(d) for d in range(10)]),
                       score_frame(scores, "embeddings", "B", "B†", [str(d) for d in range(10)])])
    table = pairings_table(frame)
    assert list(table.columns[:5]) == ["method", "Y", "dataset", "i", "k"]
    simex = table[table["method"] == "SimEx-MSE"]
    assert (simex["k"] == simex["i"]).all() and (simex["paper_k"] == simex["i"]).all()
    assert table[table["method"] == "embeddings"]["paper_k"].isna().all()
    wide = by_class_table(table, "B", ["SimEx-MSE", "embeddings"])
    assert wide.loc[3, "SimEx-MSE"].startswith("3 (")
    text = frame_markdown(wide)
    assert text.splitlines()[0] == "| MNIST class i | SimEx-MSE | embeddings |"
    assert len(text.splitlines()) == 12
