# Ten 9-class classifiers C_k of one architecture, each trained without class k (LeNet-5's fused
# into one model), and the confusion of k: the mean softmax of C_k over k's test samples (§5.4).
from dataclasses import asdict

import numpy as np

from simex.base.artifacts import save_classifier, write_csv
from simex.data.acquire import load_split
from simex.experiments.interclass import class_frame, confusion_row, train_nine_class_all
from simex.jobs import job_device, start_job
from simex.config import NineClassTraining, derived_seed
from simex.training.loop import train_config

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
arch, classes = sm.wildcards.arch, list(sm.params.classes)
train_images, train_labels = load_split(sm.input.train)
test_images, test_labels = load_split(sm.input.test)
per_class = sm.params.training["samples_per_class"] or 0
configs = [train_config(NineClassTraining.from_dict(sm.params.training), derived_seed(sm.params.seed, "interclass", arch, k))
           for k in classes]
trained = train_nine_class_all(arch, train_images, train_labels, classes, len(classes), configs, device, per_class)
rows = []
for k, destination, config, (model, kept, result, n_train) in zip(classes, sm.output.models, configs, trained):
    held_out = test_images[test_labels == k]
    row = confusion_row(model, kept, held_out, len(classes), device, sm.params.batch_size)
    log.info("C_%d (%s): %d training samples, %.1fs; most confused with class %d (%.3f)", k, arch, n_train,
             result.history[-1].elapsed_s, int(np.nanargmax(row)), float(np.nanmax(row)))
    save_classifier(destination, arch, model, kept, {
        "dataset": "M", "excluded_class": k, "n_train": n_train, "training": asdict(config),
        "history": [asdict(r) for r in result.history], "device": str(device)})
    rows.append(row)
write_csv(sm.output.confusion, class_frame(np.array(rows), classes), float_format="%.6g")
