# Trains a per-dataset autoencoder (per-class ones: train_class_autoencoders.py).
from simex.artifacts import read_json
from simex.config import SSIMWindow, Training, autoencoder_seed
from simex.data.acquire import load_split
from simex.autoencoders import AutoencoderCard, save_autoencoder, train_autoencoder
from simex.jobs import job_device, start_job
from simex.training import train_config

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
dataset, loss = sm.wildcards.dataset, sm.wildcards.loss
images, _ = load_split(sm.input.train)
section, window = Training.from_dict(sm.params.training), SSIMWindow.from_dict(sm.params.ssim)
config = train_config(section, autoencoder_seed(sm.params.seed, dataset, loss))
model, result = train_autoencoder(images, loss, window, config, device, section.validation_fraction)
provenance = read_json(sm.input.provenance)
save_autoencoder(sm.output.model, model, AutoencoderCard.of_training(
    config, result, model, window, device, dataset=dataset, label=provenance["label"], loss=loss,
    provenance=provenance["provenance"], source=provenance["source"], n_samples=int(len(images))))
