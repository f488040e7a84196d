# B(Y) -> X for every base Y, target X != Y and transfer protocol (§5.1), one seed replicate; a protocol's
# transfers are trained as one fused model.
from pathlib import Path

from simex.base.artifacts import load_classifier, write_json
from simex.base.datasets import labels_from_provenance
from simex.jobs import job_device, start_job
from simex.config import Classifier, TransferProtocol, derived_seed
from simex.experiments.transfer import BASE_CLASSIFIER, TransferError, load_classifier_split, training_per_class, transfer_all

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
section, datasets, seed = Classifier.from_dict(sm.params.classifier), sm.params.datasets, sm.params.seed
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
per_class = training_per_class(dict(zip(datasets, sm.input.train)), section.balance)
data = {code: (*load_classifier_split(train, per_class), *load_classifier_split(test))
        for code, train, test in zip(datasets, sm.input.train, sm.input.test)}
bases = {code: load_classifier(path, BASE_CLASSIFIER, TransferError, device) for code, path in zip(datasets, sm.input.models)}
# every base retrains on the same samples of X: the subset's seed depends on X only
subset_seeds = {code: derived_seed(seed, "clf", "subset", code) for code in datasets}
seeds = {(y, x): derived_seed(seed, "clf", "transfer", y, x) for y in datasets for x in datasets if x != y}
protocols = {}
for name, settings in sm.params.protocols.items():  # each protocol: every base's transfers fused into one model
    results = transfer_all({code: base for code, (base, _, _) in bases.items()}, data, section.transfer, seeds,
                           subset_seeds, TransferProtocol.from_dict(settings), device)
    records = {}
    for base_code, (_, _, metadata) in bases.items():
        for code, result in results[base_code].items():
            result["label"] = labels[code]
        records[base_code] = {"label": labels[base_code], "base_accuracy": metadata["accuracy"],
                              "targets": results[base_code]}
    protocols[name] = {"protocol": settings, "bases": records}
write_json(sm.output.record, {"seed": seed, "per_class": per_class, "labels": labels, "protocols": protocols,
                              "device": str(device)})
