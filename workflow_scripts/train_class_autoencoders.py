# Trains all per-class autoencoders of a dataset and loss at once, with the fused trainer.
from simex.base.artifacts import read_json
from simex.config import SSIMWindow, Training, autoencoder_seed
from simex.data.acquire import load_split
from simex.training.autoencoders import AutoencoderCard, save_autoencoder, train_autoencoders
from simex.jobs import job_device, start_job
from simex.training.loop import train_config

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
dataset, loss, labels = sm.params.dataset, sm.wildcards.loss, list(sm.params.labels)
images, classes = load_split(sm.input.train)
image_sets = [images[classes == label] for label in labels]
section, window = Training.from_dict(sm.params.training), SSIMWindow.from_dict(sm.params.ssim)
configs = [train_config(section, autoencoder_seed(sm.params.seed, dataset, loss, label)) for label in labels]
log.info("training %d per-class autoencoders of %s (%s) as one fused model: %s samples", len(labels), dataset, loss,
         [len(s) for s in image_sets])
trained = train_autoencoders(image_sets, loss, window, configs, device, section.validation_fraction)
provenance = read_json(sm.input.provenance)
class_names = provenance.get("class_names")  # a user's dataset records its classes; the paper's are registered
for label, class_images, config, (model, result) in zip(labels, image_sets, configs, trained):
    save_autoencoder(sm.output[f"class_{label}"], model, AutoencoderCard.of_training(
        config, result, model, window, device, dataset=dataset, label=provenance["label"], class_index=label,
        class_name=class_names[label] if class_names else None, loss=loss, provenance=provenance["provenance"],
        source=provenance["source"], n_samples=int(len(class_images)),
        trained_with=f"{len(labels)} autoencoders fused (elapsed_s: the joint time)"))
