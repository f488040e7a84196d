# Trains all per-class autoencoders of a dataset and loss at once, with the fused trainer.
from dataclasses import asdict

from simex.artifacts import read_json
from simex.data.acquire import load_split
from simex.fleet import save_autoencoder, train_autoencoders
from simex.jobs import job_device, start_job
from simex.config import derived_seed, SSIMWindow, Training
from simex.training import train_config

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
dataset, loss, labels = sm.params.dataset, sm.wildcards.loss, list(sm.params.labels)
images, classes = load_split(sm.input.train)
image_sets = [images[classes == label] for label in labels]
configs = [train_config(Training.from_dict(sm.params.training), derived_seed(sm.params.seed, "ae", dataset, loss, label)) for label in labels]
log.info("training %d per-class autoencoders of %s (%s) as one fused model: %s samples", len(labels), dataset, loss,
         [len(s) for s in image_sets])
trained = train_autoencoders(image_sets, loss, SSIMWindow.from_dict(sm.params.ssim), configs, device,
                             sm.params.training["validation_fraction"])
provenance = read_json(sm.input.provenance)
class_names = provenance.get("class_names")  # a user's dataset records its classes; the paper's are registered
for label, class_images, config, (model, result) in zip(labels, image_sets, configs, trained):
    save_autoencoder(sm.output[f"class_{label}"], model, {
        "dataset": dataset, "label": provenance["label"], "class": label, "loss": loss,
        "class_name": class_names[label] if class_names else None,
        "provenance": provenance["provenance"], "source": provenance["source"], "n_samples": int(len(class_images)),
        "ssim": sm.params.ssim, "training": asdict(config), "history": [asdict(r) for r in result.history],
        "device": str(device), "trained_with": f"{len(labels)} autoencoders fused (elapsed_s: the joint time)",
    })
