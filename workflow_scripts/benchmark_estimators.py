# Every estimator's scores of the candidate sources for one target X, each call timed on one CPU thread.
from simex.base.artifacts import load_classifier, write_json
from simex.experiments.benchmark import BenchmarkError, EstimatorSettings, Source, SourceZoo, score_target
from simex.config import SSIMWindow
from simex.data.acquire import load_split
from simex.training.autoencoders import load_autoencoder
from simex.devices import claim_record
from simex.jobs import job_device, start_job
from simex.models.losses import per_sample_loss
from simex.experiments.transfer import BASE_CLASSIFIER, load_classifier_split

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm, share=False)  # its records are times: alone on a GPU (simex.devices)
sources, seeds, losses = list(sm.params.sources), int(sm.params.seeds), list(sm.params.losses)
zoo_sources = []
for i, y in enumerate(sources):
    loaded = [load_classifier(path, BASE_CLASSIFIER, BenchmarkError, device)
              for path in sm.input.bases[i * seeds : (i + 1) * seeds]]
    autoencoders = {loss: load_autoencoder(sm.input.autoencoders[i * len(losses) + j], device)[0]
                    for j, loss in enumerate(losses)}
    classifier_images, classifier_labels = load_classifier_split(sm.input.source_classifier_train[i])
    zoo_sources.append(Source(y, [model for model, _, _ in loaded], [meta["accuracy"] for _, _, meta in loaded],
                              autoencoders, load_split(sm.input.source_train[i])[0], classifier_images,
                              classifier_labels))
window = SSIMWindow.from_dict(sm.params.ssim)
zoo = SourceZoo(zoo_sources, {loss: per_sample_loss(loss, window) for loss in losses},
                EstimatorSettings(sm.params.embedding_loss, sm.params.otdd_max_samples, int(sm.params.eval_batch_size)),
                device)
record = score_target(sm.wildcards.dataset, zoo, load_classifier_split(sm.input.train), int(sm.params.seed), seeds,
                      list(sm.params.samples_per_class))
write_json(sm.output.record, {**record, "sources": sources, **claim_record(device), "threads": sm.threads})
