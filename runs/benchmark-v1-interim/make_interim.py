"""Interim benchmark tables from the targets whose ground truth and estimators have finished.

Not the registered result: PROTOCOL.md's headline needs all eight targets. Run from a
benchmark run's folder: python make_interim.py RESULTS_DIR OUT_DIR
"""
import sys
from pathlib import Path

import pandas as pd

from simex.base.artifacts import read_json, save_figure, write_csv, write_text
from simex.experiments.benchmark_metrics import (check_draws, gains_frame, metrics_frame, per_target_markdown, per_target_table,
                                     scores_frame, summary_markdown, summary_table, timings_frame, views_of,
                                     ground_truth_table, ground_truth_markdown, cap_table)
from simex.base.datasets import labels_from_provenance
from simex.analysis.plots import benchmark_figure

results, out = Path(sys.argv[1]), Path(sys.argv[2])
order = ["M", "E", "R", "B", "F", "BR", "RBI", "A"]
done = [d for d in order if (results / "benchmark/ground_truth" / f"{d}.json").exists()
        and (results / "benchmark/estimators" / f"{d}.json").exists()]
labels = labels_from_provenance({d: results / "data" / d / "provenance.json" for d in order})
ground_truth = [read_json(results / "benchmark/ground_truth" / f"{d}.json") for d in done]
estimates = [read_json(results / "benchmark/estimators" / f"{d}.json") for d in done]
check_draws(ground_truth, estimates)
relabel = lambda f: f.replace({c: labels for c in ("target", "source") if c in f.columns})
gains, scores, timings = relabel(gains_frame(ground_truth)), relabel(scores_frame(estimates)), relabel(timings_frame(estimates))
metrics = metrics_frame(gains, scores)
unseen = [labels[d] for d in ("BR", "RBI", "A") if d in done]
views = views_of([labels[d] for d in done], unseen)
summary = summary_table(metrics, views, timings, 10000, 0.95, 20190617)
headline = ("finetune", 10)
out.mkdir(parents=True, exist_ok=True)
note = (f"**Interim, not the registered result:** {len(done)} of 8 targets finished ({', '.join(labels[d] for d in done)}); "
        "the protocol's headline is over all eight.\n\n")
write_csv(out / "estimators.csv", summary, index=False, float_format="%.4g")
write_text(out / "estimators.md", "# Source-selection benchmark (interim): estimator × metric\n\n" + note
           + summary_markdown(summary, 0.95, 10000))
write_csv(out / "metrics.csv", metrics, index=False, float_format="%.4g")
write_csv(out / "timings.csv", timings, index=False, float_format="%.5g")
pt = per_target_table(metrics)
write_csv(out / "per_target.csv", pt, index=False, float_format="%.4g")
write_text(out / "per_target.md", "# Per target (interim)\n\n" + note + per_target_markdown(pt, headline))
truth = ground_truth_table(gains)
write_csv(out / "ground_truth.csv", truth, index=False, float_format="%.4g")
write_text(out / "ground_truth.md", "# Ground truth (interim)\n\n" + note + ground_truth_markdown(truth, cap_table(ground_truth)))
save_figure(out / "benchmark.png", benchmark_figure(summary, "all", headline))
print(summary[(summary["view"] == "all") & (summary["protocol"] == "finetune") & (summary["n"] == 10)].to_string())
