# Trains the autoencoders of every dataset for one loss at once, with the fused trainer: replica 0
# of each (train_dataset_autoencoders: the A(Y) every table uses) or the dataset fleets' further
# replicas (train_dataset_autoencoder_replicas), each with its own seed.
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
replicas = list(getattr(sm.params, "replicas", [0]))
plan = [(k, replica) for k in range(len(datasets)) for replica in replicas]
image_sets = [load_split(path)[0] for path in sm.input.train]
section, window = Training.from_dict(sm.params.training), SSIMWindow.from_dict(sm.params.ssim)
configs = [train_config(section, autoencoder_seed(sm.params.seed, datasets[k], loss, replica=replica))
           for k, replica in plan]
log.info("training the %s autoencoders of %d datasets (replicas %s) as one fused model: %s samples", loss,
         len(datasets), replicas, [len(s) for s in image_sets])
trained = train_autoencoders([image_sets[k] for k, _ in plan], loss, window, configs, device,
                             section.validation_fraction)
for (k, replica), config, (model, result) in zip(plan, configs, trained):
    dataset, provenance = datasets[k], read_json(sm.input.provenance[k])
    save_autoencoder(sm.output[dataset if replica == 0 else f"{dataset}_r{replica}"], model, AutoencoderCard.of_training(
        config, result, model, window, device, dataset=dataset, label=provenance["label"], loss=loss,
        provenance=provenance["provenance"], source=provenance["source"], n_samples=int(len(image_sets[k])),
        replica=replica or None, trained_with=f"{len(plan)} autoencoders fused (elapsed_s: the joint time)"))
