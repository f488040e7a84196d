"""§5.2 latency: the stopping rule, what the clocks count, the fast SimEx path, the tables."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from simex.analysis import tables
from simex.experiments import latency
from simex.training import loop as training
from simex.devices import claim_record
from simex.inference.evaluate import plain_errors
from simex.config import OptimizerSetting, Training
from simex.experiments.latency import (LatencyError, PairwiseSimEx, Stopwatch, checkpoint_rho, fig6_table,
                           pairwise_latency, pairwise_table, time_to_minimum)
from simex.models.losses import SSIMWindow, per_sample_loss
from simex.models.networks import LeNet5AutoEncoder, LeNet5Classifier
from simex.data.images import InputError
from simex.training.loop import images_to_tensor
from simex.training.loop import EarlyStopping, TrainConfig, train

CPU = torch.device("cpu")


class FakeClock:
    """A clock that moves only when the test says so: work and 'sleeps' are explicit ticks."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def scripted_run(curve: list[float], patience: int, clock: FakeClock | None = None,
                 sleep_in_callback: float = 0.0) -> training.TrainResult:
    """train() on a model whose validation loss follows ``curve`` epoch by epoch.

    Each training batch costs 1 s of the fake clock and each validation pass 1 s; the
    checkpoint callback (every epoch) 'sleeps' ``sleep_in_callback`` s outside the work.
    """
    model = nn.Linear(1, 1)
    epoch = {"validated": 0}

    def batch_loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if clock is not None:
            clock.advance(1.0)
        if m.training:
            return (m.weight * 0).sum() + 1.0
        value = curve[epoch["validated"]]
        epoch["validated"] += 1
        return torch.tensor(value)

    def on_checkpoint(*_: object) -> None:
        if clock is not None:
            clock.advance(sleep_in_callback)

    x = torch.zeros(8, 1)
    config = TrainConfig("sgd", 0.1, len(curve), 4, seed=0, patience=patience,
                         checkpoint_epochs=tuple(range(1, len(curve) + 1)))
    return train(model, batch_loss, (x, x), config, CPU, validation=(x[:4], x[:4]), on_checkpoint=on_checkpoint)


# --- the stopping rule -----------------------------------------------------------------


def test_stops_at_the_minimum_of_a_scripted_validation_curve():
    curve = [5.0, 4.0, 3.0, 3.5, 2.5, 2.6, 2.7, 2.8, 2.0, 1.0]
    result = scripted_run(curve, patience=3)
    assert result.best_epoch == 5  # the minimum before three epochs without improvement
    assert result.stopped_early and len(result.history) == 8  # 5 + patience, never sees the later 2.0
    seconds, epoch = time_to_minimum(result)
    assert epoch == 5 and seconds == result.history[4].elapsed_s


def test_without_patience_the_minimum_is_the_global_one():
    curve = [3.0, 1.0, 2.0, 0.5, 0.7]
    result = scripted_run(curve, patience=0)
    assert not result.stopped_early and len(result.history) == 5
    assert time_to_minimum(result)[1] == 4


def test_early_stopping_ties_do_not_move_the_minimum():
    stopper = EarlyStopping(patience=2)
    assert [stopper.update(e, v) for e, v in enumerate([2.0, 1.0, 1.0, 1.0], start=1)] == [False, False, False, True]
    assert stopper.best_epoch == 2


def test_time_to_minimum_needs_a_validation_split():
    result = training.TrainResult(history=[training.EpochRecord(1, 0.5, None, 1.0)], best_epoch=1)
    with pytest.raises(LatencyError, match="validation"):
        time_to_minimum(result)


# --- the clocks count only the work ----------------------------------------------------


def test_stopwatch_counts_only_the_work():
    clock = FakeClock()
    watch = Stopwatch(CPU, clock)
    clock.advance(50.0)  # e.g. start-up, loading: before the measurement
    result, seconds = watch.measure(lambda: clock.advance(2.0) or "done")
    clock.advance(30.0)  # after it
    assert result == "done" and seconds == 2.0


