# Benchmark v2, one target X: the registered estimators' scores and SimEx's Δ per member (or your own
# estimators' scores), each call timed on one CPU thread, on v2's draws.
import os

from simex.base.artifacts import load_classifier, write_json
from simex.config import SSIMWindow
from simex.data.acquire import load_split
from simex.devices import claim_record
from simex.experiments.benchmark import (V2_LOGME, BenchmarkError, EstimatorSettings, Source, SourceZoo, V2Zoo,
                                         load_own_estimator, score_target_v2)
from simex.experiments.transfer import BASE_CLASSIFIER, load_classifier_split
from simex.jobs import job_device, start_job
from simex.models.losses import per_sample_loss
from simex.training.autoencoders import load_autoencoder

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm, share=False)  # its records are times (simex.devices)
sources, seeds, losses, k = list(sm.params.sources), int(sm.params.seeds), list(sm.params.losses), int(sm.params.members)
own = {name: load_own_estimator(path, search=[os.getcwd()]) for name, path in dict(sm.params.own).items()}
members = {loss: [[load_autoencoder(sm.input.members[(j * len(sources) + i) * k + m], device)[0] for m in range(k)]
                  for i in range(len(sources))] for j, loss in enumerate(losses)}
zoo_sources = []
for i, y in enumerate(sources):
    loaded = [load_classifier(path, BASE_CLASSIFIER, BenchmarkError, device)
              for path in sm.input.bases[i * seeds : (i + 1) * seeds]]
    classifier_images, classifier_labels = load_classifier_split(sm.input.source_classifier_train[i])
    # the embeddings baseline: member 0 of A(Y) for the embedding loss
    zoo_sources.append(Source(y, [model for model, _, _ in loaded], [meta["accuracy"] for _, _, meta in loaded],
                              {sm.params.embedding_loss: members[sm.params.embedding_loss][i][0]},
                              load_split(sm.input.source_train[i])[0], classifier_images, classifier_labels))
window = SSIMWindow.from_dict(sm.params.ssim)
settings = EstimatorSettings(sm.params.embedding_loss, sm.params.otdd_max_samples, int(sm.params.eval_batch_size),
                             **V2_LOGME)
zoo = V2Zoo(SourceZoo(zoo_sources, {}, settings, device), members, {loss: per_sample_loss(loss, window) for loss in losses})
record = score_target_v2(sm.wildcards.dataset, zoo, load_classifier_split(sm.input.train), int(sm.params.seed), seeds,
                         list(sm.params.samples_per_class), list(sm.params.estimators), own, bool(sm.params.simex))
write_json(sm.output.record, {**record, "sources": sources, "own": dict(sm.params.own), **claim_record(device),
                              "threads": sm.threads})
