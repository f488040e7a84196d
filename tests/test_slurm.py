"""The pipeline runs on a real Slurm cluster through config/profiles/slurm and gives the local results.

A single-node cluster from Debian's packages (tests/slurm_cluster.py: munged, slurmctld,
slurmd as the test's own processes) advertises two GPUs of the profile's gpu_model as GRES
and the profile's partitions. Snakemake submits every job of the tiny config's Fig. 4 MSE
table through snakemake-executor-plugin-slurm (sbatch; srun inside each job), and the
tests check:

- the artifacts equal those of the local run (the `tiny_run` fixture): every table CSV
  byte-identical, every model checkpoint within float tolerance;
- slurmctld's job records and the job-completion log (sacct --completion) hold one
  completed job per Snakemake job, each with the partition, time limit, memory and GPU
  GRES that the profile requests for its rule;
- each job's log says on which host it ran, and GPU jobs log the GPU Slurm gave them.

Targets: results/tables/delta_dataset_mse.csv (§5.1, Fig. 4a): acquire and prepare on the
CPU partition (one with a per-rule time limit, one with the default), autoencoder training
and Δ on the GPU partition, models and a table to compare: every kind of job the profile
places, in four dependent stages. The whole tiny DAG would spend most of its time starting
Snakemake inside ~140 jobs.

Needs root (slurmd launches the jobs), Debian's slurm-wlm and munge (scripts/setup.sh),
the executor plugin (`pip install -e '.[cluster]'`), and a machine that is no Slurm node
already (/run/slurm/conf free); otherwise the tests are skipped, saying which is missing.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
import yaml

from tests.conftest import DOWNLOAD_CACHE, REPO, copy_workflow
from tests.slurm_cluster import DEBIAN_PACKAGES, RUN_CONF, Partition, SlurmCluster, missing_binaries, start_cluster

pytestmark = [pytest.mark.slurm, pytest.mark.e2e]

PROFILE = REPO / "config" / "profiles" / "slurm"
TARGETS = ("results/tables/delta_dataset_mse.csv",)
# Command-line settings for this cluster, on top of the profile:
SLURM_OPTIONS = (
    # no slurmdbd here, so plain sacct fails ("Slurm accounting storage is disabled");
    # squeue sees finished jobs for MinJobAge (an hour here)
    "--slurm-status-command", "squeue",
    # the plugin waits 40 s before its first status check, too long for jobs of seconds
    "--slurm-init-seconds-before-status-checks", "2",
    # the logs of successful jobs are the evidence of where they ran
    "--slurm-keep-successful-logs",
)
RUN_TIMEOUT_S = 600  # the budget CI gives this test
RTOL, ATOL = 1e-5, 1e-7  # checkpoints: same code and data, possibly another thread count


def skip_reason() -> str | None:
    if missing := missing_binaries():
        return f"Slurm is not installed ({', '.join(missing)} missing): apt-get install {DEBIAN_PACKAGES}"
    if os.geteuid() != 0:
        return "the Slurm test cluster needs root: slurmd starts every job as its submitting user"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed: pip install -e '.[cluster]'"
    if RUN_CONF.exists() or RUN_CONF.is_symlink():
        return f"{RUN_CONF} exists: this machine is a Slurm node already; the test cluster would take its place"
    return None


def profile() -> dict[str, Any]:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def requested(rule: str) -> dict[str, Any]:
    """The resources the profile gives a rule: its set-resources over the default-resources."""
    config = profile()
    return {**config["default-resources"], **config["set-resources"].get(rule, {})}


def profile_partitions() -> tuple[Partition, ...]:
    limits = yaml.safe_load((REPO / profile()["slurm-partition-config"]).read_text())["partitions"]
    return tuple(Partition(name, int(limit["max_runtime"]), default=index == 0)
                 for index, (name, limit) in enumerate(limits.items()))


def profile_gpu_model() -> str:
    models = {resources["gpu_model"] for resources in profile()["set-resources"].values() if "gpu_model" in resources}
    assert len(models) <= 1, f"the profile asks for several GPU models: {models}"
    return models.pop() if models else ""


def test_stopping_the_cluster_leaves_nothing_running(tmp_path: Path) -> None:
    """A cluster stopped with a job still running leaves no daemon, job or /run/slurm link."""
    if reason := skip_reason():
        pytest.skip(reason)
    cluster = start_cluster(tmp_path, profile_partitions(), gpus=2, gpu_type=profile_gpu_model())
    daemons = list(cluster.processes.values())
    try:
        cluster.client("sbatch", f"--output={tmp_path / 'sleep.log'}", "--wrap", "sleep 600")
        deadline = time.monotonic() + 30
        while "RUNNING" not in [job["job_state"] for job in cluster.jobs()] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert cluster.leftover_processes(), "the running job's processes are not recognised as the cluster's"
    finally:
        cluster.stop()
    assert all(daemon.poll() is not None for daemon in daemons)
    assert cluster.leftover_processes() == []
    assert not RUN_CONF.exists() and not RUN_CONF.is_symlink()


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    if reason := skip_reason():
        pytest.skip(reason)
    cluster = start_cluster(tmp_path_factory.mktemp("slurm"), profile_partitions(), gpus=2,
                            gpu_type=profile_gpu_model())
    try:
        yield cluster
    finally:  # also when a test fails: no daemon, job or /run/slurm link stays behind
        cluster.stop()


@dataclass
class SlurmRun:
    workdir: Path
    output: str  # Snakemake's stdout and stderr
    run_id: str  # the plugin's SLURM run ID: the name of every job it submits
    jobs: list[dict[str, Any]]  # slurmctld's records of this run's jobs
    completions: dict[str, dict[str, str]]  # sacct --completion, by job id
    node: str
    seconds: float


@pytest.fixture(scope="module")
def slurm_run(tiny_run: Path, slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> SlurmRun:
    """The targets built by Snakemake through the Slurm profile, from the tiny run's config."""
    workdir = tmp_path_factory.mktemp("slurm_run")
    copy_workflow(workdir)
    shutil.copy2(tiny_run / "tiny.yaml", workdir / "tiny.yaml")
    if DOWNLOAD_CACHE.is_dir():
        shutil.copytree(DOWNLOAD_CACHE, workdir / "results" / "downloads")
    command = [sys.executable, "-m", "snakemake", *TARGETS, "--profile", "config/profiles/slurm", *SLURM_OPTIONS,
               "--configfile", "tiny.yaml"]
    env = dict(slurm_cluster.env, SIMEX_GPU_LOCK_DIR=str(workdir / "gpu-locks"))
    started = time.monotonic()
    try:
        result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as timeout:
        log = timeout.stderr or b""  # bytes even with text=True
        queue = slurm_cluster.client("squeue", "--states=all", check=False).stdout
        pytest.fail(f"Snakemake through Slurm took over {RUN_TIMEOUT_S} s:\n"
                    f"{log.decode(errors='replace')[-4000:]}\n{queue}")
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"Snakemake through Slurm failed:\n{output[-6000:]}\n{slurm_cluster.diagnostics()}")
    run_id = re.search(r"SLURM run ID: (\S+)", output)
    assert run_id, f"the plugin logged no run ID:\n{output[-3000:]}"
    jobs = [job for job in slurm_cluster.jobs() if job["name"] == run_id.group(1)]
    print(f"\n{len(jobs)} Slurm jobs ran {' '.join(TARGETS)} in {seconds:.0f} s")
    return SlurmRun(workdir, output, run_id.group(1), jobs, slurm_cluster.completions(), slurm_cluster.node, seconds)


