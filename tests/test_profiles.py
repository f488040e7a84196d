"""The execution profiles in config/profiles/ parse and plan the paper-scale DAG as intended.

Each test dry-runs `snakemake -n --profile config/profiles/<name> --configfile
config/paper.yaml` in a fresh copy of the workflow (so the whole DAG is planned) and
asserts on the resources Snakemake planned for each job: GPU requests on the rules that
train or infer, partitions/queues and runtimes per rule. The cluster profiles need their
executor plugins (`pip install -e ".[cluster]"`); without one the test is skipped.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests.conftest import REPO

PROFILES = REPO / "config" / "profiles"
PLUGINS = {
    "workstation": [],
    "slurm": ["snakemake_executor_plugin_slurm"],
    "kubernetes": ["snakemake_executor_plugin_kubernetes", "snakemake_storage_plugin_fs"],
    "generic": ["snakemake_executor_plugin_cluster_generic"],
}
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
TRAINING_RULES = ("train_dataset_autoencoders", "train_class_autoencoders_M", "train_base_classifiers")  # in the paper DAG today


@dataclass
class PlannedJob:
    rule: str
    threads: int = 1
    wildcards: str = ""
    output: str = ""
    resources: dict[str, str] = field(default_factory=dict)

    @property
    def gpus(self) -> int:
        return int(self.resources.get("gpu", 0))


def parse_dry_run(text: str) -> list[PlannedJob]:
    """The jobs of a `snakemake -n` listing with their threads and planned resources."""
    jobs: list[PlannedJob] = []
    for line in text.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            jobs.append(PlannedJob(match.group(1)))
        elif jobs and (match := re.match(r"^    (\w+): (.*)$", line)):
            key, value = match.groups()
            job = jobs[-1]
            if key == "threads":
                job.threads = int(value)
            elif key in ("wildcards", "output"):
                setattr(job, key, value)
            elif key == "resources":
                job.resources = dict(item.split("=", 1) for item in value.split(", "))
    return jobs


def plan(workdir: Path, profile: str, *extra: str) -> list[PlannedJob]:
    missing = [module for module in PLUGINS[profile] if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"profile {profile!r} needs {', '.join(missing)}: pip install -e '.[cluster]'")
    command = [sys.executable, "-m", "snakemake", "-n", "--profile", f"config/profiles/{profile}",
               "--configfile", "config/paper.yaml", *extra]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"dry run with profile {profile} failed:\n{result.stderr[-4000:]}"
    jobs = parse_dry_run(result.stdout + result.stderr)
    assert jobs, f"no jobs planned:\n{result.stdout[-2000:]}"
    return jobs


def profile_config(profile: str) -> dict:
    return yaml.safe_load((PROFILES / profile / "config.yaml").read_text())


def check_paper_dag(jobs: list[PlannedJob]) -> None:
    rules = [job.rule for job in jobs]
    assert rules.count("train_dataset_autoencoders") == len(PAPER["losses"])  # each: every dataset's, fused
    assert "all" in rules
    for job in jobs:
        if job.rule in TRAINING_RULES:
            assert job.gpus == 1, f"{job.rule} ({job.wildcards}) is not given a GPU: {job.resources}"


EXECUTORS = {"workstation": None, "slurm": "slurm", "kubernetes": "kubernetes", "generic": "cluster-generic"}


@pytest.fixture(scope="module")
def workflow_rules(workflow_copy: Path) -> set[str]:
    """Every rule of the workflow under the paper's config (Snakemake's --list-rules)."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules", "--configfile", "config/paper.yaml"],
                            cwd=workflow_copy, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return {line.strip() for line in result.stdout.splitlines() if re.fullmatch(r"\s*\w+", line)}


@pytest.fixture(scope="module")
def workstation_jobs(workflow_copy: Path) -> list[PlannedJob]:
    """The default run planned under the workstation profile (the rules' own resources: it sets none)."""
    return plan(workflow_copy, "workstation", "--cores", "32", "--configfile", "config/config.yaml")


@pytest.mark.parametrize("profile", sorted(PLUGINS))
def test_every_profile_runs_on_its_executor_and_configures_rules_that_exist(
        profile: str, workflow_rules: set[str], workstation_jobs: list[PlannedJob]) -> None:
    """What each profile does: its executor (and the plugin its header installs), a setting for
    rules the workflow has (a renamed rule would silently lose it), and GPUs for the GPU rules."""
    config = profile_config(profile)
    assert config.get("executor") == EXECUTORS[profile]
    header = "\n".join(line for line in (PROFILES / profile / "config.yaml").read_text().splitlines()
                       if line.startswith("#"))
    install = next((line for line in header.splitlines() if "pip install snakemake-" in line), "")
    assert all(module.replace("_", "-") in install for module in PLUGINS[profile])
    configured = {*config.get("set-resources", {}), *config.get("set-threads", {})}
    assert configured and configured <= workflow_rules, sorted(configured - workflow_rules)
    gpu_rules = {job.rule for job in workstation_jobs if job.gpus}  # the rules that declare gpu=1
    assert {"train_dataset_autoencoders", "delta_dataset", "transfer_from_base"} <= gpu_rules
    # (a GPU rule a profile does not list runs with the profile's defaults: its own threads, partitions.yaml)
    if profile == "workstation":  # GPU jobs at once, and threads for GPU jobs only
        assert config["resources"]["gpu"] >= 1 and set(config["set-threads"]) <= gpu_rules
    elif profile == "slurm":  # a GPU rule it lists asks the GPU partition for one GPU; the others stay off it
        for rule, settings in config["set-resources"].items():
            if rule in gpu_rules:
                assert settings["gpu"] == 1 and settings["slurm_partition"] == "gpu", rule
            else:
                assert "gpu" not in settings and settings.get("slurm_partition", "cpu") == "cpu", rule
    elif profile == "kubernetes":  # GPU pods from the rules' gpu resource, shared storage for every job
        assert config["default-resources"]["gpu_manufacturer"] == "nvidia" and config["default-resources"]["scale"] == 0
        assert config["kubernetes-persistent-volumes"][0].endswith(":" + config["default-storage-prefix"])
    else:  # the submit command asks for the job's GPUs; every other job gets gpu=0
        assert "ngpus={resources.gpu}" in config["cluster-generic-submit-cmd"]
        assert config["default-resources"]["gpu"] == 0


