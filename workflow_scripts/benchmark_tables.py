# The benchmark's tables, figure and README from every target's ground truth and estimator records.
from pathlib import Path

import pandas as pd

from simex.base.artifacts import read_json, save_figure, write_csv, write_text
from simex.experiments.benchmark_metrics import (cap_table, check_draws, gains_frame, ground_truth_markdown, ground_truth_table,
                                     metrics_frame, per_target_markdown, per_target_table, results_readme,
                                     scores_frame, summary_markdown, summary_table, timings_frame, views_of)
from simex.base.datasets import labels_from_provenance
from simex.jobs import start_job
from simex.analysis.plots import benchmark_figure

sm = snakemake  # noqa: F821
log = start_job(sm)
datasets = list(sm.params.datasets)
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
ground_truth = [read_json(path) for path in sm.input.ground_truth]
estimates = [read_json(path) for path in sm.input.estimators]
check_draws(ground_truth, estimates)


def relabel(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.replace({column: labels for column in ("target", "source") if column in frame.columns})


gains = relabel(gains_frame(ground_truth))
scores = relabel(scores_frame(estimates))
timings = relabel(timings_frame(estimates))
metrics = metrics_frame(gains, scores)
views = views_of([labels[d] for d in datasets], [labels[d] for d in sm.params.unseen])
confidence, resamples = float(sm.params.confidence), int(sm.params.bootstrap)
summary = summary_table(metrics, views, timings, resamples, confidence, int(sm.params.seed))
headline = (sm.params.headline["protocol"], int(sm.params.headline["samples_per_class"]))
per_target = per_target_table(metrics)
truth = ground_truth_table(gains)
caps = cap_table(ground_truth)

write_csv(sm.output.estimators_csv, summary, index=False, float_format="%.4g")
write_text(sm.output.estimators_md, "# Source-selection benchmark: estimator × metric\n\n"
           + summary_markdown(summary, confidence, resamples))
write_csv(sm.output.metrics_csv, metrics, index=False, float_format="%.4g")
write_csv(sm.output.timings_csv, timings, index=False, float_format="%.5g")
write_csv(sm.output.per_target_csv, per_target, index=False, float_format="%.4g")
write_text(sm.output.per_target_md, "# Source-selection benchmark: per target\n\n"
           + per_target_markdown(per_target, headline))
write_csv(sm.output.ground_truth_csv, truth, index=False, float_format="%.4g")
write_text(sm.output.ground_truth_md, "# Source-selection benchmark: ground truth\n\n" + ground_truth_markdown(truth, caps))
save_figure(sm.output.benchmark_png, benchmark_figure(summary, "all", headline))
job_times = {f"{Path(path).parent.name} {Path(path).stem}": tuple(pd.read_csv(path, sep="\t")[["s", "cpu_time"]].iloc[0])
             for path in sm.input.job_times}
output = str(Path(sm.output.README_md).parent)
write_text(sm.output.README_md, results_readme(summary, headline, "all", sm.params.command, output, job_times, confidence,
                                               resamples))
write_text(sm.output.jobs_log, "".join(f"==> {path} <==\n{Path(path).read_text() if Path(path).exists() else '(missing)'}\n"
                                       for path in sm.params.job_logs))
log.info("headline cell:\n%s", summary[(summary["view"] == "all") & (summary["protocol"] == headline[0])
                                       & (summary["n"] == headline[1])].to_string())
