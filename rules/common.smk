# The dataset sheet, target lists and input functions shared by the rules.

import logging
import re

import pandas as pd
from snakemake.utils import validate

from simex.datasets import read_sheet, sheet_class_names

# The known datasets come from the dataset sheet (config/datasets.tsv by default), its
# rows checked by their own schema, then by read_sheet for what spans columns.
_sheet_table = pd.read_csv(config["dataset_sheet"], sep="\t", comment="#", dtype=str, keep_default_na=False)
validate(_sheet_table, "../config/datasets.schema.yaml")
SHEET = read_sheet(config["dataset_sheet"])
DATASETS = list(config.get("datasets") or SHEET)
_unknown = [name for name in DATASETS if name not in SHEET]
if _unknown:
    raise WorkflowError(f"config validation: datasets {', '.join(map(repr, _unknown))} not in the dataset sheet "
                        f"{config['dataset_sheet']} (its names: {', '.join(SHEET)})")
config["datasets"] = DATASETS  # the effective selection, for the code that reads the config
LOSSES = list(config["losses"])
# Classes of each dataset, read cheaply now: per-class autoencoders are one job per class.
CLASS_NAMES = {name: sheet_class_names(SHEET[name]) for name in DATASETS}
USER_DATASETS = [name for name in DATASETS if not SHEET[name].paper]
# §5.1's transfer baseline trains LeNet-5 on ten classes of a dataset, as the paper; its
# matrix (Fig. 4c, Table 1, and Fig. 6, which orders by it) needs every dataset to have ten.
TEN_CLASS_DATASETS = [name for name in DATASETS if len(CLASS_NAMES[name]) >= 10]
TRANSFER = TEN_CLASS_DATASETS == DATASETS
if not TRANSFER:
    logging.getLogger("simex").warning(
        "the transfer baseline (Fig. 4c, Table 1) and Fig. 6 are skipped: they need ten classes in every "
        "dataset, and %s", ", ".join(f"{n} has {len(CLASS_NAMES[n])}" for n in DATASETS if n not in TEN_CLASS_DATASETS))


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
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


def user_files(wildcards):
    """A user's dataset files (folder or file, IDX labels), so a change to them reruns its jobs."""
    entry = SHEET[wildcards.dataset]
    return [] if entry.paper else [entry.path, *([entry.labels] if entry.labels else [])]
