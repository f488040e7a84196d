# Fig. 6: training time vs mean Spearman ρ per schedule and checkpoint, BT-k lines.
from pathlib import Path

import pandas as pd

from simex.base.artifacts import read_json, save_figure, write_csv
from simex.base.datasets import labels_from_provenance
from simex.jobs import start_job
from simex.experiments.latency import fig6_table
from simex.analysis.plots import training_time_figure

sm = snakemake  # noqa: F821
log = start_job(sm)
labels = labels_from_provenance(dict(zip(sm.params.datasets, map(Path, sm.input.provenance))))
accuracy = pd.read_csv(sm.input.accuracy, index_col=0)
table = fig6_table([read_json(path) for path in sm.input.schedules], read_json(sm.input.base), accuracy, labels)
write_csv(sm.output.table, table, index=False, float_format="%.6g")
save_figure(sm.output.figure, training_time_figure(table))
log.info("Fig. 6:\n%s", table.to_string())
