# Δ(c_i | c_k) of MNIST's classes through the per-class autoencoders A(c_k) (§5.4).
from simex.base.artifacts import write_csv
from simex.data.acquire import load_split
from simex.training.autoencoders import load_autoencoder
from simex.experiments.interclass import interclass_delta
from simex.jobs import job_device, start_job
from simex.models.losses import per_sample_loss
from simex.config import SSIMWindow

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
models = {label: load_autoencoder(path, device)[0] for label, path in zip(sm.params.classes, sm.input.models)}
images, labels = load_split(sm.input.test)
delta = per_sample_loss(sm.wildcards.loss, SSIMWindow.from_dict(sm.params.ssim))
write_csv(sm.output.table, interclass_delta(models, images, labels, delta, device, sm.params.batch_size),
          float_format="%.6g")
