# Table 1 under both readings of §5.1 (ρ per base dataset and loss, over seed replicates, paper
# beside ours), the per-target view (X left out) with its figure, and Fig. 4c's matrix.
from simex.base.artifacts import read_json, save_figure, write_csv, write_text
from simex.jobs import start_job
from simex.analysis.plots import per_target_figure
from simex.config import TransferProtocol
from simex.inference.similarity import read_matrix
from simex.experiments.transfer import (mean_matrix, normalised_accuracy, per_target_markdown, per_target_table, replicate_matrices,
                            table1, table1_markdown)

sm = snakemake  # noqa: F821
log = start_job(sm)
records = [read_json(path) for path in sm.input.records]
protocols = records[0]["protocols"]
# the headline protocol first, then the others by name (a record's JSON sorts its keys)
order = [sm.params.headline, *sorted(name for name in protocols if name != sm.params.headline)]
raws = {name: replicate_matrices(records, name) for name in order}
deltas = {loss: read_matrix(path) for loss, path in zip(sm.params.losses, sm.input.deltas)}
headline = mean_matrix(raws[sm.params.headline])
write_csv(sm.output.raw, headline, float_format="%.6g")
write_csv(sm.output.accuracy, normalised_accuracy(headline), float_format="%.6g")
table = table1(deltas, raws)
names = {name: TransferProtocol.from_dict(protocols[name]["protocol"]).name for name in order}
write_csv(sm.output.table, table, index=False, float_format="%.4g")
write_text(sm.output.markdown, table1_markdown(table, names))
per_target = per_target_table(deltas, raws)
write_csv(sm.output.per_target, per_target, index=False, float_format="%.4g")
write_text(sm.output.per_target_markdown, per_target_markdown(per_target))
save_figure(sm.output.figure, per_target_figure(per_target))
log.info("Table 1:\n%s\nper target:\n%s", table.to_string(), per_target.to_string())
