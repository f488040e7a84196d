# Target lists and input functions shared by the rules.
from snakemake.logging import logger

from simex.datasets import MNIST, dataset_info, in_paper_order

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


def register(experiment, targets, missing=None):
    """Adds an experiment's final artifacts to `rule all`, or says why the run skips it."""
    if missing:
        logger.warning(f"skipping {experiment}: {missing}")
    else:
        TARGETS[experiment] = targets


def mnist_missing():
    """Why an experiment on MNIST's classes cannot run with this config, or None."""
    return None if MNIST in DATASETS else f"it needs dataset {MNIST}, which is not among datasets {DATASETS}"


def data_file(dataset, name):
    return f"results/data/{dataset}/{name}"


def regeneration_source(wildcards):
    """mnist-rot and mnist-back-image are regenerated from MNIST when not downloadable."""
    source = dataset_info(wildcards.dataset).derived_from
    return data_file(source, "raw.npz") if source else []


def dataset_ae(dataset, loss):
    return f"results/models/ae/dataset/{dataset}/{loss}.pt"


def class_ae(dataset, loss, label):
    return f"results/models/ae/class/{dataset}/{loss}/{label}.pt"


def all_targets():
    return [target for targets in TARGETS.values() for target in targets]
