# sample-MSE / sample-iSSIM: mean δ between training samples of c_k and test samples of c_i (§5.4).
import logging
from pathlib import Path

from simex.artifacts import setup_logging, write_csv
from simex.data.acquire import load_split
from simex.devices import configure_threads, select_device
from simex.interclass import sample_distance_matrix
from simex.losses import per_sample_loss
from simex.settings import derived_seed, ssim_window

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
configure_threads(sm.threads)
device = select_device(sm.resources.gpu, Path(sm.config["gpu_lock_dir"]))
loss = sm.wildcards.loss
reference, reference_labels = load_split(sm.input.train)
inputs, input_labels = load_split(sm.input.test)
max_pairs = sm.params.max_pairs or 0
logging.getLogger("simex").info("sample-%s: %s pairs per pair of classes", loss,
                                f"at most {max_pairs} (seeded subsample)" if max_pairs else "all")
table = sample_distance_matrix(reference, reference_labels, inputs, input_labels,
                               per_sample_loss(loss, ssim_window(sm.params.ssim)), sm.params.n_classes,
                               max_pairs, derived_seed(sm.params.seed, "interclass", "sample", loss), device)
write_csv(sm.output.table, table, float_format="%.6g")
