# The difficulty check (docs/datasets/README.md): every regenerated or stand-in dataset, at
# Larochelle et al.'s split sizes, classified by an RBF SVM and by LeNet-5, beside the
# published test errors. Not part of `rule all`: `snakemake --cores 2 difficulty`.
# The data are acquired apart from the run's (results/difficulty/), by the same chain of
# sources and the same regeneration settings, at difficulty.*_per_class a class.

DIFFICULTY = CONFIG.difficulty
DIFFICULTY_DATASETS = list(DIFFICULTY.datasets)


rule difficulty:
    input:
        table="results/difficulty/difficulty.csv",
        markdown="results/difficulty/difficulty.md",


# `snakemake --cores 2 publish_difficulty`: copies the table to docs/datasets/, a target of its own.
rule publish_difficulty:
    input:
        table="results/difficulty/difficulty.csv",
        markdown="results/difficulty/difficulty.md",
    output:
        table="docs/datasets/difficulty.csv",
        markdown="docs/datasets/difficulty.md",
    conda:
        "../environment.yml"
    log:
        "logs/publish/difficulty.log",
    localrule: True
    shell:
        "(cp {input.table} {output.table} && cp {input.markdown} {output.markdown}) > {log} 2>&1"


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
        data={**CONFIG.data.params(), "samples_per_dataset": sum(DIFFICULTY.sizes().values()) * 10},
        seed=CONFIG.seed,
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
        sizes=DIFFICULTY.sizes(),
        svm=DIFFICULTY.svm.params(),
        lenet=DIFFICULTY.lenet.params(),
        seed=CONFIG.seed,
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
        table="results/difficulty/difficulty.csv",
        markdown="results/difficulty/difficulty.md",
    params:
        datasets=DIFFICULTY_DATASETS,
    conda:
        "../environment.yml"
    log:
        "logs/difficulty/table.log",
    threads: 1
    script:
        "../workflow_scripts/difficulty_table.py"
