# Protocol sweep: the five dataset autoencoders of one (size, seed, loss), trained once to the longest
# step budget; Δ(X|Y) at every budget from the weights after that many steps.
from pathlib import Path

from simex.base.artifacts import write_json
from simex.data.acquire import load_split
from simex.base.datasets import labels_from_provenance
from simex.jobs import job_device, start_job
from simex.models.losses import per_sample_loss
from simex.config import SSIMWindow, Training, autoencoder_seed
from simex.training.loop import train_config
from simex.inference.similarity import delta_matrix, relabel
from simex.experiments.protocol_sweep import autoencoder_snapshots

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
datasets, loss, budgets = sm.params.datasets, sm.wildcards.loss, sorted(sm.params.budgets)
window = SSIMWindow.from_dict(sm.params.ssim)
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
tests = {code: load_split(path)[0] for code, path in zip(datasets, sm.input.test)}
fleets = {}
for code, path in zip(datasets, sm.input.train):
    # the default pipeline's seed for A(code), so the sweep's default cell is the default run's fleet
    config = train_config(Training.from_dict({**sm.params.training, "steps": budgets[-1]}),
                          autoencoder_seed(sm.params.seed, code, loss))
    fleets[code] = autoencoder_snapshots(load_split(path)[0], loss, window, config, budgets, device)
    log.info("A(%s) with %s trained to %d steps", labels[code], loss, budgets[-1])
delta = per_sample_loss(loss, window)
matrices = {}
for budget in budgets:
    frame = relabel(delta_matrix({code: fleet[budget] for code, fleet in fleets.items()}, tests, delta, device,
                                 sm.params.batch_size), labels)
    matrices[str(budget)] = frame.to_dict(orient="index")
    log.info("Δ at %d steps:\n%s", budget, frame.to_string())
write_json(sm.output.deltas, {"loss": loss, "seed": sm.params.seed, "steps": matrices})
