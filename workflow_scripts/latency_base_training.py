# Fig. 6's BT-1..BT-4: base classifiers trained from scratch under four optimizers,
# time to the minimum validation loss (the same data and stage settings as Table 1's).
from simex.base.artifacts import write_json
from simex.devices import claim_record
from simex.jobs import job_device, start_job
from simex.config import Classifier, Latency, derived_seed
from simex.experiments.latency import base_training_run
from simex.experiments.transfer import load_classifier_split, training_per_class

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm, share=False)
section, classifier = Latency.from_dict(sm.params.latency), Classifier.from_dict(sm.params.classifier)
codes = section.training_time.base_datasets
per_class = training_per_class(dict(zip(sm.params.datasets, sm.input.all_train)), classifier.balance)
data = {code: load_classifier_split(path, per_class) for code, path in zip(codes, sm.input.train)}
settings = section.training_time.base_training
runs = {s.name: {} for s in settings}
for code, (images, labels) in data.items():
    for setting in settings:
        run = base_training_run(images, labels, setting, classifier.base, int(section.max_epochs),
                                derived_seed(sm.params.seed, "clf", "base", code), device)
        runs[setting.name][code] = run
        log.info("%s (%s lr %g) on %s: minimum validation loss at epoch %d after %.3f s", setting.name,
                 setting.optimizer, setting.lr, code, run["best_epoch"], run["seconds"])
write_json(sm.output.record, {
    "settings": {s.name: {"optimizer": s.optimizer, "lr": s.lr} for s in settings}, "runs": runs,
    "samples": {code: int(len(images)) for code, (images, _) in data.items()}, "per_class": per_class,
    **claim_record(device),
})
