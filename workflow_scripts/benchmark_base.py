# The benchmark's B(Y) for one source Y: LeNet-5 on Y's classifier train split, one per seed replicate.
from dataclasses import asdict

from simex.base.artifacts import save_classifier
from simex.experiments.benchmark import replicate_seed
from simex.config import Training
from simex.inference.evaluate import accuracy
from simex.jobs import job_device, start_job
from simex.experiments.transfer import (ARCHITECTURE, N_CLASSES, load_classifier_split, stage_settings, stage_summary,
                            train_base_classifier)

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
dataset = sm.wildcards.dataset
section = Training.from_dict(sm.params.base)
train_images, train_labels = load_classifier_split(sm.input.train)
test_images, test_labels = load_classifier_split(sm.input.test)
tag = getattr(sm.params, "tag", "benchmark")  # "benchmark-v2": v2's seeds (PROTOCOL-v2.md)
for s, destination in enumerate(sm.output.models):
    settings = stage_settings(section, replicate_seed(sm.params.seed, s, "base", dataset, tag=tag))
    model, result = train_base_classifier(train_images, train_labels, settings, device)
    base_accuracy = accuracy(model, test_images, test_labels, device)
    summary = stage_summary(result)
    log.info("B(%s) seed %d: accuracy %.4f on %d test samples, %d epochs (best %d)", dataset, s, base_accuracy,
             len(test_images), summary["epochs_run"], summary["best_epoch"])
    save_classifier(destination, ARCHITECTURE, model, range(N_CLASSES), {
        "dataset": dataset, "replicate": s, "accuracy": base_accuracy, "n_train": int(len(train_images)),
        "n_test": int(len(test_images)), "training": asdict(settings.config),
        "validation_fraction": settings.validation_fraction,
        "cap_hit": (not result.stopped_early) and len(result.history) >= settings.config.epochs,
        **summary, "device": str(device),
    })
