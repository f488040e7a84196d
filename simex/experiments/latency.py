"""§5.2: latency of predicting inter-dataset similarity (Fig. 5) and the one-time cost of
building the references (Fig. 6).

Fig. 5, runtime latency of one pairwise comparison (an unknown dataset X against one
reference Y):

- SimEx: every sample of X through the trained autoencoder A(Y), δ per sample and their
  mean Δ(X|Y). The timed work starts from X's uint8 images in memory and ends with Δ on
  the host: conversion to float, the network, δ and the mean are all inside.
- TL-k: a copy of Y's base classifier B(Y) with frozen convolutions has its FC layers
  retrained on X by the project's one training loop (:func:`simex.training.loop.train`),
  validation each epoch, early stopping; the latency is the training time until the
  epoch of minimum validation loss (``elapsed_s`` of that epoch: training and validation
  work only, no set-up, no checkpoint copies).

Both sides are timed inside one process on the same data, warm (one untimed run of each
first), repeats interleaved so that a busy machine affects all methods alike, and with
the device synchronised before the clock is read.

SimEx's inference path: :class:`simex.inference.evaluate.FleetEvaluator` with one member, the
path every Δ of the project takes (the tables, ``simex rank``), with the same δ
(simex.models.losses), under ``torch.inference_mode`` and in large batches.

Which device, and whether alone: every timed record carries :func:`simex.devices.claim_record`
(``device``, ``device_use``, ``gpu``, ``device_wait_s``) and every row of the Fig. 5 and
Fig. 6 tables repeats it. The rule (:func:`timed_device`): a time measured on a GPU counts
only when the job held that GPU alone (``device_use`` ``alone``: the timing jobs claim with
``share=False``, so no other job computes on their GPU from their claim to their end); a
record timed on a shared GPU, or on a GPU without saying how it was held, is refused with
an error naming it. Times measured on the CPU are marked ``cpu``: the GPU locks do not
apply there, and they share the machine's cores with whatever else runs.

Throughput is reported as samples per second per autoencoder and as a fraction of the
machine's fp32 peak, estimated here as the best rate of a large fp32 matrix product
measured in the same process on the same threads (:func:`matmul_peak_gflops`), with one
autoencoder pass counted as the FLOPs of LeNet5AutoEncoder's convolutions and linear
layers (:func:`autoencoder_flops`, torch.utils.flop_counter; δ not counted).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np
import pandas as pd
import torch

from simex.inference.evaluate import FleetEvaluator, delta_means
from simex.config import OptimizerSetting, SSIMWindow, Training, derived_seed
from simex.models.losses import per_sample_loss
from simex.models.networks import LeNet5AutoEncoder
from simex.inference.similarity import check_images
from simex.training.loop import TrainConfig, TrainResult
from simex.analysis.tables import device_note, markdown_table
from simex.base.errors import SimexError
from simex.base.machine import cpu_model

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]

# Fig. 5 of the paper (GTX 1080 Ti): seconds and epochs to the minimum validation loss.
# TL-2..TL-4 are reported only as a range; TL-5 as "roughly 10 times longer than TL-1".
PAPER_FIG5: dict[str, dict[str, Any]] = {
    "SimEx": {"seconds": 2.103, "epochs": None, "note": "2.103 s per inference"},
    "TL-1": {"seconds": 22.07, "epochs": 8, "note": "22.07 s / 8 epochs"},
    "TL-2": {"seconds": None, "epochs": None, "note": "TL-2..TL-4: 32.24-40.20 s at 12-19 epochs"},
    "TL-3": {"seconds": None, "epochs": None, "note": "TL-2..TL-4: 32.24-40.20 s at 12-19 epochs"},
    "TL-4": {"seconds": None, "epochs": None, "note": "TL-2..TL-4: 32.24-40.20 s at 12-19 epochs"},
    "TL-5": {"seconds": None, "epochs": None, "note": "roughly 10x TL-1 (about 220 s)"},
}
PAPER_SPEEDUP = 22.07 / 2.103  # 10.5x
# Fig. 6a and §5.2: interim AE (RMSprop 2e-4) reaches ρ 0.90 at 42.95 s / 10 epochs and the
# final ρ 0.92 at 203.6 s / 50 epochs; base classifiers train in 23.49-33.45 s / 7-14 epochs.
PAPER_FIG6 = {("rmsprop", 0.0002, 10): (42.95, 0.90), ("rmsprop", 0.0002, 50): (203.6, 0.92)}
PAPER_BT_NOTE = "BT-1..BT-4: 23.49-33.45 s / 7-14 epochs"


class LatencyError(SimexError, ValueError):
    """Inputs to the latency experiment are inconsistent or incomplete."""


# --- timing ----------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Stopwatch:
    """Times exactly the work handed to :meth:`measure`, the device synchronised around it."""

    device: torch.device = torch.device("cpu")
    clock: Clock = time.perf_counter

    def measure(self, work: Callable[[], T]) -> tuple[T, float]:
        synchronize(self.device)
        started = self.clock()
        result = work()
        synchronize(self.device)
        return result, self.clock() - started


def time_to_minimum(result: TrainResult) -> tuple[float, int]:
    """Training time until the epoch of minimum validation loss, and that epoch.

    ``elapsed_s`` of :func:`simex.training.loop.train` counts training and validation work
    only (callbacks and weight copies excluded), cumulated over epochs.
    """
    if not result.history:
        raise LatencyError("training ran no epoch")
    if result.history[0].val_loss is None:
        raise LatencyError("time to the minimum validation loss needs a validation split (validation_fraction > 0)")
    best = next((r for r in result.history if r.epoch == result.best_epoch), None)
    if best is None:
        raise LatencyError(f"best epoch {result.best_epoch} is not in the training history")
    return best.elapsed_s, best.epoch


def timed_device(record: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The device columns of one timed record (see the module: only GPU times measured alone count).

    ``what`` names the record in the error. Records written before ``device_use`` existed
    are accepted when they were timed on the CPU (``cpu``) and refused on a GPU.
    """
    device = str(record.get("device", ""))
    use = record.get("device_use", "cpu" if device == "cpu" else None)
    if use == "cpu" and device == "cpu" or use == "alone" and device.startswith("cuda"):
        return {"device": device, "device_use": use, "gpu": str(record.get("gpu", "")),
                "device_wait_s": float(record.get("device_wait_s", 0.0))}
    held = {"shared": "on a GPU shared with other jobs", None: "without saying whether it held its GPU alone"}
    raise LatencyError(f"{what} was timed on {device or 'an unnamed device'} {held.get(use, f'as {use!r}')}: "
                       "its times may include other jobs' work. Fig. 5 and Fig. 6 take GPU times only from jobs "
                       "that held their GPU alone (simex.devices, share=False); delete the record and rerun its job")


