"""Benchmark of the whole pipeline from prepared data (issue 21): prints figures, asserts nothing.

    .venv/bin/python perf/bench_pipeline.py [--data results/data] [--cores 16] [--gpus 4]
        [--configfile config/paper.yaml] [--workdir /tmp/simex-bench] [--keep]

Copies the workflow into a fresh folder, copies the prepared datasets (``--data``, e.g.
``results/data`` after a run; mtimes kept) and the downloads next to it, and runs
``snakemake --cores N [--resources gpu=G] --rerun-triggers mtime`` there: every job
after data preparation runs, as in a default run from prepared data. It reports:

- wall time of the run and the number of jobs (planned by ``snakemake -n``; run, from the log);
- job-seconds: the sum of the jobs' durations, from the start and finish stamps in
  Snakemake's log (1 s resolution), in all and per rule (the largest first);
- the per-job start overhead, measured: a fresh Python process that imports torch and
  the package's training modules and picks the device (the CPU, or claims a GPU and
  makes a first CUDA tensor), median of ``--start-runs``; times the job count, the share
  of job-seconds it explains;
- the GPU's busy share when ``nvidia-smi`` exists: utilisation sampled every
  ``--sample-s`` during the run, averaged over GPUs and samples.

Run it on a quiet machine: the wall time is the figure it exists for.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKFLOW_PARTS = ("Snakefile", "rules", "workflow_scripts", "config", "report", "environment.yml")
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START_PROBE = """
import time
started = time.perf_counter()
import torch
import simex.experiments.augmentation, simex.training.autoencoders, simex.experiments.interclass, simex.experiments.transfer  # what training jobs import
from simex.devices import select_device
device = select_device({gpus}, {lock_dir!r})
torch.zeros(1, device=device).sum().item()
print(time.perf_counter() - started)
"""


def prepare(workdir: Path, data: Path, downloads: Path | None) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, workdir / part)
    shutil.copytree(data, workdir / "results" / "data")  # copy2: the mtimes come along
    if downloads is not None and downloads.is_dir():
        shutil.copytree(downloads, workdir / "results" / "downloads")


def snakemake_command(args: argparse.Namespace, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "snakemake", *extra, "--cores", str(args.cores), "--rerun-triggers", "mtime"]
    if args.gpus:
        command += ["--resources", f"gpu={args.gpus}"]
    if args.configfile:
        command += ["--configfile", str(Path(args.configfile).resolve())]
    return command


def planned_jobs(output: str) -> int | None:
    totals = [int(line.split()[1]) for line in output.splitlines() if line.startswith("total ")]
    return totals[-1] if totals else None


def job_durations(log: str) -> list[tuple[str, float]]:
    """(rule, seconds) of every finished job, from the stamps Snakemake prints before each event."""
    stamp: datetime | None = None
    rule_of: dict[str, str] = {}
    started: dict[str, datetime] = {}
    pending_rule: str | None = None
    done = []
    for line in log.splitlines():
        line = line.strip()
        if match := STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            pending_rule = line.split()[1].rstrip(":")
        elif line.startswith("jobid:") and pending_rule is not None and stamp is not None:
            jobid = line.split()[1]
            rule_of[jobid], started[jobid], pending_rule = pending_rule, stamp, None
        elif line.startswith("Finished jobid:") and stamp is not None:
            jobid = line.split()[2]
            if jobid in started:
                done.append((rule_of[jobid], (stamp - started[jobid]).total_seconds()))
    return done


def start_overhead(runs: int, gpus: int, lock_dir: Path) -> float:
    """Median seconds from a bare interpreter to torch + simex imported and the device picked."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", START_PROBE.format(gpus=min(gpus, 1), lock_dir=str(lock_dir))],
                       check=True, capture_output=True, env=env)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


class GpuSampler:
    """nvidia-smi's utilisation.gpu, sampled in a thread; None without nvidia-smi."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.samples: list[float] = []
        self.available = shutil.which("nvidia-smi") is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            result = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                    capture_output=True, text=True)
            values = [float(v) for v in result.stdout.split() if v.replace(".", "", 1).isdigit()]
            if values:
                self.samples.append(statistics.mean(values))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "GpuSampler":
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()

    def busy_share(self) -> float | None:
        return statistics.mean(self.samples) / 100 if self.samples else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "results" / "data", help="prepared datasets (results/data)")
    parser.add_argument("--downloads", type=Path, default=REPO / "results" / "downloads")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--gpus", type=int, default=0, help="--resources gpu=G (0: none)")
    parser.add_argument("--configfile", help="a config on top of the embedded default")
    parser.add_argument("--workdir", type=Path, help="where to run (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--start-runs", type=int, default=3)
    parser.add_argument("--sample-s", type=float, default=0.5)
    args = parser.parse_args()
    if not (args.data / "M").is_dir():
        parser.error(f"{args.data} holds no prepared datasets: run the pipeline once, or pass --data")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="simex-bench-"))
    prepare(workdir, args.data, args.downloads)
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               SIMEX_GPU_LOCK_DIR=str(workdir / "gpu-locks"))
    dry = subprocess.run(snakemake_command(args, "-n", "--quiet", "rules"), cwd=workdir, capture_output=True,
                         text=True, env=env)
    planned = planned_jobs(dry.stdout + dry.stderr)
    with GpuSampler(args.sample_s) as sampler:
        started = time.perf_counter()
        run = subprocess.run(snakemake_command(args), cwd=workdir, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"the run failed (work folder {workdir}):\n{run.stderr[-4000:]}")
    jobs = job_durations(run.stderr + run.stdout)
    overhead = start_overhead(args.start_runs, args.gpus, workdir / "gpu-locks")
    job_seconds = sum(seconds for _, seconds in jobs)
    by_rule: dict[str, list[float]] = defaultdict(list)
    for rule, seconds in jobs:
        by_rule[rule].append(seconds)
    print(f"pipeline from prepared data: {args.cores} cores, gpu={args.gpus}, config "
          f"{args.configfile or 'embedded default'}; work folder {workdir}")
    print(f"    wall time          {wall:8.1f} s")
    print(f"    jobs               {planned} planned (snakemake -n), {len(jobs)} run")
    print(f"    job-seconds        {job_seconds:8.1f} s (sum over jobs, from the log's stamps)")
    print(f"    start overhead     {overhead:8.2f} s a job (python + torch + simex + device, median of "
          f"{args.start_runs}); x {len(jobs)} jobs = {overhead * len(jobs):.1f} s, "
          f"{overhead * len(jobs) / max(job_seconds, 1e-9):.0%} of job-seconds")
    share = sampler.busy_share()
    print(f"    GPU busy share     {'n/a (no nvidia-smi)' if share is None else f'{share:.0%} ({len(sampler.samples)} samples)'}")
    print("    job-seconds by rule (largest first):")
    for rule, values in sorted(by_rule.items(), key=lambda item: -sum(item[1])):
        print(f"        {rule:<32} {len(values):3d} jobs {sum(values):8.1f} s")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
