# Trains a per-dataset autoencoder (per-class ones: train_class_autoencoders.py).
from dataclasses import asdict

from simex.artifacts import read_json
from simex.data.acquire import load_split
from simex.fleet import save_autoencoder, train_autoencoder
from simex.jobs import job_device, start_job
from simex.config import derived_seed, SSIMWindow, Training
from simex.training import train_config

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
dataset, loss = sm.wildcards.dataset, sm.wildcards.loss
images, _ = load_split(sm.input.train)
config = train_config(Training.from_dict(sm.params.training), derived_seed(sm.params.seed, "ae", dataset, loss, None))
model, result = train_autoencoder(images, loss, SSIMWindow.from_dict(sm.params.ssim), config, device,
                                  sm.params.training["validation_fraction"])
provenance = read_json(sm.input.provenance)
save_autoencoder(sm.output.model, model, {
    "dataset": dataset, "label": provenance["label"], "class": None, "class_name": None, "loss": loss,
    "provenance": provenance["provenance"], "source": provenance["source"], "n_samples": int(len(images)),
    "ssim": sm.params.ssim, "training": asdict(config), "history": [asdict(r) for r in result.history],
    "device": str(device),
})
