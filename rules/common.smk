# The dataset sheet, target lists and input functions shared by the rules.
import os
import re

import pandas as pd
from snakemake.logging import logger
from snakemake.utils import validate

from simex.config import Config, ConfigError
from simex.experiments.cost import capacity_problems
from simex.base.datasets import MNIST, dataset_info, in_paper_order, read_sheet, sheet_class_names

# The known datasets come from the dataset sheet (config/datasets.tsv by default), its
# rows checked by their own schema, then by read_sheet for what spans columns.
_sheet_table = pd.read_csv(config["dataset_sheet"], sep="\t", comment="#", dtype=str, keep_default_na=False)
validate(_sheet_table, "../config/datasets.schema.yaml")
SHEET = read_sheet(config["dataset_sheet"])
# The one config object (simex.config): the schema-validated config (the Snakefile's
# validate) as frozen typed sections, checked across sections. Rules read CONFIG, never
# `config`; jobs get plain mappings through params: (section.params()).
try:
    CONFIG = Config.from_dict(config, SHEET)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
# What the run needs against what this machine has (memory, disk: simex.experiments.cost):
# a paper-scale config on a machine that cannot hold it stops here, before any job, not at
# hour N. A dry run only warns; SIMEX_SKIP_CAPACITY_CHECK=1 skips the check.
if os.environ.get("SIMEX_SKIP_CAPACITY_CHECK") != "1":
    _short = capacity_problems(CONFIG)
    if _short and not workflow.dryrun:
        raise WorkflowError("this machine cannot hold this run: " + "; ".join(_short)
                            + " (SIMEX_SKIP_CAPACITY_CHECK=1 runs it all the same)")
    for _problem in _short:
        logger.warning(f"this machine cannot hold this run: {_problem}")
DATASETS = list(CONFIG.datasets)  # the effective selection: the config's, else every row of the sheet
LOSSES = list(CONFIG.losses)
# Threads of every compute job (training, inference); bookkeeping jobs use one.
JOB_THREADS = CONFIG.threads_per_job
# Snakemake starts ready jobs of a higher priority first. The default run's longest chain,
# data -> per-class autoencoders -> pairings -> augmentation trials, holds about two thirds
# of its job-seconds; in the default order its last class fleet started at 271 s of 441 s
# (b9014ed, 2 cores). Its rules carry this priority, so it goes first and other jobs fill
# around it (on 2 cores the wall time did not change measurably: docs/architecture.md).
CHAIN_PRIORITY = 1
# Classes of each dataset, read cheaply now: per-class autoencoders are one job per class.
CLASS_NAMES = {name: sheet_class_names(SHEET[name]) for name in DATASETS}
USER_DATASETS = [name for name in DATASETS if not SHEET[name].builtin]
# §5.1's transfer baseline trains LeNet-5 on ten classes of a dataset, as the paper; its
# matrix (Fig. 4c, Table 1, and Fig. 6, which orders by it) needs every dataset to have ten.
TEN_CLASS_DATASETS = [name for name in DATASETS if len(CLASS_NAMES[name]) >= 10]
TRANSFER = TEN_CLASS_DATASETS == DATASETS


def transfer_missing():
    """Why the transfer baseline (and what orders by it) cannot run on this sheet, or None."""
    short = [f"{n} has {len(CLASS_NAMES[n])}" for n in DATASETS if n not in TEN_CLASS_DATASETS]
    return f"it needs ten classes in every dataset, and {', '.join(short)}" if short else None


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
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


def derived_from(dataset):
    """The sheet dataset ``dataset``'s offline fallback regenerates it from (M for R, B, BR, RBI), or None."""
    entry = SHEET[dataset]
    return dataset_info(entry.source).derived_from if entry.builtin else None


def regeneration_source(wildcards):
    """mnist-rot and mnist-back-image are regenerated from MNIST when not downloadable."""
    source = derived_from(wildcards.dataset)
    return data_file(source, "raw.npz") if source else []


def regeneration_test_split(wildcards):
    """The test split of the dataset a regenerated one comes from: none of its digits is reused."""
    source = derived_from(wildcards.dataset)
    return data_file(source, "test.npz") if source else []