def rule_of(job: dict[str, Any]) -> str:
    """The rule a job ran, from the comment the plugin gives it: rule_<rule>[_wildcards_<values>]."""
    match = re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", job["comment"])
    assert match, f"job {job['job_id']} has no rule comment: {job['comment']!r}"
    return match.group(1)


def artifacts(workdir: Path, pattern: str) -> list[Path]:
    return sorted(path.relative_to(workdir) for path in (workdir / "results").rglob(pattern))


def assert_close(ours: Any, theirs: Any, where: str) -> None:
    """Checkpoint contents equal up to float tolerance; durations (keys ending in _s) differ by nature."""
    if isinstance(ours, torch.Tensor):
        assert isinstance(theirs, torch.Tensor) and ours.shape == theirs.shape, f"{where}: shape differs"
        assert torch.allclose(ours, theirs, rtol=RTOL, atol=ATOL), \
            f"{where}: differs by up to {(ours - theirs).abs().max().item():.3g}"
    elif isinstance(ours, dict):
        assert isinstance(theirs, dict) and ours.keys() == theirs.keys(), f"{where}: keys differ"
        for key in ours:
            if not str(key).endswith("_s"):
                assert_close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, (list, tuple)):
        assert isinstance(theirs, (list, tuple)) and len(ours) == len(theirs), f"{where}: length differs"
        for index, (mine, other) in enumerate(zip(ours, theirs)):
            assert_close(mine, other, f"{where}[{index}]")
    elif isinstance(ours, float):
        assert math.isclose(ours, theirs, rel_tol=RTOL, abs_tol=ATOL), f"{where}: {ours} != {theirs}"
    else:
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"


