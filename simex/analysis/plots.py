"""Figures in the paper's style: heatmaps where darker means more similar."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from simex.base.datasets import legend_lines  # noqa: E402
from simex.analysis.tables import device_note  # noqa: E402


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
    """Fig. 4: (a) MSE and (b) iSSIM Δ heatmaps, darker = smaller loss; (c) transfer accuracy,
    its datasets in the Δ panels' order (the dataset sheet's), whatever order ``transfer`` has."""
    panels = [(matrix, f"({chr(ord('a') + i)}) {LOSS_TITLES[loss]}", "low") for i, (loss, matrix) in enumerate(deltas.items())]
    if transfer is not None:
        first = next(iter(deltas.values()))
        transfer = transfer.loc[list(first.index), list(first.columns)]
        panels.append((transfer, f"({chr(ord('a') + len(panels))}) transferred accuracy (normalised)", "high"))
    labels = [label for matrix, _, _ in panels for label in matrix.index]
    return heatmap_figure(panels, labels)


def augmentation_figure(runs: pd.DataFrame, references: Sequence[str]) -> Figure:
    """Fig. 7: rows = pairing methods, columns = reference datasets Y (display labels),
    x = n(c_Y) borrowed per class (log), y = MNIST test accuracy; one line per n(c_M) with
    min–max bars over trials; dotted horizontals: the same n(c_M) without borrowing."""
    borrowed = runs[runs["n_borrowed"] > 0]
    reference = runs[runs["n_borrowed"] == 0].groupby("n_mnist")["accuracy"].mean()
    paper_rows = ("SimEx", "sample-MSE", "embeddings")  # the paper's row order
    methods = sorted(dict.fromkeys(borrowed["method"]),
                     key=lambda m: next((r for r, p in enumerate(paper_rows) if m.startswith(p)), len(paper_rows)))
    x_ticks = sorted(set(borrowed["n_borrowed"]))
    n_mnist = sorted(set(runs["n_mnist"]))
    colours = {n: plt.get_cmap("viridis")(i / max(1, len(n_mnist) - 1) * 0.85) for i, n in enumerate(n_mnist)}
    figure, axes = plt.subplots(len(methods), len(references), figsize=(3.2 * len(references), 2.7 * len(methods)),
                                squeeze=False, sharex=True, sharey=True)
    for row, method in enumerate(methods):
        for col, label in enumerate(references):
            ax = axes[row][col]
            part = borrowed[(borrowed["method"] == method) & (borrowed["Y"] == label)]
            for n in n_mnist:
                stats = part[part["n_mnist"] == n].groupby("n_borrowed")["accuracy"].agg(["mean", "min", "max"])
                if not stats.empty:
                    ax.errorbar(stats.index, stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                                color=colours[n], marker="o", markersize=3, capsize=2, linewidth=1,
                                label=f"n(c_M) = {n}")
                if n in reference.index:
                    ax.axhline(reference[n], color=colours[n], linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_xticks(x_ticks, [str(x) for x in x_ticks])
            ax.minorticks_off()
            ax.grid(True, which="major", alpha=0.3)
            if row == 0:
                ax.set_title(f"Y = {label}")
            if row == len(methods) - 1:
                ax.set_xlabel("n(c_Y) borrowed per class")
            if col == 0:
                ax.set_ylabel(f"{method}\nMNIST test accuracy")
    handles, names = axes[0][0].get_legend_handles_labels()
    notes = legend_lines(references)
    figure.legend(handles, names, loc="lower center", ncol=len(n_mnist), fontsize=8, bbox_to_anchor=(0.5, -0.02))
    figure.text(0.5, -0.05, "   ".join(["dotted: no borrowing (same n(c_M))", *notes]), ha="center", va="top", fontsize=8)
    figure.tight_layout()
    return figure


class BlankNaN(str):
    """A cell format that leaves undefined cells (NaN) empty, e.g. "{:.2f}" -> BlankNaN("{:.2f}")."""

    def format(self, *args: object, **kwargs: object) -> str:
        value = args[0] if args else None
        if isinstance(value, float) and value != value:
            return ""
        return super().format(*args, **kwargs)


def interclass_figure(panels: Sequence[tuple[pd.DataFrame, str, str, str]], dataset_label: str,
                      columns: int = 3, notes: Sequence[str] = ()) -> Figure:
    """Fig. 8: class-by-class heatmaps (matrix, title, darker_is, cell format), darker = more similar/confusing."""
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.4 * columns, 5.0 * rows), squeeze=False)
    for ax, (matrix, title, darker_is, value_format) in zip(axes.flat, panels):
        heatmap(ax, matrix, title, darker_is, BlankNaN(value_format))
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    figure.suptitle(f"Inter-class similarity / confusion in {dataset_label}. Darker means more similar / confusing.")
    if notes:
        figure.text(0.5, 0.0, "\n".join(notes), ha="center", va="top", fontsize=8)
    figure.tight_layout()
    return figure


def image_cell(ax: Axes, images: np.ndarray, index: int) -> bool:
    """Show ``images[index]`` in gray without ticks; an empty, hidden cell past the last image (False)."""
    ax.set_xticks([])
    ax.set_yticks([])
    if index >= len(images):
        ax.axis("off")
        return False
    ax.imshow(images[index], cmap="gray", vmin=0, vmax=255 if images.dtype == np.uint8 else 1)
    return True


def reconstruction_figure(pairs: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]], title: str,
                          side_text: str) -> Figure:
    """Fig. 1a: per row (row label, inputs, outputs, per-sample δ), inputs left and outputs right.

    ``side_text`` (e.g. the Δ ordering) is written beside the grid.
    """
    per_row = max(len(inputs) for _, inputs, _, _ in pairs)
    figure = plt.figure(figsize=(2.3 * per_row + 5.0, 1.25 * len(pairs) + 0.8))
    left, right = figure.subfigures(1, 2, width_ratios=[2.3 * per_row, 5.0])
    axes = left.subplots(len(pairs), 2 * per_row, squeeze=False,
                         gridspec_kw={"wspace": 0.1, "hspace": 0.45, "left": 0.16, "right": 0.98})
    for row, (label, inputs, outputs, errors) in enumerate(pairs):
        for j in range(per_row):
            for column, images, caption in ((j, inputs, None), (per_row + j, outputs, errors)):
                if not image_cell(axes[row, column], images, j):
                    continue
                ax = axes[row, column]
                if caption is not None:
                    ax.set_xlabel(f"δ={caption[j]:.4f}", fontsize=7, labelpad=1)
        axes[row, 0].set_ylabel(label, rotation=0, labelpad=8, ha="right", va="center")
    axes[0, 0].set_title("inputs", loc="left", fontsize=9)
    axes[0, per_row].set_title("outputs", loc="left", fontsize=9)
    left.suptitle(title, fontsize=10)
    right.text(0.02, 0.5, side_text, ha="left", va="center", fontsize=8, family="monospace")
    return figure


def latency_figure(table: pd.DataFrame) -> Figure:
    """Fig. 5: mean latency of one pairwise comparison per method (log scale), min–max bars,
    the epoch of minimum validation loss on the TL bars, the paper's values as markers."""

    names = list(table.index)
    mean = table["seconds_mean"].to_numpy(dtype=float)
    low, high = mean - table["seconds_min"].to_numpy(dtype=float), table["seconds_max"].to_numpy(dtype=float) - mean
    colours = ["tab:red" if kind == "SimEx" else "tab:gray" for kind in table["kind"]]
    figure, ax = plt.subplots(figsize=(1.15 * len(names) + 2.5, 4.0))
    x = np.arange(len(names))
    ax.bar(x, mean, yerr=[low, high], color=colours, capsize=3, label="ours (mean, min–max)")
    ticks = []
    for name, row in table.iterrows():
        text = f"{name}\n{row['seconds_mean']:.3g} s"
        if not pd.isna(row["best_epoch_mean"]):
            text += f"\n{row['best_epoch_mean']:.3g} epochs"
        ticks.append(text)
    paper = table["paper_seconds"].astype(float)
    if paper.notna().any():
        ax.scatter(x[paper.notna().to_numpy()], paper[paper.notna()], marker="_", s=300, color="black", zorder=3,
                   label="paper (GTX 1080 Ti)")
    ranged = [i for i, name in enumerate(names) if name in ("TL-2", "TL-3", "TL-4")]
    if ranged:  # the paper gives TL-2..TL-4 only as a range
        ax.fill_between([min(ranged) - 0.4, max(ranged) + 0.4], 32.24, 40.20, color="black", alpha=0.12,
                        label="paper TL-2..TL-4: 32.24-40.20 s")
    ax.set_yscale("log")
    ax.set_xticks(x, ticks, fontsize=8)
    ax.set_ylabel("latency per pairwise comparison (s)")
    first = table.iloc[0]
    simex_rows = table[table["kind"] == "SimEx"]
    speedups = ", ".join(f"{name}: {row['speedup_tl1_over_this']:.1f}x" for name, row in simex_rows.iterrows())
    ax.set_title(f"Fig. 5: {first['unknown']} vs reference {first['reference']}, {int(first['samples'])} samples, "
                 f"{int(first['repeats'])} repeats\nTL-1 / SimEx = {speedups} (paper 10.5x)", fontsize=9)
    ax.set_ylim(top=ax.get_ylim()[1] * 4)
    ax.legend(fontsize=7, loc="upper left")
    notes = [f"{device_note(table)} ({first['hardware']})", *legend_lines([first["unknown"], first["reference"]])]
    figure.text(0.5, -0.02, "\n".join(notes), ha="center", va="top", fontsize=7)
    figure.tight_layout()
    return figure


