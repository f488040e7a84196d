# Fig. 5: the latency table (ours beside the paper's, speed-up TL-1 / SimEx) and the bar chart.
from simex.base.artifacts import read_json, save_figure, write_csv, write_text
from simex.jobs import start_job
from simex.experiments.latency import pairwise_markdown, pairwise_table
from simex.analysis.plots import latency_figure

sm = snakemake  # noqa: F821
log = start_job(sm)
table = pairwise_table(read_json(sm.input.record), sm.params.primary_loss)
write_csv(sm.output.table, table, float_format="%.6g")
write_text(sm.output.markdown, pairwise_markdown(table))
save_figure(sm.output.figure, latency_figure(table))
log.info("Fig. 5:\n%s", table[["seconds_mean", "seconds_min", "seconds_max", "best_epoch_mean", "times_simex"]].to_string())
