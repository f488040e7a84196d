# Fig. 4c's normalised accuracy matrix and Table 1 (ρ per base dataset and loss, paper beside ours).
from pathlib import Path

from simex.artifacts import read_json, write_csv, write_text
from simex.datasets import labels_from_provenance
from simex.jobs import start_job
from simex.similarity import read_matrix
from simex.transfer import accuracy_matrix, normalised_accuracy, spearman_rows, table1, table1_markdown

sm = snakemake  # noqa: F821
log = start_job(sm)
datasets = sm.params.datasets
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
raw = accuracy_matrix({code: read_json(path) for code, path in zip(datasets, sm.input.records)}, labels)
normalised = normalised_accuracy(raw)
deltas = {loss: read_matrix(path) for loss, path in zip(sm.params.losses, sm.input.deltas)}
table = table1(spearman_rows(deltas, normalised))
write_csv(sm.output.raw, raw, float_format="%.6g")
write_csv(sm.output.accuracy, normalised, float_format="%.6g")
write_csv(sm.output.table, table, float_format="%.4g")
write_text(sm.output.markdown, table1_markdown(table))
log.info("Table 1:\n%s", table.to_string())
