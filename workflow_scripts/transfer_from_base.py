# B(Y) -> X for every other dataset X: convolutions frozen, FC layers retrained (§5.1).
from pathlib import Path

from simex.artifacts import load_classifier, write_json
from simex.datasets import labels_from_provenance
from simex.jobs import job_device, start_job
from simex.settings import derived_seed
from simex.transfer import BASE_CLASSIFIER, TransferError, load_classifier_split, training_per_class, transfer_all

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
base_code, section, datasets = sm.wildcards.dataset, sm.params.classifier, sm.params.datasets
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
base, _, metadata = load_classifier(sm.input.model, BASE_CLASSIFIER, TransferError, device)
per_class = training_per_class(dict(zip(datasets, sm.input.train)), section["balance"])
targets = {code: (*load_classifier_split(train, per_class), *load_classifier_split(test))
           for code, train, test in zip(datasets, sm.input.train, sm.input.test) if code != base_code}
seeds = {code: derived_seed(sm.params.seed, "clf", "transfer", base_code, code) for code in targets}
results = transfer_all(base, base_code, targets, section["transfer"], seeds, device, section["reinitialize_fc"])
for code, result in results.items():
    result["label"] = labels[code]
write_json(sm.output.record, {
    "base": base_code, "label": labels[base_code], "base_accuracy": metadata["accuracy"],
    "base_training": {k: metadata[k] for k in ("epochs_run", "best_epoch", "elapsed_to_best_s", "training")},
    "per_class": per_class, "reinitialize_fc": section["reinitialize_fc"], "targets": results, "device": str(device),
})
