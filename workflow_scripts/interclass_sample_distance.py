# sample-MSE / sample-iSSIM: mean δ between training samples of c_k and test samples of c_i (§5.4).
from simex.base.artifacts import write_csv
from simex.data.acquire import load_split
from simex.experiments.interclass import sample_distance_matrix
from simex.jobs import job_device, start_job
from simex.config import derived_seed, SSIMWindow

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
loss = sm.wildcards.loss
reference, reference_labels = load_split(sm.input.train)
inputs, input_labels = load_split(sm.input.test)
max_pairs = sm.params.max_pairs or 0
log.info("sample-%s: %s pairs per pair of classes", loss, f"at most {max_pairs} (seeded subsample)" if max_pairs else "all")
table = sample_distance_matrix(reference, reference_labels, inputs, input_labels,
                               loss, sm.params.n_classes, max_pairs,
                               derived_seed(sm.params.seed, "interclass", "sample", loss), device,
                               window=SSIMWindow.from_dict(sm.params.ssim))
write_csv(sm.output.table, table, float_format="%.6g")
