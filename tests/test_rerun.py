"""A config change reruns exactly the jobs that use the changed value.

Every value a job uses reaches it through its rule's ``params:``, which Snakemake records
per output and compares on the next run (the ``params`` rerun trigger). These tests read
what Snakemake records for each job (``--touch`` writes the records without running
anything) under two configs, and what a dry run then plans.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import deep_merge, tiny_config

# The jobs that use the seed: everything seeded (data, every training, subsamples, the
# fleets' bootstrap). Tables and figures made from other artifacts alone are absent.
SEEDED_RULES = {
    "acquire_dataset", "prepare_dataset", "train_dataset_autoencoders", "train_dataset_autoencoder_replicas",
    *(f"train_class_autoencoders_{dataset}" for dataset in ("M", "E", "R", "B", "F")),
    "prepare_classifier_split", "train_base_classifiers", "transfer_from_base", "augmentation_test_set", "augment_with_reference",
    "augment_without_borrowing",
    "interclass_sample_distance", "nine_class_classifiers", "fleet_rank_check", "latency_pairwise",
    "latency_ae_training", "latency_base_training",
}


def snakemake(workdir: Path, config: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    (workdir / "run.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", *args, "--cores", "1", "--configfile", "run.yaml"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def recorded_params(workdir: Path, config: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """(rule, params) that Snakemake records for every output of the whole DAG under ``config``."""
    for metadata in (workdir / ".snakemake" / "metadata").glob("*"):
        metadata.unlink()
    snakemake(workdir, config, "--touch", "--forceall", "--quiet")
    records = {}
    for metadata in (workdir / ".snakemake" / "metadata").iterdir():
        record = json.loads(metadata.read_text())
        records[base64.b64decode(metadata.name).decode()] = (record["rule"], sorted(record["params"]))
    return records


@pytest.fixture(scope="module")
def tiny_params(workflow_copy: Path) -> dict[str, tuple[str, list[str]]]:
    return recorded_params(workflow_copy, tiny_config())


def rules_with_changed_params(workdir: Path, before: dict[str, tuple[str, list[str]]], after: dict[str, Any]) -> set[str]:
    new = recorded_params(workdir, after)
    assert before.keys() == new.keys()  # the same DAG: only values changed
    return {rule for output, (rule, params) in new.items() if params != before[output][1]}


def test_a_new_seed_reaches_exactly_the_seeded_jobs(workflow_copy: Path, tiny_params) -> None:
    config = tiny_config()
    assert rules_with_changed_params(workflow_copy, tiny_params, {**config, "seed": config["seed"] + 1}) == SEEDED_RULES


def test_a_sample_distance_setting_reaches_only_its_jobs(workflow_copy: Path, tiny_params) -> None:
    changed = deep_merge(tiny_config(), {"interclass": {"sample_distance": {"max_pairs": 7}}})
    assert rules_with_changed_params(workflow_copy, tiny_params, changed) == {"interclass_sample_distance", "table2_spearman"}


def planned_rules(output: str) -> set[str]:
    return {line.split()[1].rstrip(":") for line in output.splitlines() if line.startswith(("rule ", "localrule "))}


@pytest.mark.e2e  # about 30 s: five Snakemake invocations
def test_a_finished_run_replans_only_what_a_changed_value_touches(workflow_copy: Path) -> None:
    """On a finished workdir (empty artifacts, recorded by --touch) the dry run plans the
    jobs whose params changed and what is built from their outputs, nothing upstream."""
    config = tiny_config()
    summary = snakemake(workflow_copy, config, "--summary", "--forceall").stdout
    for line in summary.splitlines()[1:]:
        output = workflow_copy / line.split("\t")[0]
        if output.suffix:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.touch()
        else:  # a directory() output: the fleet folders
            output.mkdir(parents=True, exist_ok=True)
    snakemake(workflow_copy, config, "--touch", "--quiet")
    unchanged = snakemake(workflow_copy, config, "-n")
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr
    changed = deep_merge(config, {"fleets": {"express": {"step": 32}}})
    result = snakemake(workflow_copy, changed, "-n")
    assert planned_rules(result.stdout + result.stderr) == {"fleet_rank_check", "all"}
