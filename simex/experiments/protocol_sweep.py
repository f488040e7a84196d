"""The Table 1 protocol sweep: which transfer protocol makes the baseline measure similarity.

Grid: transfer protocols (simex.experiments.transfer.TransferProtocol) x autoencoder training length
in optimizer steps x dataset size x seed replicates. It decomposes so that nothing is
computed twice: Δ matrices depend only on (size, seed, loss, AE steps) and the transfer
matrix only on (size, seed, protocol). Each autoencoder is trained once, to the longest
step budget, and Δ is evaluated at every shorter budget from a snapshot of its weights
after that many steps: the optimizer (RMSprop at a constant rate) and the sample order
do not depend on the budget, so the step-s snapshot is the autoencoder a run with budget
s would end with (tests/test_protocol_sweep.py checks the equality). A final job crosses both.

Per variant (size, AE steps, protocol, loss) and seed it computes Table 1's ρ per base
and their mean, the per-target view with X left out (simex.experiments.transfer.per_target_view:
mean ρ over targets and the number of targets whose top-1 pick agrees), and the shares
of the transfer matrix's variance explained by source and target; over seeds it reports
the mean and the range (min–max). With 3 seeds a t-interval would be 4.3 standard errors
wide either side, which says less than the range itself.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from simex.models.losses import SSIMWindow, per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.training.loop import BatchLoss, TrainConfig, autoencoder_batch_loss, images_to_tensor, seed_everything, train
from simex.config import TransferProtocol
from simex.experiments.transfer import (accuracy_matrix, normalised_accuracy, over_replicates, per_target_view, spearman_rows,
                            variance_shares)
from simex.analysis.tables import markdown_document, markdown_table
from simex.base.errors import SimexError

log = logging.getLogger(__name__)


class SweepError(SimexError, ValueError):
    """The sweep's grid or its intermediate results are inconsistent."""


# --- autoencoders: one training run, Δ at every budget -----------------------------------