def summary(values: Sequence[float]) -> dict[str, float]:
    values = [float(v) for v in values]
    if not values:
        raise LatencyError("no measurements to summarise")
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}


# --- SimEx inference -------------------------------------------------------------------


class PairwiseSimEx:
    """Δ(X|Y) of one trained autoencoder A(Y) for the uint8 images of X, through the one fast path."""

    def __init__(self, model: LeNet5AutoEncoder, loss: str, window: SSIMWindow, device: torch.device,
                 batch_size: int = 256) -> None:
        if batch_size < 1:
            raise LatencyError(f"batch size must be positive, got {batch_size}")
        self.batch_size = batch_size
        self.evaluator = FleetEvaluator([model], per_sample_loss(loss, window), device)

    def delta(self, images: np.ndarray) -> float:
        """Δ(X|Y): the mean δ, on the host."""
        check_images(images)
        return float(delta_means(self.evaluator, [images], batch_size=self.batch_size)[0, 0])


# --- the machine's fp32 peak -----------------------------------------------------------


def matmul_peak_gflops(device: torch.device, size: int = 1024, reps: int = 5) -> float:
    """Best fp32 GFLOP/s of a size x size matrix product on this device and these threads."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    watch = Stopwatch(device)
    watch.measure(lambda: a @ b)
    best = min(watch.measure(lambda: a @ b)[1] for _ in range(reps))
    return 2 * size**3 / max(best, 1e-12) / 1e9


def peak_method(size: int = 1024, reps: int = 5) -> str:
    return (f"best of {reps} fp32 {size}x{size} matrix products (torch.matmul) measured in the same job, "
            f"same device and {torch.get_num_threads()} thread(s)")


def autoencoder_flops() -> int:
    """FLOPs of one LeNet5AutoEncoder pass of one sample: its convolutions and linear layers."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        LeNet5AutoEncoder()(torch.zeros(1, 1, 28, 28))
    return int(counter.get_total_flops())


