# B(Y) for every dataset Y: LeNet-5 trained from scratch on Y's ten classes (§5.1), one seed
# replicate; all of them trained as one fused model.
from dataclasses import asdict

from simex.base.artifacts import read_json, save_classifier
from simex.jobs import job_device, start_job
from simex.config import Classifier, derived_seed
from simex.inference.evaluate import accuracy
from simex.experiments.transfer import (ARCHITECTURE, N_CLASSES, load_classifier_split, stage_settings, stage_summary,
                            train_base_classifiers, training_per_class)

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
section, datasets = Classifier.from_dict(sm.params.classifier), sm.params.datasets
per_class = training_per_class(dict(zip(datasets, sm.input.train)), section.balance)
train_splits = [load_classifier_split(path, per_class) for path in sm.input.train]
settings = [stage_settings(section.base, derived_seed(sm.params.seed, "clf", "base", dataset)) for dataset in datasets]
trained = train_base_classifiers(train_splits, settings, device)
for dataset, (train_images, _), test, provenance_path, destination, member, (model, result) in zip(
        datasets, train_splits, sm.input.test, sm.input.provenance, sm.output.models, settings, trained):
    test_images, test_labels = load_classifier_split(test)
    base_accuracy = accuracy(model, test_images, test_labels, device)
    provenance = read_json(provenance_path)
    log.info("B(%s): accuracy %.4f on %d test samples (%d training samples)", provenance["label"], base_accuracy,
             len(test_images), len(train_images))
    save_classifier(destination, ARCHITECTURE, model, range(N_CLASSES), {
        "dataset": dataset, "label": provenance["label"], "provenance": provenance["provenance"],
        "source": provenance["source"], "accuracy": base_accuracy, "n_train": int(len(train_images)),
        "n_test": int(len(test_images)), "per_class": per_class, "seed": sm.params.seed,
        "training": asdict(member.config), "validation_fraction": member.validation_fraction,
        **stage_summary(result), "device": str(device),
        "trained_with": f"{len(datasets)} classifiers fused (elapsed_s: the joint time)",
    })
