# Trains the autoencoders of every dataset for one loss at once, with the fused trainer.
from simex.base.artifacts import read_json
from simex.training.autoencoders import AutoencoderCard, save_autoencoder, train_autoencoders
from simex.config import SSIMWindow, Training, autoencoder_seed
from simex.data.acquire import load_split
from simex.jobs import job_device, start_job
from simex.training.loop import train_config

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
loss, datasets = sm.wildcards.loss, list(sm.params.datasets)
image_sets = [load_split(path)[0] for path in sm.input.train]
section, window = Training.from_dict(sm.params.training), SSIMWindow.from_dict(sm.params.ssim)
configs = [train_config(section, autoencoder_seed(sm.params.seed, dataset, loss)) for dataset in datasets]
log.info("training the %s autoencoders of %d datasets as one fused model: %s samples", loss, len(datasets),
         [len(s) for s in image_sets])
trained = train_autoencoders(image_sets, loss, window, configs, device, section.validation_fraction)
for dataset, provenance_path, images, config, (model, result) in zip(datasets, sm.input.provenance, image_sets,
                                                                       configs, trained):
    provenance = read_json(provenance_path)
    save_autoencoder(sm.output[dataset], model, AutoencoderCard.of_training(
        config, result, model, window, device, dataset=dataset, label=provenance["label"], loss=loss,
        provenance=provenance["provenance"], source=provenance["source"], n_samples=int(len(images)),
        trained_with=f"{len(datasets)} autoencoders fused (elapsed_s: the joint time)"))