def hardware(device: torch.device) -> str:
    """What the numbers were measured on, for the table."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return (f"{cpu_model()}; {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch thread(s); "
            f"torch {torch.__version__}")


# --- the experiments -------------------------------------------------------------------


def stage_for(setting: OptimizerSetting, section: Training, max_epochs: int, seed: int):
    """The transfer/base stage of ``classifier`` with this optimizer and at most ``max_epochs``."""
    from simex.experiments.transfer import StageSettings

    fraction = float(section.validation_fraction)
    if fraction <= 0:
        raise LatencyError("the latency of transfer learning is the time to the minimum validation loss: "
                           "classifier validation_fraction must be > 0")
    config = TrainConfig(setting.optimizer, float(setting.lr), int(max_epochs), int(section.batch_size), seed,
                         patience=int(section.patience))
    return StageSettings(config, fraction)


def transfer_run(base, images: np.ndarray, labels: np.ndarray, setting: OptimizerSetting,
                 section: Training, max_epochs: int, seed: int, device: torch.device) -> dict[str, Any]:
    """One TL-k run: seconds and epoch of the minimum validation loss, epochs run."""
    from simex.experiments.transfer import transfer_classifier

    stage = stage_for(setting, section, max_epochs, seed)
    _, result = transfer_classifier(base, images, labels, stage, device)
    seconds, epoch = time_to_minimum(result)
    return {"seconds": seconds, "best_epoch": epoch, "epochs_run": len(result.history),
            "stopped_early": result.stopped_early, "seconds_total": result.history[-1].elapsed_s}


def base_training_run(images: np.ndarray, labels: np.ndarray, setting: OptimizerSetting, section: Training,
                      max_epochs: int, seed: int, device: torch.device) -> dict[str, Any]:
    """One BT-k run: a base classifier from scratch, time to its minimum validation loss."""
    from simex.experiments.transfer import train_base_classifier

    _, result = train_base_classifier(images, labels, stage_for(setting, section, max_epochs, seed), device)
    seconds, epoch = time_to_minimum(result)
    return {"seconds": seconds, "best_epoch": epoch, "epochs_run": len(result.history),
            "stopped_early": result.stopped_early}


def pairwise_latency(autoencoders: Mapping[str, torch.nn.Module], base, images: np.ndarray, labels: np.ndarray,
                     tl: Sequence[OptimizerSetting], section: Training, max_epochs: int, repeats: int,
                     seeds: Callable[[str, int], int], window: SSIMWindow, device: torch.device,
                     batch_size: int) -> dict[str, Any]:
    """Fig. 5's measurements: per SimEx loss and TL-k, ``repeats`` timed runs, interleaved.

    ``autoencoders`` maps a loss to A(Y) trained with it; ``base`` is B(Y); ``images`` and
    ``labels`` are the unknown dataset's samples (TL: ten classes, validation held out).
    """
    if repeats < 1:
        raise LatencyError(f"repeats must be at least 1, got {repeats}")
    watch = Stopwatch(device)
    simex = {loss: PairwiseSimEx(model, loss, window, device, batch_size) for loss, model in autoencoders.items()}
    # warm: one untimed pass of every method (allocator, thread pool, kernels chosen)
    for evaluator in simex.values():
        evaluator.delta(images)
    warm = OptimizerSetting(name="warm-up", optimizer=tl[0].optimizer, lr=tl[0].lr, panel=None) if tl else None
    if warm is not None:
        transfer_run(base, images, labels, warm, section, 1, seeds("warm-up", 0), device)
    runs: dict[str, list[dict[str, Any]]] = {**{f"SimEx-{loss}": [] for loss in simex}, **{s.name: [] for s in tl}}
    for repeat in range(repeats):
        for loss, evaluator in simex.items():
            delta, seconds = watch.measure(lambda: evaluator.delta(images))
            runs[f"SimEx-{loss}"].append({"seconds": seconds, "delta": delta})
            log.info("repeat %d SimEx (%s): Δ %.5f over %d samples in %.4f s", repeat + 1, loss, delta, len(images), seconds)
        for setting in tl:
            run = transfer_run(base, images, labels, setting, section, max_epochs, seeds(setting.name, repeat), device)
            runs[setting.name].append(run)
            log.info("repeat %d %s (%s lr %g): minimum validation loss at epoch %d after %.3f s (%d epochs run)",
                     repeat + 1, setting.name, setting.optimizer, setting.lr, run["best_epoch"], run["seconds"],
                     run["epochs_run"])
    return {"runs": runs, "settings": {s.name: {"optimizer": s.optimizer, "lr": s.lr} for s in tl},
            "max_epochs": int(max_epochs)}


def pairwise_table(record: Mapping[str, Any], primary_loss: str) -> pd.DataFrame:
    """Fig. 5's table: one row per method, ours beside the paper's."""
    runs = record["runs"]
    simex_key = f"SimEx-{primary_loss}"
    if simex_key not in runs:
        raise LatencyError(f"no SimEx measurement for loss {primary_loss!r}; have {sorted(runs)}")
    if "TL-1" not in runs:
        raise LatencyError("no TL-1 measurement: the speed-up TL-1 / SimEx needs it")
    simex_mean = summary([r["seconds"] for r in runs[simex_key]])["mean"]
    tl1_mean = summary([r["seconds"] for r in runs["TL-1"]])["mean"]
    samples, flops, peak = int(record["samples"]), int(record["flops_per_sample"]), float(record["peak_gflops"])
    where = timed_device(record, "Fig. 5's record (results/latency/pairwise.json)")
    rows = []
    for name, values in runs.items():
        seconds = summary([r["seconds"] for r in values])
        is_simex = name.startswith("SimEx")
        paper = PAPER_FIG5["SimEx" if is_simex else name] if (is_simex or name in PAPER_FIG5) else {}
        row: dict[str, Any] = {
            "method": name, "kind": "SimEx" if is_simex else "transfer learning",
            "optimizer": "" if is_simex else record["settings"][name]["optimizer"],
            "lr": math.nan if is_simex else record["settings"][name]["lr"],
            "loss": name.split("-", 1)[1] if is_simex else "cross-entropy",
            "seconds_mean": seconds["mean"], "seconds_min": seconds["min"], "seconds_max": seconds["max"],
        }
        if is_simex:
            rate = samples / seconds["mean"]
            row.update({"best_epoch_mean": math.nan, "best_epoch_min": math.nan, "best_epoch_max": math.nan,
                        "epochs_run_mean": math.nan, "runs_at_max_epochs": math.nan, "samples_per_s_per_ae": rate,
                        "model_gflops_per_s": rate * flops / 1e9, "fraction_of_fp32_peak": rate * flops / 1e9 / peak,
                        "speedup_tl1_over_this": tl1_mean / seconds["mean"]})
        else:
            epochs = summary([r["best_epoch"] for r in values])
            row.update({"best_epoch_mean": epochs["mean"], "best_epoch_min": epochs["min"], "best_epoch_max": epochs["max"],
                        "epochs_run_mean": statistics.fmean(r["epochs_run"] for r in values),
                        # the minimum may lie beyond the cap: these runs give a lower bound
                        "runs_at_max_epochs": sum(r["best_epoch"] >= record.get("max_epochs", math.inf) for r in values),
                        "samples_per_s_per_ae": math.nan, "model_gflops_per_s": math.nan,
                        "fraction_of_fp32_peak": math.nan, "speedup_tl1_over_this": math.nan})
        row.update({
            "times_simex": seconds["mean"] / simex_mean,
            "repeats": len(values), "samples": samples, "reference": record["reference"], "unknown": record["unknown"],
            **where, "hardware": record["hardware"], "peak_gflops": peak,
            "peak_method": record["peak_method"], "flops_per_sample": flops,
            "paper_seconds": paper.get("seconds"), "paper_epochs": paper.get("epochs"),
            "paper_speedup_tl1_over_simex": PAPER_SPEEDUP if is_simex else math.nan, "paper_note": paper.get("note", ""),
        })
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


# --- Fig. 6: training time vs ρ --------------------------------------------------------


def checkpoint_epochs(checkpoints: Sequence[int]) -> tuple[int, ...]:
    epochs = tuple(sorted({int(c) for c in checkpoints}))
    if not epochs or epochs[0] < 1:
        raise LatencyError(f"checkpoint epochs must be positive integers, got {list(checkpoints)}")
    return epochs


def checkpoint_rho(delta_rows: Mapping[str, Mapping[str, float]], accuracy: pd.DataFrame,
                   labels: Mapping[str, str]) -> dict[str, float]:
    """ρ per base dataset Y: Δ(X|Y) ascending against Y's transferred accuracy descending.

    ``delta_rows``: per base code, Δ per input code; ``accuracy``: the normalised
    transfer accuracy table (rows and columns display labels).
    """
    from simex.analysis.stats import ordering_rho

    result = {}
    for base, row in delta_rows.items():
        label = labels[base]
        if label not in accuracy.index:
            raise LatencyError(f"base dataset {label} is not in the transfer accuracy table (rows {list(accuracy.index)})")
        codes = [code for code in row if labels[code] in accuracy.columns]
        if len(codes) < 2:
            raise LatencyError(f"base dataset {label}: fewer than two datasets shared with the transfer accuracy table")
        result[base] = ordering_rho([row[c] for c in codes], "ascending",
                                    [float(accuracy.loc[label, labels[c]]) for c in codes], "descending")
    return result


def fig6_table(schedules: Sequence[Mapping[str, Any]], base_records: Mapping[str, Any], accuracy: pd.DataFrame,
               labels: Mapping[str, str]) -> pd.DataFrame:
    """Rows per (schedule, checkpoint epoch): elapsed training time and mean ρ over base
    datasets, mean/min/max over repeats; then BT-k rows (time to min. validation loss).

    ``schedules``: the AE-training records, each with ``setting`` and ``runs`` (per repeat,
    per base code, per epoch: elapsed_s and Δ row).
    """
    rows = []
    for record in schedules:
        setting = record["setting"]
        where = timed_device(record, f"Fig. 6's record of schedule {setting['name']}")
        per_epoch: dict[int, list[tuple[float, float]]] = {}
        bases = []
        for repeat in record["runs"]:
            by_epoch: dict[int, dict[str, Any]] = {}
            for base, checkpoints in repeat.items():
                bases.append(base)
                for point in checkpoints:
                    by_epoch.setdefault(int(point["epoch"]), {})[base] = point
            for epoch, points in by_epoch.items():
                rho = checkpoint_rho({b: p["delta"] for b, p in points.items()}, accuracy, labels)
                elapsed = statistics.fmean(p["elapsed_s"] for p in points.values())
                per_epoch.setdefault(epoch, []).append((elapsed, statistics.fmean(rho.values())))
        for epoch in sorted(per_epoch):
            values = per_epoch[epoch]
            elapsed, rho = summary([v[0] for v in values]), summary([v[1] for v in values])
            paper = PAPER_FIG6.get((setting["optimizer"], float(setting["lr"]), epoch))
            rows.append({
                "kind": "autoencoder", "panel": record["panel"], "name": setting["name"],
                "optimizer": setting["optimizer"], "lr": float(setting["lr"]), "epoch": epoch,
                "elapsed_s_mean": elapsed["mean"], "elapsed_s_min": elapsed["min"], "elapsed_s_max": elapsed["max"],
                "rho_mean": rho["mean"], "rho_min": rho["min"], "rho_max": rho["max"], "repeats": len(values),
                "base_datasets": " ".join(labels[b] for b in labels if b in bases), "loss": record["loss"],
                "samples_per_ae": record.get("samples_per_ae"), **where,
                "paper_elapsed_s": paper[0] if paper else math.nan, "paper_rho": paper[1] if paper else math.nan,
                "paper_note": "",
            })
    base_where = timed_device(base_records, "Fig. 6's record of the base classifiers (BT-k)")
    for name, entry in base_records["settings"].items():
        runs = base_records["runs"][name]  # per base code
        seconds = summary([r["seconds"] for r in runs.values()])
        epochs = summary([r["best_epoch"] for r in runs.values()])
        rows.append({
            "kind": "base classifier", "panel": "", "name": name, "optimizer": entry["optimizer"], "lr": float(entry["lr"]),
            "epoch": epochs["mean"], "elapsed_s_mean": seconds["mean"], "elapsed_s_min": seconds["min"],
            "elapsed_s_max": seconds["max"], "rho_mean": math.nan, "rho_min": math.nan, "rho_max": math.nan,
            "repeats": 1, "base_datasets": " ".join(labels[b] for b in labels if b in runs), "loss": "cross-entropy",
            "samples_per_ae": base_records.get("samples"), **base_where,
            "paper_elapsed_s": math.nan, "paper_rho": math.nan, "paper_note": PAPER_BT_NOTE,
        })
    return pd.DataFrame(rows)


def pairwise_markdown(table: pd.DataFrame) -> str:
    """Fig. 5's numbers for the README: ours beside the paper's."""
    rows = []
    for name, row in table.iterrows():
        epochs = "" if pd.isna(row["best_epoch_mean"]) else f"{row['best_epoch_mean']:.1f}"
        if row["runs_at_max_epochs"] > 0:
            epochs += f" ({int(row['runs_at_max_epochs'])} of {int(row['repeats'])} at the epoch cap: a lower bound)"
        rows.append([name, f"{row['seconds_mean']:.4g} ({row['seconds_min']:.4g}–{row['seconds_max']:.4g})", epochs,
                     f"{row['times_simex']:.1f}", row["paper_note"]])
    table_text = markdown_table(["method", "ours: s (min–max)", "epochs to min", "× SimEx", "paper"], rows, "lrrrl")
    return table_text + f"\nAll rows {device_note(table)}.\n"


def training_curve(train_images: Mapping[str, np.ndarray], test_images: Mapping[str, np.ndarray],
                   setting: OptimizerSetting, checkpoints: Sequence[int], batch_size: int, loss: str,
                   window: SSIMWindow, seed: int, device: torch.device, eval_batch_size: int = 1024) -> dict[str, list[dict[str, Any]]]:
    """One repeat of Fig. 6 for one schedule: per base dataset Y, an autoencoder trained with
    ``loss`` and, at each checkpoint epoch, the training time so far (callbacks excluded)
    and Δ(X|Y) for every dataset X's test split (the standard Δ routine)."""
    from simex.training.autoencoders import train_autoencoder

    epochs = checkpoint_epochs(checkpoints)
    delta = per_sample_loss(loss, window)
    curves: dict[str, list[dict[str, Any]]] = {}
    for base, images in train_images.items():
        points: list[dict[str, Any]] = []

        def on_checkpoint(epoch: int, model: torch.nn.Module, record: Any, base: str = base, points: list = points) -> None:
            means = delta_means([model], list(test_images.values()), delta, device, eval_batch_size)[:, 0]
            row = {code: float(mean) for code, mean in zip(test_images, means)}
            model.train()
            points.append({"epoch": epoch, "elapsed_s": record.elapsed_s, "train_loss": record.train_loss, "delta": row})
            log.info("%s %s: epoch %d after %.2f s of training, Δ row %s", setting.name, base, epoch, record.elapsed_s,
                     {k: round(v, 5) for k, v in row.items()})

        config = TrainConfig(setting.optimizer, float(setting.lr), epochs[-1], batch_size,
                             derived_seed(seed, "fig6", base), checkpoint_epochs=epochs)
        train_autoencoder(images, loss, window, config, device, on_checkpoint=on_checkpoint)
        curves[base] = points
    return curves
