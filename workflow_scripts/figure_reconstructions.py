# Fig. 1a: A(4) reconstructing test digits 4, 7, 9, 3, 5, with the Δ(·|4) ordering beside it.
from simex.base.artifacts import save_figure
from simex.data.acquire import load_split
from simex.base.datasets import labels_from_provenance
from simex.training.autoencoders import load_autoencoder
from simex.experiments.interclass import (PAPER_FIG1A_ORDER, delta_ordering, first_samples, ordering_text, read_class_matrix,
                              reconstruct)
from simex.jobs import job_device, start_job
from simex.models.losses import per_sample_loss
from simex.analysis.plots import reconstruction_figure
from simex.inference.similarity import per_sample_errors
from simex.config import SSIMWindow

LOSS_NAMES = {"mse": "MSE", "issim": "iSSIM"}

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
spec = sm.params.fig1a
reference, digits, loss = int(spec["reference"]), [int(d) for d in spec["digits"]], spec["loss"]
label = labels_from_provenance({"M": sm.input.provenance})["M"]
model, _ = load_autoencoder(sm.input.model, device)
images, labels = load_split(sm.input.test)
delta = per_sample_loss(loss, SSIMWindow.from_dict(sm.params.ssim))
pairs = []
for digit, inputs in first_samples(images, labels, digits, int(spec["samples_per_digit"])).items():
    pairs.append((f"digit {digit}", inputs, reconstruct(model, inputs, device),
                  per_sample_errors(model, inputs, delta, device)))  # δ through simex.inference.evaluate
lines = []
others = [d for d in digits if d != reference]
for loss_name, path in zip(sm.params.losses, sm.input.deltas):
    matrix = read_class_matrix(path)
    lines += [f"Δ(·|{reference}) with δ = {LOSS_NAMES[loss_name]} (all test samples):",
              ordering_text(delta_ordering(matrix, reference, others), reference, with_values=False),
              *(f"  Δ({c}|{reference}) = {v:.4f}" for c, v in delta_ordering(matrix, reference, digits)), ""]
    log.info("%s: %s", loss_name, ordering_text(delta_ordering(matrix, reference), reference))
lines += ["paper (δ = MSE):", " < ".join(f"Δ({c}|{reference})" for c in PAPER_FIG1A_ORDER)]
title = f"Fig. 1a: A({reference}) of {label}, trained on digit {reference} ({LOSS_NAMES[loss]}), test inputs and outputs"
figure = reconstruction_figure(pairs, title, "\n".join(lines))
save_figure(sm.output.figure, figure)
