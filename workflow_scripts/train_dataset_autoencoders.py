# Trains the autoencoders of every dataset for one loss at once, with the fused trainer.
from dataclasses import asdict

from simex.artifacts import read_json
from simex.data.acquire import load_split
from simex.fleet import save_autoencoder, train_autoencoders
from simex.config import SSIMWindow, Training, derived_seed
from simex.jobs import job_device, start_job
from simex.training import train_config

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
loss, datasets = sm.wildcards.loss, list(sm.params.datasets)
image_sets = [load_split(path)[0] for path in sm.input.train]
configs = [train_config(Training.from_dict(sm.params.training), derived_seed(sm.params.seed, "ae", dataset, loss, None))
           for dataset in datasets]
log.info("training the %s autoencoders of %d datasets as one fused model: %s samples", loss, len(datasets),
         [len(s) for s in image_sets])
trained = train_autoencoders(image_sets, loss, SSIMWindow.from_dict(sm.params.ssim), configs, device,
                             sm.params.training["validation_fraction"])
for dataset, provenance_path, images, config, (model, result) in zip(datasets, sm.input.provenance, image_sets,
                                                                       configs, trained):
    provenance = read_json(provenance_path)
    save_autoencoder(sm.output[dataset], model, {
        "dataset": dataset, "label": provenance["label"], "class": None, "class_name": None, "loss": loss,
        "provenance": provenance["provenance"], "source": provenance["source"], "n_samples": int(len(images)),
        "ssim": sm.params.ssim, "training": asdict(config), "history": [asdict(r) for r in result.history],
        "device": str(device), "trained_with": f"{len(datasets)} autoencoders fused (elapsed_s: the joint time)",
    })
