# B(Y) -> X for every base Y, target X != Y and transfer protocol (§5.1), one seed replicate.
from pathlib import Path

from simex.artifacts import setup_logging, write_json
from simex.datasets import labels_from_provenance
from simex.devices import configure_threads, select_device
from simex.settings import derived_seed
from simex.transfer import load_classifier, load_classifier_split, protocol_from_config, training_per_class, transfer_all

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
configure_threads(sm.threads)
device = select_device(sm.resources.gpu, Path(sm.config["gpu_lock_dir"]))
section, datasets, seed = sm.params.classifier, sm.params.datasets, sm.params.seed
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
per_class = training_per_class(dict(zip(datasets, sm.input.train)), section.get("balance", True))
data = {code: (*load_classifier_split(train, per_class), *load_classifier_split(test))
        for code, train, test in zip(datasets, sm.input.train, sm.input.test)}
bases = {code: load_classifier(path, device) for code, path in zip(datasets, sm.input.models)}
# every base retrains on the same samples of X: the subset's seed depends on X only
subset_seeds = {code: derived_seed({"seed": seed}, "clf", "subset", code) for code in datasets}
protocols = {}
for name, settings in sm.params.protocols.items():
    protocol = protocol_from_config(settings)
    records = {}
    for base_code, (base, metadata) in bases.items():
        targets = {code: split for code, split in data.items() if code != base_code}
        seeds = {code: derived_seed({"seed": seed}, "clf", "transfer", base_code, code) for code in targets}
        results = transfer_all(base, base_code, targets, section["transfer"], seeds, subset_seeds, protocol, device)
        for code, result in results.items():
            result["label"] = labels[code]
        records[base_code] = {"label": labels[base_code], "base_accuracy": metadata["accuracy"], "targets": results}
    protocols[name] = {"protocol": settings, "bases": records}
write_json(sm.output.record, {"seed": seed, "per_class": per_class, "labels": labels, "protocols": protocols,
                              "device": str(device)})
