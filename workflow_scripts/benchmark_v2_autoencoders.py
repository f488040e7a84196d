# Benchmark v2: the K autoencoders of every dataset for one loss, trained as one fused job, then the
# zoo's Δ_k(Z|Y) on every dataset's balanced test split and each dataset's mean L2 norm.
from simex.base.artifacts import read_json, write_json
from simex.config import SSIMWindow, Training, derived_seed
from simex.data.acquire import load_split
from simex.experiments.benchmark import V2_TAG
from simex.inference.evaluate import delta_means
from simex.inference.similarity import mean_l2_norm
from simex.jobs import job_device, start_job
from simex.models.losses import per_sample_loss
from simex.training.autoencoders import AutoencoderCard, save_autoencoder, train_autoencoders
from simex.training.loop import train_config

import numpy as np

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
loss, datasets, k = sm.wildcards.loss, list(sm.params.datasets), int(sm.params.members)
train = [load_split(path)[0] for path in sm.input.train]
test = [load_split(path)[0] for path in sm.input.test]
section, window = Training.from_dict(sm.params.training), SSIMWindow.from_dict(sm.params.ssim)
# member k of A(Y): PROTOCOL-v2.md's seed derived_seed(seed, "benchmark-v2", "ae", Y, L, k); dataset-major order
jobs = [(i, member) for i in range(len(datasets)) for member in range(k)]
configs = [train_config(section, derived_seed(sm.params.seed, V2_TAG, "ae", datasets[i], loss, member)) for i, member in jobs]
log.info("training %d %s autoencoders (%d datasets x %d members) as one fused model", len(jobs), loss, len(datasets), k)
trained = train_autoencoders([train[i] for i, _ in jobs], loss, window, configs, device, section.validation_fraction)
for (i, member), config, destination, (model, result) in zip(jobs, configs, sm.output.members, trained):
    provenance = read_json(sm.input.provenance[i])
    save_autoencoder(destination, model, AutoencoderCard.of_training(
        config, result, model, window, device, dataset=datasets[i], label=provenance["label"], loss=loss,
        provenance=provenance["provenance"], source=provenance["source"], n_samples=int(len(train[i])),
        trained_with=f"{len(jobs)} autoencoders fused (benchmark v2, member {member}; elapsed_s: the joint time)"))
matrix = delta_means([model for model, _ in trained], test, per_sample_loss(loss, window), device,
                     int(sm.params.eval_batch_size))  # (Z, Y·K)
rows = [{"y": datasets[i], "member": member, "x": datasets[z], "delta": float(matrix[z, j])}
        for j, (i, member) in enumerate(jobs) for z in range(len(datasets))]
norms = {d: mean_l2_norm(np.concatenate([train[i], test[i]])) for i, d in enumerate(datasets)}
write_json(sm.output.zoo, {"loss": loss, "members": k, "datasets": datasets, "test": rows, "norms": norms,
                           "device": str(device)})
log.info("Δ(Y|Y): %s; norms %s", {r["y"]: round(r["delta"], 5) for r in rows if r["x"] == r["y"] and r["member"] == 0},
         norms)