def difficulty_mnist(name):
    """The difficulty check's input: MNIST's file ``name`` for a dataset regenerated from MNIST."""
    return lambda w: data_file(MNIST, name) if dataset_info(w.dataset).derived_from == MNIST else []


def user_files(wildcards):
    """A user's dataset files (folder or file, IDX labels), so a change to them reruns its jobs."""
    entry = SHEET[wildcards.dataset]
    return [] if entry.builtin else [entry.path, *([entry.labels] if entry.labels else [])]


def dataset_ae(dataset, loss):
    return f"results/models/ae/dataset/{dataset}/{loss}.pt"


def replica_ae(dataset, loss, replica):
    """A further replica of A(dataset) for the dataset fleets (fleets.members; replica 0 is dataset_ae)."""
    return f"results/models/ae/replicas/{dataset}/{loss}/{replica}.pt"


def class_ae(dataset, loss, label):
    return f"results/models/ae/class/{dataset}/{loss}/{label}.pt"


def all_targets():
    return [target for targets in TARGETS.values() for target in targets]


def benchmark_sources(target):
    """The source-selection benchmark's candidate sources for a target: every other dataset."""
    return [d for d in DATASETS if d != target]


def benchmark_bases(source):
    """The benchmark's B(Y) of every seed replicate (rules/benchmark.smk)."""
    return [f"{CONFIG.benchmark.results}/base/{source}/seed{s}.pt" for s in range(CONFIG.benchmark.seeds)]


# The source-selection benchmark v2 (rules/benchmark_v2.smk): its paths and inputs, defined only when
# the config has a `benchmark_v2` section (config/benchmark-v2.yaml).
if CONFIG.benchmark_v2 is not None:

    V2 = CONFIG.benchmark_v2
    V2_DIR = V2.results.rstrip("/")
    V2_OUT = V2.output.rstrip("/")
    V2_SCALES = list(V2.scales)
    V2_SEEDS = list(range(V2.seeds))
    V2_MEMBERS = list(range(V2.members))
    V2_LOSSES = ["mse", "issim"]  # SimEx-MSE and SimEx-iSSIM
    V2_COMMAND = "snakemake --configfile config/benchmark-v2.yaml --cores 2 benchmark_v2"
    V2_SCALE_FILES = ["runs.csv.gz", "scores.csv.gz", "deltas.csv.gz", "norms.csv.gz", "draws.csv.gz",
                      "timings.csv.gz", "metrics.csv.gz", "resolution.csv", "resolution.md", "summary.csv",
                      "summary.md", "differences.csv", "differences.md", "decisions.csv", "README.md", "jobs.log.gz"]
    V2_REPORT_FILES = ["README.md", "scale.csv", "scale.md", "scale.png"]

    def v2_data(scale, dataset, name):
        return f"{V2_DIR}/scale{scale}/data/{dataset}/{name}"

    def v2_bases(scale, source):
        return [f"{V2_DIR}/scale{scale}/base/{source}/seed{s}.pt" for s in V2_SEEDS]

    def v2_member(scale, loss, dataset, k):
        return f"{V2_DIR}/scale{scale}/ae/{loss}/{dataset}/member{k}.pt"

    def v2_derived(dataset):
        """The dataset a regenerated one is drawn from (M for R, B, BR, RBI), or None."""
        entry = SHEET[dataset]
        return dataset_info(entry.source).derived_from if entry.builtin else None

    def v2_scale_outputs(scale):
        return [f"{V2_OUT}/scale{scale}/{name}" for name in V2_SCALE_FILES]

    def v2_source_bases(w):
        return [path for y in benchmark_sources(w.dataset) for path in v2_bases(w.scale, y)]

    def v2_estimator_inputs(w):
        sources = benchmark_sources(w.dataset)
        return {
            "bases": v2_source_bases(w),
            "members": [v2_member(w.scale, loss, y, k) for loss in V2_LOSSES for y in sources for k in V2_MEMBERS],
            "source_train": [v2_data(w.scale, y, "train.npz") for y in sources],
            "source_classifier_train": [v2_data(w.scale, y, "classifier_train.npz") for y in sources],
            "train": v2_data(w.scale, w.dataset, "classifier_train.npz"),
        }