def test_workstation_runs_four_gpu_jobs_with_threads_each(workstation_jobs: list[PlannedJob]) -> None:
    config = profile_config("workstation")
    assert config["resources"] == {"gpu": 4}
    assert config["cores"] == "all"
    # the default config gives every job 1 thread, so 4 threads can only come from the profile
    jobs = workstation_jobs
    for job in jobs:
        if job.rule in config["set-threads"]:
            assert job.gpus == 1 and job.threads == 4, f"{job.rule}: {job.threads} threads, {job.resources}"
    assert {job.rule for job in jobs} & set(TRAINING_RULES) == set(TRAINING_RULES)


def slurm_partition(job: PlannedJob, partitions: list) -> tuple[str, object]:
    """The partition the SLURM plugin submits a planned job to, and the job as it sees it."""
    from snakemake_executor_plugin_slurm.partitions import get_best_partition

    class Resources(dict):
        __getattr__ = dict.__getitem__

    values = {key: int(value) if value.isdigit() else value for key, value in job.resources.items()}
    plugin_job = SimpleNamespace(name=job.rule, threads=job.threads, resources=Resources(values))
    logger = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=lambda *a: None)
    name = values.get("slurm_partition") or get_best_partition(partitions, plugin_job, logger)
    return name, plugin_job


def test_slurm_requests_gpus_on_the_gpu_partition(workflow_copy: Path) -> None:
    jobs = plan(workflow_copy, "slurm")
    check_paper_dag(jobs)
    if importlib.util.find_spec("snakemake_executor_plugin_slurm.partitions") is None:
        pytest.skip("this snakemake-executor-plugin-slurm has no partition selection")
    from snakemake_executor_plugin_slurm.partitions import read_partition_file

    config = profile_config("slurm")
    partitions = read_partition_file(workflow_copy / config["slurm-partition-config"])
    for job in jobs:
        partition, plugin_job = slurm_partition(job, partitions)
        assert partition == ("gpu" if job.gpus else "cpu"), f"{job.rule} ({job.resources}) goes to {partition}"
        limits = next(p for p in partitions if p.name == partition)
        assert limits.score_job_fit(plugin_job) is not None, f"{job.rule} exceeds the limits of {partition}"
        if job.rule in config["set-resources"] and job.gpus:
            assert job.resources["gpu_model"] == "a100" and int(job.resources["cpus_per_gpu"]) >= 1
        if not job.gpus:
            assert "gpu_model" not in job.resources  # the plugin would add --gpus=<model>:1
    runtime = {job.rule: int(job.resources["runtime"]) for job in jobs}
    assert runtime["train_dataset_autoencoders"] == 240 and runtime["acquire_dataset"] == 60  # per rule
    assert runtime["figure_inter_dataset"] == 30  # the default


def test_kubernetes_requests_nvidia_gpus_with_limits_and_shared_storage(workflow_copy: Path) -> None:
    jobs = plan(workflow_copy, "kubernetes")
    check_paper_dag(jobs)
    for job in jobs:
        if job.gpus:  # without a manufacturer the plugin refuses the job; without limits Kubernetes does
            assert job.resources["gpu_manufacturer"] == "nvidia" and job.resources["scale"] == "0"
        if job.output:
            assert job.output.startswith("/mnt/simex/") and "(send to storage)" in job.output
    memory = {job.rule: int(job.resources["mem_mb"]) for job in jobs}
    assert memory["train_dataset_autoencoders"] == 16000 and memory["acquire_dataset"] == 4000


def test_generic_submit_template_fills_in_for_every_planned_job(workflow_copy: Path) -> None:
    template = profile_config("generic")["cluster-generic-submit-cmd"]
    jobs = plan(workflow_copy, "generic")
    check_paper_dag(jobs)
    commands = {}
    for jobid, job in enumerate(jobs):
        resources = SimpleNamespace(**job.resources)
        commands[job.rule] = command = template.format(rule=job.rule, jobid=jobid, threads=job.threads,
                                                       resources=resources)
        assert f"ngpus={job.gpus}" in command
    assert "ngpus=1" in commands["train_dataset_autoencoders"] and "walltime=240:00" in commands["train_dataset_autoencoders"]
    assert "ngpus=0" in commands["figure_inter_dataset"] and "walltime=30:00" in commands["figure_inter_dataset"]