class StepSnapshots:
    """A batch loss that keeps a copy of the weights as they are after each chosen number of steps.

    ``train`` calls the batch loss once per optimizer step, before that step's update, so
    its (s+1)-th call in training mode sees the weights after s steps. Calls in eval mode
    (a validation pass) are not steps and are not counted.
    """

    def __init__(self, batch_loss: BatchLoss, steps: Sequence[int]) -> None:
        self.batch_loss = batch_loss
        self.steps = set(steps)
        self.calls = 0
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def __call__(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if model.training:
            if self.calls in self.steps:
                self.states[self.calls] = copy.deepcopy(model.state_dict())
            self.calls += 1
        return self.batch_loss(model, images, targets)


def autoencoder_snapshots(images: np.ndarray, loss: str, window: SSIMWindow, config: TrainConfig, budgets: Sequence[int],
                          device: torch.device) -> dict[int, LeNet5AutoEncoder]:
    """Autoencoders as simex.training.autoencoders.train_autoencoder trains them, one per step budget, from one run.

    ``config.steps`` must be the longest budget; no validation split (the paper's AEs train
    to a fixed length).
    """
    budgets = sorted(set(int(b) for b in budgets))
    if config.steps != budgets[-1]:
        raise SweepError(f"train to the longest budget {budgets[-1]}, not {config.steps}")
    seed_everything(config.seed)
    model = LeNet5AutoEncoder()
    inputs = images_to_tensor(images)
    snapshots = StepSnapshots(autoencoder_batch_loss(per_sample_loss(loss, window)), budgets[:-1])
    train(model, snapshots, (inputs, inputs), config, device)
    missing = [b for b in budgets[:-1] if b not in snapshots.states]
    if missing:
        raise SweepError(f"training ended before the budgets {missing}")
    models = {}
    for budget in budgets[:-1]:
        snapshot = LeNet5AutoEncoder()
        snapshot.load_state_dict(snapshots.states[budget])
        models[budget] = snapshot.to(device).eval()
    models[budgets[-1]] = model.eval()
    return models


# --- crossing --------------------------------------------------------------------------


def matrix_from_json(rows: Mapping[str, Mapping[str, float]], name: str = "autoencoder A(Y)") -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name, frame.columns.name = name, "input X"
    return frame


def seed_metrics(delta: pd.DataFrame, raw: pd.DataFrame, loss: str) -> dict[str, Any]:
    """One seed's Table 1 ρ (per base and mean), per-target view and variance shares."""
    rho = spearman_rows({loss: delta}, normalised_accuracy(raw)).loc[loss]
    view = per_target_view(delta, raw)
    shares = variance_shares(raw)
    return {
        "table1_per_base": rho.to_dict(),
        "table1_mean": float(rho.mean()),
        "per_target_rho": float(view["rho"].mean()),
        "top1": int(view["top1_agrees"].sum()),
        "source_share": shares["source"],
        "target_share": shares["target"],
    }


SUMMARY_METRICS = ("table1_mean", "per_target_rho", "top1", "source_share", "target_share")


def sweep_table(deltas: Mapping[tuple[int, int, str], Mapping[int, pd.DataFrame]],
                transfers: Mapping[tuple[int, int], Mapping[str, Any]]) -> pd.DataFrame:
    """One row per variant (size, AE steps, protocol, loss): metrics' mean, min and max over seeds.

    ``deltas[(size, seed, loss)][steps]``: Δ(X|Y), rows Y, columns X (display labels);
    ``transfers[(size, seed)]``: the transfer job's record (all protocols).
    """
    per_seed: dict[tuple[int, int, str, str], list[dict[str, Any]]] = {}
    protocols: dict[str, TransferProtocol] = {}
    for (size, seed, loss), by_steps in deltas.items():
        record = transfers.get((size, seed))
        if record is None:
            raise SweepError(f"no transfer record for size {size}, seed {seed}")
        for name, protocol in record["protocols"].items():
            protocols[name] = TransferProtocol.from_dict(protocol["protocol"])
            raw = accuracy_matrix(protocol["bases"], record["labels"])
            for steps, delta in by_steps.items():
                per_seed.setdefault((size, steps, name, loss), []).append(seed_metrics(delta, raw, loss))
    rows = []
    for (size, steps, name, loss), metrics in per_seed.items():
        protocol = protocols[name]
        row: dict[str, Any] = {"loss": loss, "size": size, "ae_steps": steps, "protocol": name,
                               "samples_per_class": protocol.samples_per_class or "all", "fc_init": protocol.fc_init,
                               "frozen": protocol.frozen, "seeds": len(metrics)}
        for metric in SUMMARY_METRICS:
            summary = over_replicates([m[metric] for m in metrics])
            row.update({metric: summary["mean"], f"{metric}_min": summary["min"], f"{metric}_max": summary["max"]})
        for base in metrics[0]["table1_per_base"]:
            row[f"table1_{base}"] = over_replicates([m["table1_per_base"][base] for m in metrics])["mean"]
        rows.append(row)
    table = pd.DataFrame(rows)
    count = table["samples_per_class"].map(lambda n: 10**9 if n == "all" else n)
    return table.assign(_count=count).sort_values(["loss", "size", "ae_steps", "_count", "fc_init", "frozen"]) \
        .drop(columns="_count").reset_index(drop=True)


def _range(row: pd.Series, metric: str, digits: int = 2) -> str:
    mean, low, high = row[metric], row[f"{metric}_min"], row[f"{metric}_max"]
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def sweep_markdown(table: pd.DataFrame, command: str) -> str:
    """The sweep's table for docs/: one row per variant, mean [min, max] over seeds."""
    header = ["loss", "size", "AE steps", "protocol", "Table 1 mean ρ", "per-target ρ (X out)", "top-1 agrees (of 5)",
              "source share", "target share"]
    rows = [[row["loss"], row["size"], row["ae_steps"], row["protocol"], _range(row, "table1_mean"),
             _range(row, "per_target_rho"), _range(row, "top1", 1), _range(row, "source_share"),
             _range(row, "target_share")] for _, row in table.iterrows()]
    seeds = sorted(set(table["seeds"]))
    notes = [
        f"Mean over {', '.join(map(str, seeds))} seed replicates, [min, max] over them. Protocol "
        "`<n per class>-<FC init>-<frozen>`: `all`/`nK` target samples per class retrain the classifier; "
        "`base`/`reinit`: retrained FC layers start from B(Y)'s weights or afresh; `conv`/`conv+fc1`: layers kept from B(Y).",
        "Per-target ρ: for each new dataset X, Δ(X|Y) against B(Y)'s raw accuracy on X over the four other Y "
        "(X left out), averaged over X; top-1: targets whose SimEx pick transfers best. Shares: of the variance of "
        "the 20 off-diagonal raw accuracies, explained by the source B(Y) and by the target X (additive fit; "
        "independent of the loss and the AE steps).",
        f"Made by: `{command}`",
    ]
    return markdown_document("Table 1 protocol sweep", markdown_table(header, rows, "lrrlrrrrr"), notes)
