# Scores every (MNIST class i, reference class k) pair by SimEx and the two baselines and
# pairs them greedily (§5.3); writes the pairings, all scores and the class-by-class tables.
from pathlib import Path

import pandas as pd

from simex.base.artifacts import write_csv, write_text
from simex.data.acquire import load_split
from simex.base.datasets import dataset_info, labels_from_provenance, legend_lines
from simex.training.autoencoders import load_autoencoder
from simex.jobs import job_device, start_job
from simex.models.losses import per_sample_loss
from simex.experiments.pairing import by_class_table, method_names, pairings_markdown, pairings_table, reference_scores
from simex.config import SSIMWindow
from simex.analysis.tables import frame_markdown

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
settings, references = sm.params.settings, list(sm.params.references)
losses = list(settings["pairing_losses"])
methods = method_names(settings["methods"], losses)
labels = labels_from_provenance(dict(zip(["M", *references], map(Path, sm.input.provenance))))
window = SSIMWindow.from_dict(sm.params.ssim)
deltas = {loss: per_sample_loss(loss, window) for loss in losses}
mnist = load_split(sm.input.mnist)

class_paths = iter(sm.input.class_models)  # ordered reference, loss, class (the rule's input function)
frames = []
for reference, train_path, dataset_model in zip(references, sm.input.references, sm.input.dataset_models):
    n_classes = dataset_info(reference).n_classes
    class_models = {loss: [load_autoencoder(next(class_paths), device)[0] for _ in range(n_classes)] for loss in losses}
    frames.append(reference_scores(
        reference, labels[reference], mnist, load_split(train_path), methods, class_models,
        load_autoencoder(dataset_model, device)[0], deltas, device, sm.params.batch_size,
        settings["max_samples_per_class"]))
scores = pd.concat(frames, ignore_index=True)
pairings = pairings_table(scores)
write_csv(sm.output.scores, scores, index=False, float_format="%.6g")
write_csv(sm.output.pairings, pairings, index=False, float_format="%.6g")
legend = legend_lines(labels.values())
write_text(sm.output.markdown, pairings_markdown(pairings, methods, labels, legend))
if "E" in references:
    emnist = by_class_table(pairings, "E", methods)
    write_csv(sm.output.emnist[0], emnist)
    write_text(sm.output.emnist[1], f"# Class-by-class pairings, Y = {labels['E']} (§5.3 supplement)\n\n"
               + frame_markdown(emnist) + ("\n" + "  \n".join(legend) + "\n" if legend else ""))
