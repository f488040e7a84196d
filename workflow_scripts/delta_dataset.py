from pathlib import Path

from simex.base.artifacts import write_csv
from simex.base.datasets import labels_from_provenance
from simex.jobs import job_device, start_job
from simex.models.losses import per_sample_loss
from simex.config import SSIMWindow
from simex.inference.similarity import dataset_delta_table

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
datasets = sm.params.datasets
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
delta = per_sample_loss(sm.wildcards.loss, SSIMWindow.from_dict(sm.params.ssim))
table = dataset_delta_table(dict(zip(datasets, sm.input.models)), dict(zip(datasets, sm.input.tests)),
                            labels, delta, device, sm.params.batch_size)
write_csv(sm.output.table, table, float_format="%.6g")
