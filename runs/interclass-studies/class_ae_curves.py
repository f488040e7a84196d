"""Study: how many optimizer steps do the per-class autoencoders need?

Trains A(c) for every MNIST class (MSE) on the pipeline's prepared train splits with the `class_autoencoder` settings, for
up to the largest budget in STEPS, and records

- the training loss per epoch and the loss on the class's held-out test samples,
- at every budget in STEPS: the MNIST Δ(c_i|c_k) matrix, how alike its rows order the
  classes (mean Spearman ρ between pairs of rows over the classes both leave out), and
  Table 2's ρ of SimEx against sample-MSE and 9class-Le5 (against 9class-Le5 in both
  orientations, see simex.experiments.interclass).

Run from the repository root, after the data (and nothing else) of the default run exists:

    PYTHONPATH=. nice -n 10 .venv/bin/python docs/interclass/class_ae_curves.py

Writes docs/interclass/class_ae_curves.{csv,png} and class_ae_budget.csv (`--plot-only`:
redraws the figure from the CSVs).
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from simex.data.acquire import load_split
from simex.experiments.interclass import (DIRECTIONS, confusion_row, class_frame, interclass_delta, mean_rho,
                              sample_distance_matrix, train_nine_class, transposed)
from simex.models.losses import per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.config import NineClassTraining, SSIMWindow, Training, autoencoder_seed, derived_seed, load
from simex.analysis.stats import ordering_rho
from simex.training.loop import autoencoder_batch_loss, images_to_tensor, train, train_config

STEPS = (50, 150, 300, 600, 1000, 1500, 2000)
HERE = Path(__file__).parent
torch.set_num_threads(1)
config = load().params()  # config/config.yaml with the schema's defaults, as the pipeline sees it
section = dict(config["class_autoencoder"])
device = torch.device("cpu")


def split(dataset: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    return load_split(f"results/data/{dataset}/{name}.npz")


def row_alikeness(delta: pd.DataFrame) -> float:
    """Mean ρ between two rows' orderings of the eight classes neither row is about."""
    values = delta.to_numpy()
    rhos = []
    for a, b in itertools.combinations(range(len(values)), 2):
        keep = [j for j in range(len(values)) if j not in (a, b)]
        rhos.append(ordering_rho(values[a, keep], "ascending", values[b, keep], "ascending"))
    return float(np.mean(rhos))


