"""Figures in the paper's style: heatmaps where darker means more similar."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from simex.datasets import legend_lines  # noqa: E402


def heatmap(ax: Axes, matrix: pd.DataFrame, title: str, darker_is: str, value_format: str = "{:.3f}") -> None:
    """``darker_is`` 'low' (losses) or 'high' (accuracies); colours span the matrix's range."""
    cmap = "gray" if darker_is == "low" else "gray_r"
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap=cmap)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns)
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    ax.set_xlabel(matrix.columns.name or "")
    ax.set_ylabel(matrix.index.name or "")
    ax.set_title(title)
    low, high = image.get_clim()
    for (row, col), value in pd.DataFrame(matrix.to_numpy(dtype=float)).stack().items():
        shade = (value - low) / (high - low) if high > low else 0.5
        dark = shade < 0.5 if darker_is == "low" else shade > 0.5
        ax.text(col, row, value_format.format(value), ha="center", va="center", fontsize=7,
                color="white" if dark else "black")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)


def heatmap_figure(panels: Sequence[tuple[pd.DataFrame, str, str]], labels: Sequence[str]) -> Figure:
    """One row of heatmap panels (matrix, title, darker_is) with the provenance legend below."""
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    for ax, (matrix, title, darker_is) in zip(axes[0], panels):
        heatmap(ax, matrix, title, darker_is)
    notes = legend_lines(labels)
    if notes:
        figure.text(0.5, -0.02, "   ".join(notes), ha="center", va="top", fontsize=8)
    figure.tight_layout()
    return figure


LOSS_TITLES = {"mse": "SimEx, MSE: Δ(X|Y)", "issim": "SimEx, iSSIM: Δ(X|Y)"}


def inter_dataset_figure(deltas: dict[str, pd.DataFrame], transfer: pd.DataFrame | None = None) -> Figure:
    """Fig. 4: (a) MSE and (b) iSSIM Δ heatmaps, darker = smaller loss; (c) transfer accuracy."""
    panels = [(matrix, f"({chr(ord('a') + i)}) {LOSS_TITLES[loss]}", "low") for i, (loss, matrix) in enumerate(deltas.items())]
    if transfer is not None:
        panels.append((transfer, f"({chr(ord('a') + len(panels))}) transferred accuracy (normalised)", "high"))
    labels = [label for matrix, _, _ in panels for label in matrix.index]
    return heatmap_figure(panels, labels)