def test_slurm_run_gives_the_local_tables_and_models(slurm_run: SlurmRun, tiny_run: Path) -> None:
    tables, models = artifacts(slurm_run.workdir, "*.csv"), artifacts(slurm_run.workdir, "*.pt")
    assert tables and models, f"the Slurm run wrote no tables or no models: {tables}, {models}"
    for table in tables:
        assert (slurm_run.workdir / table).read_bytes() == (tiny_run / table).read_bytes(), f"{table} differs"
    for model in models:
        assert_close(torch.load(slurm_run.workdir / model, weights_only=False),
                     torch.load(tiny_run / model, weights_only=False), str(model))


def test_every_job_went_through_sbatch_with_what_the_profile_requests(slurm_run: SlurmRun) -> None:
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", slurm_run.output)
    assert steps, f"Snakemake did not finish every step:\n{slurm_run.output[-3000:]}"
    assert len(slurm_run.jobs) == int(steps[-1][1]), "not one Slurm job per Snakemake job"
    assert {str(job["job_id"]) for job in slurm_run.jobs} <= slurm_run.completions.keys()
    gpu_jobs = 0
    for job in slurm_run.jobs:
        rule, job_id = rule_of(job), str(job["job_id"])
        wanted = requested(rule)
        where = f"job {job_id} ({job['comment']})"
        assert job["job_state"] == "COMPLETED" and job["batch_host"] == slurm_run.node, where
        assert job["partition"] == wanted["slurm_partition"], f"{where}: partition {job['partition']}"
        assert job["time_limit"] == wanted["runtime"], f"{where}: time limit {job['time_limit']} min"
        assert job["memory_per_node"] == wanted["mem_mb"], f"{where}: memory {job['memory_per_node']} MB"
        gpus = int(wanted.get("gpu", 0))
        gres = ":".join(["gres", "gpu", *([wanted["gpu_model"]] if "gpu_model" in wanted else []), str(gpus)])
        assert job["tres_per_job"] == (gres if gpus else ""), f"{where}: GPU request {job['tres_per_job']!r}"
        gpu_jobs += bool(gpus)
        completion = slurm_run.completions[job_id]  # the job-completion log agrees
        assert (completion["State"], completion["Partition"], int(completion["Timelimit"]), completion["NodeList"]) \
            == ("COMPLETED", job["partition"], job["time_limit"], slurm_run.node), where
    assert 0 < gpu_jobs < len(slurm_run.jobs), "the run should hold both GPU and CPU jobs"


def test_job_logs_say_where_each_job_ran(slurm_run: SlurmRun) -> None:
    logs = {path.stem: path for path in (slurm_run.workdir / ".snakemake" / "slurm_logs").rglob("*.log")}
    for job in slurm_run.jobs:
        log = logs.get(str(job["job_id"]))
        assert log, f"no Slurm log for job {job['job_id']} ({job['comment']})"
        text = log.read_text()
        assert f"Host: {slurm_run.node}" in text, f"{log} does not say where job {job['job_id']} ran"
        if job["tres_per_job"]:  # the job's device log names the GPU Slurm gave it
            assert re.search(r"Slurm job \d+ was given GRES gpu: SLURM_GPUS_ON_NODE=1", text), \
                f"{log} does not name the GPU Slurm gave job {job['job_id']}"
