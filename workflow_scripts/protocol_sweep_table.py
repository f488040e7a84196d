# Protocol sweep: every variant crossed, one table (CSV + Markdown) and one figure.
from simex.base.artifacts import read_json, save_figure, write_csv, write_text
from simex.jobs import start_job
from simex.analysis.plots import protocol_sweep_figure
from simex.experiments.protocol_sweep import matrix_from_json, sweep_markdown, sweep_table

sm = snakemake  # noqa: F821
log = start_job(sm)
deltas = {}
for key, path in zip(sm.params.delta_keys, sm.input.deltas):
    record = read_json(path)
    deltas[tuple(key)] = {int(steps): matrix_from_json(rows) for steps, rows in record["steps"].items()}
transfers = {tuple(key): read_json(path) for key, path in zip(sm.params.transfer_keys, sm.input.transfers)}
table = sweep_table(deltas, transfers)
write_csv(sm.output.table, table, index=False, float_format="%.4g")
write_text(sm.output.markdown, sweep_markdown(table, sm.params.command))
save_figure(sm.output.figure, protocol_sweep_figure(table))
log.info("protocol sweep table:\n%s", table.to_string())
