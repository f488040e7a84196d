# Benchmark v2 across scales: the headline cell's τw, top-1 hit and absolute regret per estimator and
# scale (table and figure), the decisions at the headline scale, the resolved counts.
import pandas as pd

from simex.analysis.plots import benchmark_scale_figure
from simex.base.artifacts import save_figure, write_csv, write_text
from simex.experiments.benchmark_v2 import report_readme, scale_markdown, scale_table
from simex.jobs import start_job

sm = snakemake  # noqa: F821
log = start_job(sm)
scales = [int(s) for s in sm.params.scales]
headline = (sm.params.headline["protocol"], int(sm.params.headline["samples_per_class"]), int(sm.params.headline["scale"]))
summaries = pd.concat([pd.read_csv(path) for path in sm.input.summaries], ignore_index=True)
table = scale_table(summaries, headline[:2])
write_csv(sm.output.scale_csv, table, index=False, float_format="%.6g")
write_text(sm.output.scale_md, "# Source-selection benchmark v2: the headline cell at every scale\n\n" + scale_markdown(table))
save_figure(sm.output.scale_png, benchmark_scale_figure(
    table, f"Benchmark v2, {headline[0]} n = {headline[1]}: each estimator's mean and 95% interval per data scale "
           "(red: SimEx scorers; grey: trivial and references)"))
decisions = {scale: pd.read_csv(path) for scale, path in zip(scales, sm.input.decisions)}
resolution = {scale: pd.read_csv(path) for scale, path in zip(scales, sm.input.resolution)}
write_text(sm.output.README_md, report_readme(table, decisions, resolution, headline, bool(sm.params.registered),
                                              sm.params.command))
