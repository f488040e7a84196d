# Trains a per-dataset autoencoder, or a per-class one when the rule has a {label}.
from dataclasses import asdict

from simex.artifacts import read_json
from simex.data.acquire import load_split
from simex.fleet import save_autoencoder, train_autoencoder
from simex.jobs import job_device, start_job
from simex.settings import derived_seed, ssim_window, train_config

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
dataset, loss = sm.wildcards.dataset, sm.wildcards.loss
label = int(sm.wildcards.label) if "label" in sm.wildcards.keys() else None
images, labels = load_split(sm.input.train)
if label is not None:
    images = images[labels == label]
config = train_config(sm.params.training, derived_seed(sm.params.seed, "ae", dataset, loss, label))
model, result = train_autoencoder(images, loss, ssim_window(sm.params.ssim), config, device,
                                  sm.params.training["validation_fraction"])
provenance = read_json(sm.input.provenance)
save_autoencoder(sm.output.model, model, {
    "dataset": dataset, "label": provenance["label"], "class": label, "loss": loss,
    "provenance": provenance["provenance"], "source": provenance["source"], "n_samples": int(len(images)),
    "ssim": sm.params.ssim, "training": asdict(config), "history": [asdict(r) for r in result.history],
    "device": str(device),
})
