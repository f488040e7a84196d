# Benchmark v2, one scale: the score files (csv.gz) from the jobs' records, then every table
# recomputed from those files, the results page and the jobs' logs.
import gzip
import subprocess
from pathlib import Path

import pandas as pd

from simex.base.artifacts import load_classifier, read_json, write_csv, write_text
from simex.base.datasets import labels_from_provenance
from simex.experiments.benchmark import BenchmarkError
from simex.experiments.benchmark_metrics import check_draws
from simex.experiments.benchmark_v2 import (V2Settings, decisions_markdown, differences_markdown, read_score_files,
                                            resolution_markdown, scale_readme, scale_tables, score_files,
                                            summary_markdown)
from simex.experiments.transfer import BASE_CLASSIFIER
from simex.jobs import start_job

sm = snakemake  # noqa: F821
log = start_job(sm)
scale, datasets, seeds = int(sm.wildcards.scale), list(sm.params.datasets), int(sm.params.seeds)
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
ground_truth = [read_json(path) for path in sm.input.ground_truth]
estimates = [read_json(path) for path in sm.input.estimators] + [read_json(path) for path in sm.input.own]
check_draws(ground_truth, estimates)
base_accuracy = {d: [load_classifier(sm.input.bases[i * seeds + s], BASE_CLASSIFIER, BenchmarkError, "cpu")[2]["accuracy"]
                     for s in range(seeds)] for i, d in enumerate(datasets)}
files = score_files(scale, ground_truth, estimates, [read_json(path) for path in sm.input.zoo], base_accuracy, labels)
folder = Path(sm.output.runs_csv_gz).parent
gz = {"method": "gzip", "mtime": 0}
for name, frame in files.items():
    write_csv(folder / f"{name}.csv.gz", frame, index=False, float_format="%.8g", compression=gz)
settings = V2Settings(scale=scale, datasets=tuple(labels[d] for d in datasets),
                      cells=tuple((p, int(n)) for p, n in sm.params.cells),
                      headline=(sm.params.headline["protocol"], int(sm.params.headline["samples_per_class"]),
                                int(sm.params.headline["scale"])),
                      members=int(sm.params.members), member_draws=int(sm.params.member_draws),
                      bootstrap=int(sm.params.bootstrap), confidence=float(sm.params.confidence), seed=int(sm.params.seed),
                      registered=bool(sm.params.registered), losses=tuple(sm.params.losses),
                      estimators=tuple(sm.params.estimators), own=tuple(sm.params.own))
# every table from the files as committed, so a re-score from them gives the same tables
tables = scale_tables(**{k: v for k, v in read_score_files(folder).items() if k != "draws"}, settings=settings)
scores = pd.concat([files["scores"], tables["simex_scores"].assign(scale=scale)], ignore_index=True)
write_csv(sm.output.scores_csv_gz, scores, index=False, float_format="%.8g", compression=gz)
write_csv(sm.output.metrics_csv_gz, tables["metrics"].assign(scale=scale), index=False, float_format="%.6g",
          compression=gz)
for name in ("resolution", "summary", "differences", "decisions"):
    write_csv(getattr(sm.output, f"{name}_csv"), tables[name], index=False, float_format="%.6g")
title = f"# Source-selection benchmark v2, {scale:,} samples per dataset:"
write_text(sm.output.resolution_md, f"{title} resolution of the best source\n\n" + resolution_markdown(tables["resolution"]))
write_text(sm.output.summary_md, f"{title} estimator × metric\n\n"
           + summary_markdown(tables["summary"], settings.confidence, settings.bootstrap))
write_text(sm.output.differences_md, f"{title} paired differences\n\n"
           + differences_markdown(tables["differences"], settings.confidence))
job_times = {f"{Path(path).parent.name} {Path(path).stem}": tuple(pd.read_csv(path, sep="\t")[["s", "cpu_time"]].iloc[0])
             for path in sm.input.job_times}
try:  # the commit the run was made at (PROTOCOL-v2.md, "What is committed")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
except (OSError, subprocess.CalledProcessError):
    commit = "unknown (not a git checkout)"
write_text(sm.output.README_md, scale_readme(tables, settings, sm.params.command, job_times, commit))
with gzip.GzipFile(sm.output.jobs_log_gz, "wb", mtime=0) as handle:
    handle.write("".join(f"==> {path} <==\n{Path(path).read_text() if Path(path).exists() else '(missing)'}\n"
                         for path in sm.params.job_logs).encode())
log.info("decisions:\n%s", decisions_markdown(tables["decisions"]))