def test_training_time_excludes_callbacks(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(training, "time", SimpleNamespace(perf_counter=clock))
    curve = [3.0, 2.0, 1.0, 1.5, 1.6, 1.7]
    result = scripted_run(curve, patience=3, clock=clock, sleep_in_callback=100.0)
    # per epoch: 2 training batches + 1 validation pass = 3 s of work; 100 s sleeps not counted
    assert [r.elapsed_s for r in result.history] == [3.0, 6.0, 9.0, 12.0, 15.0, 18.0]
    assert time_to_minimum(result) == (9.0, 3)


# --- Fig. 5 times the one fused path, with the δ of every other output -------------------


@pytest.mark.parametrize("loss", ["mse", "issim"])
def test_pairwise_simex_equals_the_plain_model(loss):
    torch.manual_seed(0)
    model = LeNet5AutoEncoder().eval()
    images = np.random.default_rng(0).integers(0, 256, size=(70, 28, 28), dtype=np.uint8)
    expected = plain_errors([model], images_to_tensor(images), per_sample_loss(loss)).double().mean()
    fast = PairwiseSimEx(model, loss, SSIMWindow.default(), CPU, batch_size=32)
    assert fast.delta(images) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(InputError, match="shape"):
        fast.delta(images[:, :27])


# --- measurements and tables -----------------------------------------------------------


def test_pairwise_latency_measures_every_method_and_the_table_says_so():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    labels = np.arange(60) % 10
    tl = [OptimizerSetting("TL-1", "rmsprop", 1e-3), OptimizerSetting("TL-5", "rmsprop", 1e-4)]
    section = Training(optimizer="rmsprop", lr=1e-3, epochs=3, batch_size=16, patience=1, validation_fraction=0.2,
                       steps=None)
    record = pairwise_latency({"mse": LeNet5AutoEncoder()}, LeNet5Classifier(), images, labels, tl, section,
                              max_epochs=3, repeats=2, seeds=lambda name, repeat: repeat, window=SSIMWindow.default(),
                              device=CPU, batch_size=32)
    assert set(record["runs"]) == {"SimEx-mse", "TL-1", "TL-5"}
    assert all(len(runs) == 2 for runs in record["runs"].values())
    record.update(reference="M", unknown="F", samples=60, hardware="test", peak_gflops=10.0,
                  peak_method="test", flops_per_sample=2_000_000, **claim_record(CPU))
    table = pairwise_table(record, "mse")
    assert (table["device_use"] == "cpu").all() and (table["device"] == "cpu").all()
    assert list(table.index) == ["SimEx-mse", "TL-1", "TL-5"]
    assert (table["seconds_mean"] > 0).all() and table["seconds_mean"].map(math.isfinite).all()
    simex = table.loc["SimEx-mse"]
    assert simex["speedup_tl1_over_this"] == pytest.approx(table.loc["TL-1", "seconds_mean"] / simex["seconds_mean"])
    assert simex["fraction_of_fp32_peak"] == pytest.approx(60 / simex["seconds_mean"] * 2e6 / 1e10)
    assert table.loc["TL-1", "paper_seconds"] == 22.07 and table.loc["TL-1", "paper_epochs"] == 8
    assert 1 <= table.loc["TL-1", "best_epoch_min"] <= table.loc["TL-1", "best_epoch_max"] <= 3


def test_pairwise_table_needs_tl1():
    record = {"runs": {"SimEx-mse": [{"seconds": 1.0}], "TL-2": [{"seconds": 3.0, "best_epoch": 2, "epochs_run": 3}]}}
    with pytest.raises(LatencyError, match="TL-1"):
        pairwise_table(record, "mse")


def test_transfer_latency_needs_a_validation_split():
    with pytest.raises(LatencyError, match="validation_fraction"):
        section = Training(optimizer="rmsprop", lr=1e-3, epochs=5, batch_size=32, patience=0, validation_fraction=0.0,
                           steps=None)
        latency.stage_for(OptimizerSetting("TL-1", "rmsprop", 1e-3), section, 5, 0)


LABELS = {"M": "M", "E": "E*", "F": "F"}
ACCURACY = pd.DataFrame([[1.0, 0.8, 0.6], [0.7, 1.0, 0.5], [0.6, 0.9, 1.0]], index=["M", "E*", "F"],
                        columns=["M", "E*", "F"])


def test_checkpoint_rho_orders_delta_ascending_against_accuracy_descending():
    agree = {"M": {"M": 0.1, "E": 0.2, "F": 0.3}}  # same order as M's accuracies
    reverse = {"M": {"M": 0.3, "E": 0.2, "F": 0.1}}
    assert checkpoint_rho(agree, ACCURACY, LABELS) == {"M": pytest.approx(1.0)}
    assert checkpoint_rho(reverse, ACCURACY, LABELS) == {"M": pytest.approx(-1.0)}


def test_fig6_table_has_a_row_per_checkpoint_and_bt_rows():
    def point(epoch, elapsed, m_row, f_row):
        return {"M": [{"epoch": epoch, "elapsed_s": elapsed, "delta": m_row}],
                "F": [{"epoch": epoch, "elapsed_s": elapsed + 2, "delta": f_row}]}

    good_m, good_f = {"M": 0.1, "E": 0.2, "F": 0.3}, {"M": 0.3, "E": 0.2, "F": 0.1}  # ρ = 1 and 1
    bad_m = {"M": 0.3, "E": 0.2, "F": 0.1}  # ρ = -1
    repeat_1 = {k: point(3, 10.0, bad_m, good_f)[k] + point(5, 20.0, good_m, good_f)[k] for k in ("M", "F")}
    repeat_2 = {k: point(3, 12.0, good_m, good_f)[k] + point(5, 22.0, good_m, good_f)[k] for k in ("M", "F")}
    schedule = {"setting": {"name": "RMSprop lr 2e-4", "optimizer": "rmsprop", "lr": 0.0002}, "panel": "a", "loss": "issim",
                "runs": [repeat_1, repeat_2], **ALONE_ON_GPU_2}
    base = {"settings": {"BT-1": {"optimizer": "rmsprop", "lr": 0.001}}, "device": "cpu",
            "runs": {"BT-1": {"M": {"seconds": 4.0, "best_epoch": 3}, "F": {"seconds": 6.0, "best_epoch": 5}}}}
    table = fig6_table([schedule], base, ACCURACY, LABELS)
    curve = table[table["kind"] == "autoencoder"].set_index("epoch")
    assert list(curve.index) == [3, 5]
    assert curve.loc[3, "rho_min"] == pytest.approx(0.0) and curve.loc[3, "rho_max"] == pytest.approx(1.0)
    assert curve.loc[3, "rho_mean"] == pytest.approx(0.5)
    assert curve.loc[5, "elapsed_s_mean"] == pytest.approx(22.0)  # mean over bases (M, F), then repeats
    assert curve.loc[5, "base_datasets"] == "M F" and (curve["repeats"] == 2).all()
    bt = table[table["kind"] == "base classifier"].iloc[0]
    assert bt["name"] == "BT-1" and bt["elapsed_s_mean"] == pytest.approx(5.0)
    # every row says where it was timed and how the device was held (a record from before the field: cpu)
    assert (curve["device_use"] == "alone").all() and (curve["gpu"] == "2").all()
    assert (curve["device_wait_s"] == 42.0).all()
    assert (bt["device"], bt["device_use"]) == ("cpu", "cpu")
    assert tables.device_note(table) == ("timed on cuda:0 (physical GPU 2), alone: no other job on the GPU; waited "
                                          "42 s for it; cpu, CPU cores shared with whatever else ran on the machine")


ALONE_ON_GPU_2 = {"device": "cuda:0", "device_use": "alone", "gpu": "2", "device_wait_s": 42.0}


@pytest.mark.parametrize(("held", "problem"), [
    ({"device": "cuda:0", "device_use": "shared", "gpu": "2", "device_wait_s": 0.0}, "on a GPU shared with other jobs"),
    ({"device": "cuda:0"}, "without saying whether it held its GPU alone"),  # a record from before device_use
    ({}, "an unnamed device"),
])
def test_times_from_a_gpu_not_held_alone_are_refused(held: dict, problem: str):
    record = {"runs": {"SimEx-mse": [{"seconds": 1.0, "delta": 0.1}],
                       "TL-1": [{"seconds": 3.0, "best_epoch": 2, "epochs_run": 3}]},
              "settings": {"TL-1": {"optimizer": "rmsprop", "lr": 1e-3}}, "max_epochs": 5, "reference": "M",
              "unknown": "F", "samples": 60, "hardware": "test", "peak_gflops": 10.0, "peak_method": "test",
              "flops_per_sample": 2_000_000, **held}
    with pytest.raises(LatencyError, match=f"Fig. 5's record .* was timed on .*{problem}"):
        pairwise_table(record, "mse")
    table = pairwise_table({**record, **ALONE_ON_GPU_2}, "mse")  # the same times, measured alone: accepted
    assert "All rows timed on cuda:0 (physical GPU 2), alone" in latency.pairwise_markdown(table)
    schedule = {"setting": {"name": "Adadelta lr 1", "optimizer": "adadelta", "lr": 1.0}, "runs": [], **held}
    with pytest.raises(LatencyError, match=f"schedule Adadelta lr 1 was timed on .*{problem}"):
        fig6_table([schedule], {"settings": {}, "runs": {}, "device": "cpu"}, ACCURACY, LABELS)


# --- end to end ------------------------------------------------------------------------


@pytest.mark.e2e
def test_tiny_run_latency_artifacts(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/latency_pairwise.csv", index_col=0)
    assert {"SimEx-issim", "SimEx-mse", "TL-1", "TL-5"} <= set(table.index)
    assert np.isfinite(table["seconds_mean"]).all() and (table["seconds_mean"] > 0).all()
    simex = table[table["kind"] == "SimEx"]
    assert np.isfinite(simex["speedup_tl1_over_this"]).all() and (simex["speedup_tl1_over_this"] > 0).all()
    assert (simex["fraction_of_fp32_peak"] > 0).all() and (simex["samples_per_s_per_ae"] > 0).all()
    assert table["hardware"].notna().all() and table["paper_note"].notna().all()
    assert (table["device_use"] == "cpu").all()  # the test machine has no GPU: every row says so
    fig6 = pd.read_csv(tiny_run / "results/tables/fig6_training_time_vs_rho.csv")
    curves = fig6[fig6["kind"] == "autoencoder"]
    assert set(curves["epoch"]) == {1, 2}  # the tiny config's checkpoints
    assert len(curves) == 2 * curves["name"].nunique() == 6
    assert curves["rho_mean"].between(-1, 1).all() and (curves["elapsed_s_mean"] > 0).all()
    assert set(fig6.loc[fig6["kind"] == "base classifier", "name"]) == {"BT-1", "BT-2", "BT-3", "BT-4"}
    assert set(fig6["device_use"]) == {"cpu"} and fig6["device_wait_s"].notna().all()
    for path in ("results/figures/fig5_latency.png", "results/figures/fig6_training_time_vs_rho.png",
                 "benchmarks/latency/pairwise.tsv", "benchmarks/latency/base_training.tsv"):
        assert (tiny_run / path).stat().st_size > 0