def train_curve(dataset: str, label: int, loss: str, snapshots: dict) -> list[dict]:
    """Train A(c_label) of ``dataset`` to max(STEPS); snapshot weights at every budget."""
    train_images, train_labels = split(dataset, "train")
    test_images, test_labels = split(dataset, "test")
    x = images_to_tensor(train_images[train_labels == label])
    v = images_to_tensor(test_images[test_labels == label])
    per_sample = delta_fn(loss)
    seed = autoencoder_seed(config["seed"], dataset, loss, label)  # the pipeline's seed for this autoencoder
    steps_per_epoch = -(-len(x) // int(section["batch_size"]))
    budgets = {s: -(-s // steps_per_epoch) for s in STEPS}  # budget -> epoch reaching it
    cfg = train_config(Training.from_dict({**section, "steps": max(STEPS)}), seed,
                       checkpoint_epochs=tuple(sorted(set(budgets.values()))))
    torch.manual_seed(seed)
    model = LeNet5AutoEncoder()

    def keep(epoch: int, trained: torch.nn.Module, _record) -> None:
        for budget, at in budgets.items():
            if at == epoch:
                snapshots[(dataset, loss, label, budget)] = {k: t.clone() for k, t in trained.state_dict().items()}

    started = time.perf_counter()
    result = train(model, autoencoder_batch_loss(per_sample), (x, x), cfg, device, validation=(v, v), on_checkpoint=keep)
    print(f"{dataset} {loss} class {label}: {max(STEPS)} steps in {time.perf_counter() - started:.1f} s", flush=True)
    return [{"dataset": dataset, "loss": loss, "label": label, "step": r.epoch * steps_per_epoch,
             "train_loss": r.train_loss, "heldout_loss": r.val_loss, "seconds": r.elapsed_s} for r in result.history]


def delta_fn(loss: str):
    return per_sample_loss(loss, SSIMWindow.from_dict(config["ssim"]))


def heldout_at(curves: pd.DataFrame, loss: str, budget: int) -> float:
    """Mean over the MNIST classes of the held-out loss at the first epoch reaching ``budget`` steps."""
    reached = curves[(curves["dataset"] == "M") & (curves["loss"] == loss) & (curves["step"] >= budget)]
    return float(reached.groupby("label")["heldout_loss"].first().mean())


def plot(curves: pd.DataFrame, budget: pd.DataFrame | None) -> None:
    """The loss curves and, when measured, the orderings of Δ against the budget."""
    fig, axes = plt.subplots(1, 2 if budget is not None else 1, figsize=(11 if budget is not None else 6, 4.2),
                             squeeze=False)
    axes = axes[0]
    for label, group in curves.groupby("label"):
        line, = axes[0].plot(group["step"], group["train_loss"], lw=0.8, label=str(label))
        axes[0].plot(group["step"], group["heldout_loss"], lw=0.8, ls="--", color=line.get_color())
    axes[0].set(title="A(c) of the MNIST classes, MSE", xlabel="optimizer steps (batch 32)",
                ylabel="loss (solid: train, dashed: held-out)", xscale="log", yscale="log")
    axes[0].legend(title="class", fontsize=7, ncol=2)
    if budget is not None:
        for column, name in [("row_alikeness", "rows of Δ alike"), ("rho_vs_sample_mse", "ρ vs sample-MSE"),
                             ("rho_vs_9class_le5", "ρ vs 9class-Le5"),
                             ("rho_vs_9class_le5_other", "ρ vs 9class-Le5, Δ(c_i|c_k)")]:
            axes[1].plot(budget["steps"], budget[column], marker="o", label=name)
        axes[1].set(title="Δ orderings vs budget", xlabel="optimizer steps", ylabel="mean Spearman ρ", xscale="log")
        axes[1].legend(fontsize=7)
    for ax in axes:
        ax.axvline(150, color="grey", lw=0.6, ls=":")
        ax.axvline(int(config["class_autoencoder"]["steps"]), color="black", lw=0.6, ls=":")
    fig.suptitle("dotted: the former 150 steps, the budget chosen", fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "class_ae_curves.png", dpi=120)


def main() -> None:
    snapshots: dict = {}
    rows = []
    runs = [("M", label, "mse") for label in range(10)]
    for dataset, label, loss in runs:
        rows += train_curve(dataset, label, loss, snapshots)
        curves = pd.DataFrame(rows)
        curves.to_csv(HERE / "class_ae_curves.csv", index=False, float_format="%.6g")  # progress, for a long run

    # Reference orderings for Table 2: sample-MSE and 9class-Le5 as the pipeline computes them.
    train_images, train_labels = split("M", "train")
    test_images, test_labels = split("M", "test")
    sample = sample_distance_matrix(train_images, train_labels, test_images, test_labels, delta_fn("mse"), 10,
                                    int(config["interclass"]["sample_distance"]["max_pairs"]),
                                    derived_seed(config["seed"], "interclass", "sample", "mse"))
    clf = dict(config["interclass"]["classifiers"]["lenet5"])
    confusion = np.full((10, 10), np.nan)
    for k in range(10):
        cfg = train_config(NineClassTraining.from_dict(clf), derived_seed(config["seed"], "interclass", "lenet5", k))
        model, kept, _, _ = train_nine_class("lenet5", train_images, train_labels, k, 10, cfg, device)
        confusion[k] = confusion_row(model, kept, test_images[test_labels == k], 10, device)
    confusion = class_frame(confusion, range(10))

    budget_rows = []
    for loss, budget in itertools.product(("mse",), STEPS):
        models = {}
        for label in range(10):
            model = LeNet5AutoEncoder()
            model.load_state_dict(snapshots[("M", loss, label, budget)])
            models[label] = model.eval()
        delta = interclass_delta(models, test_images, test_labels, delta_fn(loss), device)
        name = "SimEx-MSE" if loss == "mse" else "SimEx-iSSIM"
        budget_rows.append({
            "loss": loss, "steps": budget, "row_alikeness": row_alikeness(delta),
            # Table 2's orientation: row k = Δ(c_k|c_i), unknown c_k through the known A(c_i)
            "rho_vs_sample_mse": mean_rho(transposed(delta), "ascending", transposed(sample), "ascending"),
            "rho_vs_9class_le5": mean_rho(transposed(delta), "ascending", confusion, DIRECTIONS["9class-Le5"]),
            # the other orientation: row k = Δ(c_i|c_k)
            "rho_vs_9class_le5_other": mean_rho(delta, "ascending", confusion, DIRECTIONS["9class-Le5"]),
            "heldout_loss_mean": heldout_at(curves, loss, budget),
        })
    budget = pd.DataFrame(budget_rows)
    budget.to_csv(HERE / "class_ae_budget.csv", index=False, float_format="%.4f")
    print(budget.to_string(index=False))

    plot(curves, budget)


if __name__ == "__main__":
    if "--plot-only" in sys.argv:  # redraw from the CSVs of an earlier run
        budget_file = HERE / "class_ae_budget.csv"
        plot(pd.read_csv(HERE / "class_ae_curves.csv"), pd.read_csv(budget_file) if budget_file.exists() else None)
    else:
        main()
