"""Predicted wall time of a pipeline run from its plan and measured throughput (issue 30).

    python perf/cost_model.py                      # the default run and the paper's scale
    python perf/cost_model.py --seconds 1 --jobs   # shorter measurement; every job's line
    python perf/cost_model.py --measured-default 441

For the default config (config/config.yaml) and the paper's (config/config.yaml +
config/paper.yaml), it reads the plan of a fresh run (``snakemake -n`` in a scratch copy of
the config's view: no results/ there, so every job is planned), gives every job its work
(simex.experiments.cost.job_cost: samples x members x steps, FLOPs from
torch.utils.flop_counter), measures this CPU's throughput of every kind of pass for
``--seconds`` each, and prints the predicted wall time on ``--cores`` cores, and on one GPU
at the H200 throughputs the project recorded (not measured here: stated as such).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from simex.config import load  # noqa: E402
from simex.experiments import cost  # noqa: E402


def config_of(configfiles: list[str]):
    overrides = [yaml.safe_load((REPO / f).read_text()) for f in configfiles]
    return load(REPO / "config" / "config.yaml", *overrides)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measurement per kind of pass")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--jobs", action="store_true", help="print every job's work and time")
    parser.add_argument("--measured-default-cpu", type=float,
                        help="the default run's measured CPU time (user + system of /usr/bin/time -v), s")
    parser.add_argument("--measured-default-wall", type=float, help="the default run's measured wall time, s")
    args = parser.parse_args()
    per_pass = cost.flops_per_pass()
    default = config_of([])
    rates = cost.measure_rates(default.data.emnist_standin.font_globs, args.seconds, threads=1)
    print(f"# throughput on this CPU ({rates.note})")
    for kind, rate in sorted(rates.per_s.items()):
        gflops = rate * per_pass.get(kind, 0) / 1e9
        print(f"  {kind:16s} {rate:12,.0f} passes/s" + (f"  {gflops:6.2f} GFLOP/s" if gflops else ""))
    gpus = {label: cost.gpu_rates(rates, value, label, per_pass) for label, value in cost.H200_RECORDED.items()}
    for name, files in (("default run (config/config.yaml)", []),
                        ("paper scale (config/paper.yaml)", ["config/paper.yaml"]),
                        ("paper-scale rehearsal", ["config/paper.yaml", "config/paper-rehearsal.yaml"])):
        config = config_of(files)
        costs = cost.plan_costs(config, cost.dry_run_plan(REPO, files))
        flops = sum(job.flops(per_pass) for job in costs)
        passes = sum(job.passes() for job in costs)
        need = cost.needs(config)
        print(f"\n# {name}: {len(costs)} jobs, {passes:,.0f} passes (samples x members x steps), "
              f"{flops / 1e12:,.1f} TFLOP; largest job ~{need.memory_bytes / 2**30:.1f} GiB, "
              f"results/ ~{need.disk_bytes / 2**30:.1f} GiB")
        cpu = cost.predict_wall(costs, rates, 1)
        wall = cost.predict_wall(costs, rates, args.cores)
        print(f"  predicted CPU time {minutes(cpu)}; wall on {args.cores} otherwise idle cores: {minutes(wall)}")
        for label, gpu in gpus.items():
            print(f"  predicted on one GPU at the recorded H200 {label} rate "
                  f"({cost.H200_RECORDED[label]:,.0f} samples x members/s): {minutes(cost.predict_wall(costs, gpu, 1))}")
        if args.jobs:
            for job in sorted(costs, key=lambda j: -j.seconds(rates)):
                print(f"    {job.name:60s} {job.passes():16,.0f} passes {job.flops(per_pass) / 1e9:12,.1f} GFLOP "
                      f"{job.seconds(rates):10,.0f} s")
        if name.startswith("default") and args.measured_default_cpu:
            print(f"  measured CPU time: {minutes(args.measured_default_cpu)}; "
                  f"predicted / measured = {cpu / args.measured_default_cpu:.2f}")
        if name.startswith("default") and args.measured_default_wall:
            print(f"  measured wall: {minutes(args.measured_default_wall)}; "
                  f"predicted / measured = {wall / args.measured_default_wall:.2f}")


if __name__ == "__main__":
    main()
