# The difficulty check (docs/datasets/README.md): every regenerated or stand-in dataset, at
# Larochelle et al.'s split sizes, classified by an RBF SVM and by LeNet-5, beside the
# published test errors. Not part of `rule all`: `snakemake --cores 2 difficulty`.
# The data are acquired apart from the run's (results/difficulty/), by the same chain of
# sources and the same regeneration settings, at difficulty.*_per_class a class.

DIFFICULTY = config["difficulty"]
DIFFICULTY_DATASETS = list(DIFFICULTY["datasets"])
DIFFICULTY_PER_CLASS = DIFFICULTY["train_per_class"] + DIFFICULTY["valid_per_class"] + DIFFICULTY["test_per_class"]


rule difficulty:
    input:
        table="docs/datasets/difficulty.csv",
        markdown="docs/datasets/difficulty.md",


rule difficulty_acquire:
    input:
        mnist=difficulty_mnist("raw.npz"),
        mnist_test=difficulty_mnist("test.npz"),  # as the run's: never a digit of M's test split
    output:
        raw="results/difficulty/{dataset}/raw.npz",
        record="results/difficulty/{dataset}/acquired.json",
    wildcard_constraints:
        dataset="|".join(map(re.escape, DIFFICULTY_DATASETS)),
    params:
        sheet_entry=lambda w: {"name": w.dataset, "label": dataset_info(w.dataset).name, "source": w.dataset},
        # acquisition_per_class: samples_per_dataset / 10 a class of each of the ten classes checked
        data={**config["data"], "samples_per_dataset": DIFFICULTY_PER_CLASS * 10},
        seed=config["seed"],
    conda:
        "../environment.yml"
    log:
        "logs/difficulty/{dataset}/acquire.log",
    threads: 1
    script:
        "../workflow_scripts/acquire_dataset.py"


rule difficulty_errors:
    input:
        raw="results/difficulty/{dataset}/raw.npz",
        record="results/difficulty/{dataset}/acquired.json",
    output:
        errors="results/difficulty/{dataset}/errors.json",
    wildcard_constraints:
        dataset="|".join(map(re.escape, DIFFICULTY_DATASETS)),
    params:
        sizes={key: DIFFICULTY[f"{key}_per_class"] for key in ("train", "valid", "test")},
        svm=DIFFICULTY["svm"],
        lenet=DIFFICULTY["lenet"],
        seed=config["seed"],
    conda:
        "../environment.yml"
    log:
        "logs/difficulty/{dataset}/errors.log",
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/difficulty_errors.py"


rule difficulty_table:
    input:
        errors=expand("results/difficulty/{dataset}/errors.json", dataset=DIFFICULTY_DATASETS),
    output:
        table="docs/datasets/difficulty.csv",
        markdown="docs/datasets/difficulty.md",
    params:
        datasets=DIFFICULTY_DATASETS,
    conda:
        "../environment.yml"
    log:
        "logs/difficulty/table.log",
    threads: 1
    script:
        "../workflow_scripts/difficulty_table.py"
