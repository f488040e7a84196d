# Target lists and input functions shared by the rules.

DATASETS = list(config["datasets"])
LOSSES = list(config["losses"])
# Threads of every compute job (training, inference); bookkeeping jobs use one.
JOB_THREADS = config["threads_per_job"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    loss="|".join(LOSSES),
    label=r"\d+",


# Each rules/*.smk registers the final artifacts of its experiment here; `rule all`
# (and the report) build them all.
TARGETS = {}


def data_file(dataset, name):
    return f"results/data/{dataset}/{name}"


def dataset_ae(dataset, loss):
    return f"results/models/ae/dataset/{dataset}/{loss}.pt"


def class_ae(dataset, loss, label):
    return f"results/models/ae/class/{dataset}/{loss}/{label}.pt"


def all_targets():
    return [target for targets in TARGETS.values() for target in targets]
