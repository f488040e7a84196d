"""The cost model (simex.experiments.cost), the paper-scale rehearsal's overlay and the
capacity check (issue 30). Behaviour only: no timing is asserted."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simex.config import ConfigError, load
from simex.experiments import cost

REPO = Path(__file__).resolve().parents[1]
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
REHEARSAL = yaml.safe_load((REPO / "config" / "paper-rehearsal.yaml").read_text())


def paper_config(*more):
    return load(REPO / "config" / "config.yaml", PAPER, *more)


@pytest.fixture(scope="module")
def rehearsal_plan() -> list:
    """The rehearsal's plan: `snakemake -n --configfile config/paper.yaml config/paper-rehearsal.yaml`."""
    return cost.dry_run_plan(REPO, ["config/paper.yaml", "config/paper-rehearsal.yaml"])


def test_every_job_of_the_rehearsal_plan_has_a_cost_entry(rehearsal_plan) -> None:
    rehearsal, paper = paper_config(REHEARSAL), paper_config()
    rules = {rule for rule, _ in rehearsal_plan}
    assert len(rehearsal_plan) >= 60 and {"train_dataset_autoencoders", "nine_class_classifiers",
                                           "interclass_sample_distance", "pair_classes"} <= rules
    for rule, wildcards in rehearsal_plan:
        small, full = cost.job_cost(rehearsal, rule, wildcards), cost.job_cost(paper, rule, wildcards)
        assert small.passes() <= full.passes(), (rule, wildcards)
    training = [cost.job_cost(paper, rule, w) for rule, w in rehearsal_plan if rule.startswith("train_")]
    assert training and all(job.passes() > 0 for job in training)


def test_paper_scale_work_is_the_configured_budget() -> None:
    paper = paper_config()
    job = cost.job_cost(paper, "train_class_autoencoders_M", {"loss": "mse"})
    # 10 members x 100 epochs x 4,000 samples of a class (48,000 a dataset, 5:1)
    assert job.passes() == 10 * 100 * 4000
    distance = cost.job_cost(paper, "interclass_sample_distance", {"loss": "issim"})
    assert distance.components == (cost.Component("issim-pair", 100 * 200_000),)


def test_an_unknown_rule_has_no_cost_entry() -> None:
    with pytest.raises(KeyError, match="no entry for rule 'new_rule'"):
        cost.job_cost(paper_config(), "new_rule", {})


def test_parse_dry_run_reads_rules_and_wildcards() -> None:
    text = ("[Sun Dec  6 01:10:15 2026]\nrule export_fleet:\n    input: a\n    wildcards: fleet=class-M, loss=mse\n"
            "    resources: tmpdir=/tmp\n\nlocalrule all:\n    input: b\n")
    assert cost.parse_dry_run(text) == [("export_fleet", {"fleet": "class-M", "loss": "mse"}), ("all", {})]


def test_rehearsal_overlay_refused_on_any_config_but_the_papers() -> None:
    paper_config(REHEARSAL)  # accepted on top of config/paper.yaml
    with pytest.raises(ConfigError, match=r"rehearsal of config/paper.yaml.*data.samples_per_dataset is 1800"):
        load(REPO / "config" / "config.yaml", REHEARSAL)
    smaller = copy.deepcopy(PAPER)
    smaller["interclass"]["sample_distance"]["max_pairs"] = 1000
    with pytest.raises(ConfigError, match="interclass.sample_distance.max_pairs is 1000"):
        load(REPO / "config" / "config.yaml", smaller, REHEARSAL)


def test_a_training_section_with_epochs_and_steps_is_refused() -> None:
    both = copy.deepcopy(PAPER)
    del both["class_autoencoder"]["steps"]  # config/config.yaml's steps come back under the epochs
    with pytest.raises(ConfigError, match="class_autoencoder sets both epochs"):
        load(REPO / "config" / "config.yaml", both)


def test_capacity_check_names_need_and_what_is_available(tmp_path: Path) -> None:
    paper = paper_config()
    need = cost.needs(paper)
    problems = cost.capacity_problems(paper, tmp_path, memory_bytes=4 * 2**30, disk_free_bytes=100 * 2**30)
    assert len(problems) == 1 and "needs about" in problems[0] and "this machine has 4.0 GiB" in problems[0]
    assert f"{need.memory_bytes / 2**30:.1f} GiB" in problems[0]
    problems = cost.capacity_problems(paper, tmp_path, memory_bytes=64 * 2**30, disk_free_bytes=0.1 * 2**30)
    assert len(problems) == 1 and "results/ needs about" in problems[0] and "0.1 GiB is free" in problems[0]
    assert cost.capacity_problems(paper, tmp_path, memory_bytes=64 * 2**30, disk_free_bytes=100 * 2**30) == []
    default = load()
    assert cost.needs(default).memory_bytes < need.memory_bytes


def test_pipeline_stops_before_any_job_on_a_machine_too_small(tmp_path: Path) -> None:
    """rules/common.smk runs the check while Snakemake parses the rules: nothing runs."""
    for name in ("Snakefile", "rules", "config", "workflow_scripts", "report", "environment.yml"):
        (tmp_path / name).symlink_to(REPO / name)
    code = ("import simex.experiments.cost as c, sys; c.machine_memory_bytes = lambda: 2 * 2**30; "
            "from snakemake.cli import main; sys.argv = ['snakemake', '--cores', '1', '--configfile', "
            "'config/paper.yaml']; main()")
    env = {"PYTHONPATH": str(REPO), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "this machine cannot hold this run" in done.stdout + done.stderr
    assert "this machine has 2.0 GiB" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()
