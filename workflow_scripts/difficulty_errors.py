# One dataset's test errors under the RBF SVM and LeNet-5, at the difficulty check's split sizes.
from simex.base.artifacts import read_json, write_json
from simex.data.acquire import load_split
from simex.base.datasets import register_from_record
from simex.experiments.difficulty import lenet_error, svm_error, three_splits
from simex.jobs import job_device, start_job
from simex.config import Svm, Training, derived_seed

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
dataset = sm.wildcards.dataset
record = read_json(sm.input.record)
register_from_record(record)
images, labels = load_split(sm.input.raw)
splits = three_splits(images, labels, sm.params.sizes, derived_seed(sm.params.seed, "difficulty", dataset))
svm_section = Svm.from_dict(sm.params.svm)
svm = svm_error(splits, svm_section.C, svm_section.gamma_factors)
log.info("%s: SVM_rbf test error %.2f%% (C %g, gamma factor %g)", record["label"], 100 * svm["test_error"], svm["C"],
         svm["gamma_factor"])
lenet = lenet_error(splits, Training.from_dict(sm.params.lenet), derived_seed(sm.params.seed, "difficulty-lenet", dataset), device)
log.info("%s: LeNet-5 test error %.2f%%", record["label"], 100 * lenet["test_error"])
write_json(sm.output.errors, {"dataset": dataset, "label": record["label"], "name": record["name"],
                              "provenance": record["provenance"], "source": record["source"],
                              "sizes": sm.params.sizes, "svm": svm, "lenet": lenet})
