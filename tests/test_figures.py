"""Figures show what they say: read back from the saved PNG (simex.base.artifacts.read_figure_contents)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simex.analysis.plots import inter_dataset_figure
from simex.base.artifacts import read_figure_contents, save_figure
from tests.fixtures import dataset_order_problems

SHEET = ["M", "E*", "R†", "B†", "F"]  # the dataset sheet's order, the paper's


def matrix(labels: list[str], rows: str, columns: str, seed: int) -> pd.DataFrame:
    frame = pd.DataFrame(np.random.default_rng(seed).uniform(0.1, 1.0, (len(labels), len(labels))), index=labels,
                         columns=labels)
    frame.index.name, frame.columns.name = rows, columns
    return frame


def test_fig4c_follows_panels_a_and_b_whatever_order_its_matrix_has(tmp_path: Path) -> None:
    deltas = {loss: matrix(SHEET, "autoencoder A(Y)", "input X", seed) for seed, loss in enumerate(("mse", "issim"))}
    alphabetical = sorted(SHEET)  # as the transfer records list the datasets
    transfer = matrix(alphabetical, "base classifier B(Y)", "retrained on X", 2)
    save_figure(tmp_path / "fig4.png", inter_dataset_figure(deltas, transfer))
    shown = read_figure_contents(tmp_path / "fig4.png")
    assert [panel["title"] for panel in shown["panels"]] == [
        "(a) SimEx, MSE: Δ(X|Y)", "(b) SimEx, iSSIM: Δ(X|Y)", "(c) transferred accuracy (normalised)"]
    for panel in shown["panels"]:
        assert panel["xticks"] == SHEET and panel["yticks"] == SHEET
    assert [(p["xlabel"], p["ylabel"]) for p in shown["panels"]] == [("input X", "autoencoder A(Y)")] * 2 + [
        ("retrained on X", "base classifier B(Y)")]
    assert any("regenerated from MNIST" in text for text in shown["texts"])  # the markers' legend
    assert dataset_order_problems(shown, SHEET) == []
    # the values move with their labels: panel (c)'s cell (B†, E*) is the matrix's
    figure = inter_dataset_figure(deltas, transfer)
    panel_c = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"][2]
    image = panel_c.get_images()[0].get_array()
    assert image[SHEET.index("B†"), SHEET.index("E*")] == transfer.loc["B†", "E*"]


def test_the_order_check_finds_a_figure_out_of_the_sheets_order() -> None:
    shown = {"panels": [{"title": "Y = R†", "xlabel": "", "ylabel": "", "xticks": sorted(SHEET), "yticks": [],
                         "legend": []},
                        {"title": "Y = E*", "xlabel": "", "ylabel": "", "xticks": [], "yticks": [], "legend": []}],
             "texts": [], "legend": []}
    assert dataset_order_problems(shown, SHEET) == ["panel 0 xticks: ['B†', 'E*', 'F', 'M', 'R†']",
                                                     "panel titles: ['R†', 'E*']"]
