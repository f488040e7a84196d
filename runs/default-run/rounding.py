"""How much of the default run's Δ (iSSIM) is float rounding? Prints a Markdown report.

    .venv/bin/python docs/default-run/rounding.py --data <a default run's results/data> > docs/default-run/rounding.md

Trains the five dataset autoencoders of the default run with iSSIM twice, with the same
seeds, data, settings and fused trainer, once with simex.models.losses' iSSIM (the Gaussian blur as
matrix products, since b9014ed) and once with pytorch-msssim's (depthwise convolutions, the
pipeline's loss before b9014ed). The two losses are the same function (equal within 1e-12 in
float64, tests/test_similarity.py); in float32 they differ in summation order, so the two
fleets differ by what float rounding, amplified over training, does to them. Δ(X|Y) of
both fleets is measured with one δ (simex.models.losses') on the test splits, and the report
compares them: values, every row's order (Table 1's reading: which X each A(Y) ranks
closest) and every column's pick (the per-target reading: which Y SimEx picks for X).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from pytorch_msssim import ssim
from scipy.stats import spearmanr

from simex.training.autoencoders import train_autoencoders
from simex.config import autoencoder_seed, load
from simex.data.acquire import load_split
from simex.inference.evaluate import delta_means
from simex.models.losses import gaussian_window, per_sample_loss
from simex.training.loop import train_config

MARK = {"E": "E*", "R": "R†", "B": "B†"}


def msssim_loss(window):
    win = gaussian_window(window).float().view(1, 1, 1, -1)
    return lambda inputs, outputs: 1.0 - ssim(inputs, outputs, data_range=1.0, size_average=False, win=win)


def train_fleet(images, loss, window, configs):
    return [model for model, _ in train_autoencoders(images, loss, window, configs, torch.device("cpu"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("results/data"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load()
    datasets = list(config.datasets)
    window = config.ssim
    train = [load_split(args.data / d / "train.npz")[0] for d in datasets]
    test = [load_split(args.data / d / "test.npz")[0] for d in datasets]
    configs = [train_config(config.autoencoder, autoencoder_seed(config.seed, d, "issim")) for d in datasets]
    delta = per_sample_loss("issim", window)
    fleets = {"simex.models.losses (matrix products)": train_fleet(train, "issim", window, configs),
              "pytorch-msssim (convolutions)": train_fleet(train, msssim_loss(window), window, configs)}
    # delta_means: rows = inputs X, columns = autoencoders Y; transposed to rows Y, columns X as the Δ tables
    tables = {name: delta_means(models, test, delta, "cpu").T for name, models in fleets.items()}
    (a_name, a), (b_name, b) = tables.items()
    names = [MARK.get(d, d) for d in datasets]
    print("# Float rounding and Δ (iSSIM): two fleets that differ only in summation order\n")
    print(f"Made by `docs/default-run/rounding.py` on {sys.platform}, torch {torch.__version__}, one thread; "
          f"the default run's data, seeds and settings ({len(datasets)} datasets, iSSIM, "
          f"{config.autoencoder.epochs} epochs).\n")
    for name, table in tables.items():
        print(f"Δ(X|Y), fleet trained with {name} (rows: A(Y); columns: X):\n")
        print("| A(Y) | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for y, row in zip(names, table):
            print(f"| {y} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
        print()
    diff = np.abs(a - b)
    print(f"- largest |difference| of a Δ value: {diff.max():.4f} (mean {diff.mean():.4f}); Spearman ρ between "
          f"the two tables' 25 values: {spearmanr(a.ravel(), b.ravel()).statistic:.3f}")
    rows = [spearmanr(a[i], b[i]).statistic for i in range(len(names))]
    print(f"- each A(Y)'s order of the five X (Table 1's reading), ρ between the fleets: "
          + ", ".join(f"{y} {r:.2f}" for y, r in zip(names, rows)))
    picks = []
    for j, x in enumerate(names):
        others = [i for i in range(len(names)) if i != j]
        pick_a, pick_b = (names[min(others, key=lambda i: t[i, j])] for t in (a, b))
        picks.append((x, pick_a, pick_b))
    agree = sum(p == q for _, p, q in picks)
    print(f"- SimEx's pick of a source for each X among the four others (the per-target reading): "
          + "; ".join(f"{x}: {p} / {q}" for x, p, q in picks) + f" ({agree} of {len(picks)} agree)")


if __name__ == "__main__":
    main()
