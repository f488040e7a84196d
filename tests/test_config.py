"""The config schema stops a bad run before any job, naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO, copy_workflow, deep_merge, tiny_config


def dry_run(tmp_path, config):
    """`snakemake -n` of a fresh copy of the workflow under ``config``."""
    copy_workflow(tmp_path)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "bad.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"autoencoder": {"epocs": 3}}, "epocs"),
        ({"autoencoder": {"epochs": "ten"}}, "ten"),
        ({"autoencoder": {"lr": -1.0}}, "lr"),
        ({"datasets": ["M", "Q"]}, "Q"),
        ({"data": {"source_chain": ["internet"]}}, "internet"),
    ],
)
def test_bad_config_stops_before_any_job_and_names_the_problem(tmp_path, override, named):
    result = dry_run(tmp_path, deep_merge(tiny_config(), override))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "validating config" in output.lower() or "validation" in output.lower(), output[-2000:]
    assert named in output, output[-2000:]
    assert "rule acquire_dataset" not in output


def test_paper_config_plans_the_paper_scale_job_set():
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "4", "--configfile",
                             "config/paper.yaml", "--forceall", "--quiet", "rules"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(line.split()[:2] for line in (result.stdout + result.stderr).splitlines()
                  if len(line.split()) == 2 and line.split()[1].isdigit())
    assert counts["acquire_dataset"] == "5" and counts["prepare_dataset"] == "5"
    assert counts["train_dataset_autoencoders"] == "2"  # {MSE, iSSIM}, each the 5 datasets' autoencoders fused


def test_an_experiment_the_config_cannot_run_is_skipped_with_a_warning(tmp_path):
    config = deep_merge(tiny_config(), {"datasets": ["E", "F"],
                                        "latency": {"reference": "E", "unknown": "F",
                                                    "training_time": {"base_datasets": ["F"]}}})
    result = dry_run(tmp_path, config)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for experiment in ("fig7", "fig8", "fig1a"):
        assert f"skipping {experiment}: it needs dataset M" in output
    assert "rule pair_classes" not in output and "rule delta_dataset" in output
