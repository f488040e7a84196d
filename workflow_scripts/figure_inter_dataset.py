from simex.base.artifacts import save_figure
from simex.jobs import start_job
from simex.analysis.plots import inter_dataset_figure
from simex.inference.similarity import read_matrix

sm = snakemake  # noqa: F821
start_job(sm)
deltas = {loss: read_matrix(path) for loss, path in zip(sm.params.losses, sm.input.deltas)}
transfer = read_matrix(sm.input.transfer) if sm.input.transfer else None  # no baseline: panels (a), (b) only
if transfer is not None:
    transfer.columns.name = "retrained on X"
save_figure(sm.output.figure, inter_dataset_figure(deltas, transfer))