def training_time_figure(table: pd.DataFrame) -> Figure:
    """Fig. 6: mean Spearman ρ over base datasets vs elapsed AE training time at each
    checkpoint epoch, min–max bars over repeats; (a) and (b) panels by schedule; vertical
    lines BT-k = base classifiers' scratch-training time to the minimum validation loss."""

    curves = table[table["kind"] == "autoencoder"]
    bases = table[table["kind"] == "base classifier"]
    panels = sorted(set(curves["panel"].fillna("")) or {""})
    figure, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2), squeeze=False, sharey=True)
    styles = ["-", "--", "-.", ":"]
    for ax, panel in zip(axes[0], panels):
        part = curves[curves["panel"].fillna("") == panel]
        for i, (name, rows) in enumerate(part.groupby("name", sort=False)):
            rows = rows.sort_values("epoch")
            ax.errorbar(rows["elapsed_s_mean"], rows["rho_mean"],
                        yerr=[rows["rho_mean"] - rows["rho_min"], rows["rho_max"] - rows["rho_mean"]],
                        xerr=[rows["elapsed_s_mean"] - rows["elapsed_s_min"], rows["elapsed_s_max"] - rows["elapsed_s_mean"]],
                        linestyle=styles[i % len(styles)], marker="o", markersize=3, capsize=2, label=name,
                        color="tab:red" if i == 0 else None)
            for _, row in rows.iterrows():
                ax.annotate(f"{int(row['epoch'])}", (row["elapsed_s_mean"], row["rho_mean"]), textcoords="offset points",
                            xytext=(3, -9), fontsize=6)
        for j, (_, row) in enumerate(bases.iterrows()):
            ax.axvline(row["elapsed_s_mean"], color="gray", linewidth=0.8, linestyle=":")
            ax.text(row["elapsed_s_mean"], 1.02 - 0.07 * (j % 4), row["name"], rotation=90, fontsize=6, ha="right",
                    va="top", transform=ax.get_xaxis_transform())
        paper = part.dropna(subset=["paper_rho"]) if "paper_rho" in part else part.iloc[:0]
        if not paper.empty:
            ax.scatter(paper["paper_elapsed_s"], paper["paper_rho"], marker="x", color="black", label="paper (Fig. 6a)")
        ax.set_xscale("log")
        ax.set_xlabel("elapsed training time (s), epochs annotated")
        ax.set_title(f"({panel}) " + ", ".join(dict.fromkeys(part["name"])), fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("mean Spearman ρ over base datasets")
    labels = " ".join(curves["base_datasets"].dropna().astype(str)).split()
    notes = [f"base datasets: {' '.join(dict.fromkeys(labels))}; loss {', '.join(dict.fromkeys(curves['loss']))}; "
             f"bars: min–max over repeats; BT-k: base classifiers' time to min. validation loss", device_note(table),
             *legend_lines(labels)]
    figure.text(0.5, -0.02, "\n".join(notes), ha="center", va="top", fontsize=7)
    figure.suptitle("Fig. 6: interim training time vs Spearman's ρ (against transfer-accuracy orderings)", fontsize=10)
    figure.tight_layout()
    return figure


def protocol_sweep_figure(table: pd.DataFrame) -> Figure:
    """The Table 1 protocol sweep: per protocol, mean over seeds with min–max bars.

    Rows: Table 1 mean ρ, per-target ρ (X left out), top-1 agreements, and the transfer
    matrix's variance shares; columns: the losses. One series per (size, AE steps).
    """
    losses = list(dict.fromkeys(table["loss"]))
    protocols = list(dict.fromkeys(table["protocol"]))
    settings = list(dict.fromkeys(zip(table["size"], table["ae_steps"])))
    metrics = [("table1_mean", "Table 1 mean ρ"), ("per_target_rho", "per-target ρ (X left out)"),
               ("top1", "top-1 agrees (of 5)")]
    figure, axes = plt.subplots(len(metrics) + 1, len(losses), figsize=(6.5 * len(losses), 13), squeeze=False,
                                sharex=True)
    x = np.arange(len(protocols))
    width = 0.8 / len(settings)
    for column, loss in enumerate(losses):
        rows = table[table["loss"] == loss]
        for row, (metric, title) in enumerate(metrics):
            ax = axes[row][column]
            for i, (size, steps) in enumerate(settings):
                part = rows[(rows["size"] == size) & (rows["ae_steps"] == steps)].set_index("protocol").reindex(protocols)
                mean = part[metric].to_numpy(dtype=float)
                error = [mean - part[f"{metric}_min"].to_numpy(dtype=float), part[f"{metric}_max"].to_numpy(dtype=float) - mean]
                ax.errorbar(x + (i - (len(settings) - 1) / 2) * width, mean, yerr=error, fmt="o", capsize=2,
                            label=f"size {size}, AE {steps} steps")
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.set_title(f"{LOSS_TITLES.get(loss, loss)}: {title}")
        ax = axes[len(metrics)][column]
        sizes = list(dict.fromkeys(table["size"]))
        for i, size in enumerate(sizes):
            part = rows[(rows["size"] == size) & (rows["ae_steps"] == settings[0][1])].set_index("protocol").reindex(protocols)
            offset = (i - (len(sizes) - 1) / 2) * 0.4
            ax.bar(x + offset - 0.1, part["source_share"], 0.2, label=f"source, size {size}")
            ax.bar(x + offset + 0.1, part["target_share"], 0.2, label=f"target, size {size}")
        ax.set_title("share of the transfer matrix's variance")
        ax.set_xticks(x, protocols, rotation=60, ha="right", fontsize=8)
    axes[0][0].legend(fontsize=7)
    axes[len(metrics)][0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def per_target_figure(table: pd.DataFrame) -> Figure:
    """The per-target view: per new dataset X and protocol, ρ (mean, min–max over seeds) per loss.

    A filled marker: SimEx's top-1 pick transferred best in most replicates (for the mean
    over X: in at least 4 of 5 targets on average); hollow: it did not.
    """
    losses = list(dict.fromkeys(table["loss"]))
    protocols = list(dict.fromkeys(table["protocol"]))
    targets = list(dict.fromkeys(table["target"]))
    replicates = int(table["replicates"].max())
    figure, axes = plt.subplots(1, len(losses), figsize=(5.5 * len(losses), 4), squeeze=False, sharey=True)
    x = np.arange(len(targets))
    for ax, loss in zip(axes[0], losses):
        for i, protocol in enumerate(protocols):
            part = table[(table["loss"] == loss) & (table["protocol"] == protocol)].set_index("target").reindex(targets)
            mean = part["rho"].to_numpy(dtype=float)
            error = [mean - part["rho_min"].to_numpy(dtype=float), part["rho_max"].to_numpy(dtype=float) - mean]
            offset = x + (i - (len(protocols) - 1) / 2) * 0.25
            color = f"C{i}"
            ax.errorbar(offset, mean, yerr=error, fmt="none", capsize=3, color=color)
            agrees = part["top1_agrees"].to_numpy(dtype=float) > replicates / 2
            agrees[targets.index("mean")] = part.loc["mean", "top1_agrees"] >= 0.8 * (len(targets) - 1)
            ax.scatter(offset[agrees], mean[agrees], color=color, label=protocol, zorder=3)
            ax.scatter(offset[~agrees], mean[~agrees], facecolors="white", edgecolors=color, zorder=3)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_xticks(x, targets)
        ax.set_title(f"{LOSS_TITLES.get(loss, loss)}: per-target ρ, X left out")
        ax.set_xlabel("new dataset X (mean: over X)")
    axes[0][0].set_ylabel(f"ρ, mean and min–max over {replicates} seeds")
    axes[0][0].legend(fontsize=8, title="protocol (filled: top-1 agrees)")
    figure.tight_layout()
    return figure


def samples_figure(rows: Sequence[tuple[str, str, np.ndarray, Sequence[str]]]) -> Figure:
    """One row per dataset (display label, long name, uint8 images, their class names): what each dataset is."""
    per_row = max(len(images) for _, _, images, _ in rows)
    height = 1.1 * len(rows) + 0.7
    figure, axes = plt.subplots(len(rows), per_row, figsize=(0.95 * per_row + 2.2, height), squeeze=False,
                                gridspec_kw={"wspace": 0.05, "hspace": 0.35, "left": 0.2, "top": 1 - 0.6 / height,
                                             "bottom": 0.25 / height})
    for row, (label, name, images, names) in enumerate(rows):
        for column in range(per_row):
            if image_cell(axes[row, column], images, column):
                axes[row, column].set_xlabel(names[column], fontsize=6, labelpad=1)
        axes[row, 0].set_ylabel(f"{label}\n{name}", rotation=0, labelpad=8, ha="right", va="center", fontsize=8)
    legend = legend_lines([label for label, _, _, _ in rows])
    figure.suptitle("Samples of each dataset (one per class)" + ("\n" + "; ".join(legend) if legend else ""),
                    fontsize=9)
    return figure


def benchmark_figure(summary: pd.DataFrame, view: str, headline: tuple[str, int], simex: Sequence[str] = ("SimEx-MSE", "SimEx-iSSIM")) -> Figure:
    """The source-selection benchmark at a glance: per (protocol, n) panel, every estimator's mean
    weighted τ with its bootstrap interval, in the headline cell's order; SimEx in red,
    chance (0) and the noise ceiling as lines. The headline panel is framed."""
    part = summary[summary["view"] == view]
    cells = list(dict.fromkeys(zip(part["protocol"], part["n"])))
    head = part[(part["protocol"] == headline[0]) & (part["n"] == headline[1])]
    ceiling = "noise ceiling"
    order = list(head[head["estimator"] != ceiling].sort_values("tau", kind="stable")["estimator"])
    figure, axes = plt.subplots(1, len(cells), figsize=(3.4 * len(cells) + 1.2, 0.32 * len(order) + 1.6),
                                sharey=True, squeeze=False)
    y = np.arange(len(order))
    for ax, (protocol, n) in zip(axes[0], cells):
        cell = part[(part["protocol"] == protocol) & (part["n"] == n)].set_index("estimator")
        rows = cell.reindex(order)
        mean = rows["tau"].to_numpy(dtype=float)
        error = np.vstack([mean - rows["tau_low"].to_numpy(dtype=float), rows["tau_high"].to_numpy(dtype=float) - mean])
        colors = ["C3" if e in simex else "grey" if cell.loc[e, "kind"] == "trivial" else "C0" for e in order]
        for i, color in enumerate(colors):
            ax.errorbar(mean[i], y[i], xerr=error[:, i : i + 1], fmt="o", color=color, capsize=2, markersize=4)
        ax.axvline(0, color="black", linewidth=0.6, linestyle=":")
        if ceiling in cell.index:
            ax.axvline(cell.loc[ceiling, "tau"], color="C2", linewidth=1, linestyle="--", label="noise ceiling")
        ax.set_title(f"{ {'probe': 'linear probe', 'finetune': 'full fine-tune'}.get(protocol, protocol)}, n = {n}", fontweight="bold" if (protocol, n) == tuple(headline) else "normal")
        ax.set_xlabel("weighted Kendall τ (mean, 95% CI)")
        ax.set_xlim(-1, 1)
        if (protocol, n) == tuple(headline):
            for spine in ax.spines.values():
                spine.set_linewidth(2)
    axes[0][0].set_yticks(y, order)
    axes[0][0].legend(fontsize=7, loc="lower right")
    figure.suptitle(f"Which source transfers best? Each estimator's rank agreement with the gain over scratch "
                    f"(view: {view}; framed: the headline cell; red: SimEx, grey: trivial; dotted: chance)", fontsize=9)
    figure.tight_layout()
    return figure


def benchmark_scale_figure(table: pd.DataFrame, title: str) -> Figure:
    """Benchmark v2: how each estimator's weighted τ, top-1 hit and absolute regret (headline cell,
    mean with its interval) move with the data scale; SimEx's scorers in red, the rest in blue, the
    trivial and reference rows in grey."""
    scales = sorted(table["scale"].unique())
    names = list(dict.fromkeys(table["estimator"]))
    panels = (("tau", "weighted Kendall τ"), ("top1", "top-1 hit"), ("regret_abs", "absolute regret (points)"))
    figure, axes = plt.subplots(1, 3, figsize=(13, 0.28 * len(names) + 2.5), sharey=True)
    y = np.arange(len(names))
    offsets = np.linspace(-0.2, 0.2, len(scales)) if len(scales) > 1 else [0.0]
    markers = "osD^v"
    for ax, (metric, label) in zip(axes, panels):
        for j, scale in enumerate(scales):
            rows = table[table["scale"] == scale].set_index("estimator").reindex(names)
            mean = rows[metric].to_numpy(dtype=float)
            error = np.abs(np.vstack([mean - rows[f"{metric}_low"].to_numpy(dtype=float),
                                      rows[f"{metric}_high"].to_numpy(dtype=float) - mean]))
            kinds = rows["kind"].fillna("")
            colors = ["C3" if str(k).startswith("SimEx") else "grey" if k in ("trivial", "reference") else "C0"
                      for k in kinds]
            for i, color in enumerate(colors):
                if np.isfinite(mean[i]):
                    ax.errorbar(mean[i], y[i] + offsets[j], xerr=np.nan_to_num(error[:, i : i + 1]),
                                fmt=markers[j % len(markers)], color=color, capsize=2, markersize=4,
                                label=f"{scale:,} samples" if i == 0 else None, alpha=0.5 + 0.5 * j / max(1, len(scales) - 1))
        ax.set_title(label)
        ax.grid(axis="x", linewidth=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=7, loc="lower right")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
