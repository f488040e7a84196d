# §5.1's transfer-learning baseline (Fig. 4c, Table 1): a LeNet-5 base classifier per
# dataset, then, per base dataset, its convolutions frozen and FC layers retrained on
# every other dataset (one job per base keeps start-up cost down), then the tables.

# transfer_missing (rules/common.smk): every dataset of the sheet needs the ten classes the baseline trains on
register("table1", ["results/tables/transfer_accuracy.csv", "results/tables/table1_spearman.csv",
                    "results/tables/table1_spearman.md"], transfer_missing())
TARGETS["delta_normalized"] = ["results/tables/delta_dataset_normalized.csv"] if "mse" in LOSSES else []


rule train_base_classifier:
    input:
        train=data_file("{dataset}", "train.npz"),
        test=data_file("{dataset}", "test.npz"),
        provenance=data_file("{dataset}", "provenance.json"),
        # training sets are balanced across datasets: all (with the ten classes) set the per-class count
        all_train=expand(data_file("{d}", "train.npz"), d=TEN_CLASS_DATASETS),
    output:
        model="results/models/clf/base/{dataset}.pt",
    params:
        classifier=config["classifier"],
        datasets=TEN_CLASS_DATASETS,
        seed=config["seed"],
    conda:
        "../environment.yml"
    log:
        "logs/models/clf/base/{dataset}.log",
    benchmark:
        "benchmarks/models/clf/base/{dataset}.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/train_base_classifier.py"


rule transfer_from_base:
    input:
        model="results/models/clf/base/{dataset}.pt",
        train=expand(data_file("{d}", "train.npz"), d=DATASETS),
        test=expand(data_file("{d}", "test.npz"), d=DATASETS),
        provenance=expand(data_file("{d}", "provenance.json"), d=DATASETS),
    output:
        record="results/models/clf/transfer/{dataset}.json",
    params:
        classifier=config["classifier"],
        datasets=DATASETS,
        seed=config["seed"],
    conda:
        "../environment.yml"
    log:
        "logs/models/clf/transfer/{dataset}.log",
    benchmark:
        "benchmarks/models/clf/transfer/{dataset}.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/transfer_from_base.py"


rule table1:
    input:
        records=expand("results/models/clf/transfer/{d}.json", d=DATASETS),
        deltas=expand("results/tables/delta_dataset_{loss}.csv", loss=LOSSES),
        provenance=expand(data_file("{d}", "provenance.json"), d=DATASETS),
    output:
        accuracy=report(
            "results/tables/transfer_accuracy.csv",
            caption="../report/s5_1/transfer_accuracy.rst",
            category="§5.1 Inter-dataset similarity",
            subcategory="Fig. 4c: transfer learning",
            labels={"table": "normalised transfer accuracy"},
        ),
        raw=report(
            "results/tables/transfer_accuracy_raw.csv",
            caption="../report/s5_1/transfer_accuracy_raw.rst",
            category="§5.1 Inter-dataset similarity",
            subcategory="Fig. 4c: transfer learning",
            labels={"table": "raw transfer accuracy"},
        ),
        table=report(
            "results/tables/table1_spearman.csv",
            caption="../report/s5_1/table1.rst",
            category="§5.1 Inter-dataset similarity",
            subcategory="Table 1",
            labels={"table": "Table 1: Spearman ρ"},
        ),
        markdown="results/tables/table1_spearman.md",
    params:
        datasets=DATASETS,
        losses=LOSSES,
    conda:
        "../environment.yml"
    log:
        "logs/tables/table1.log",
    threads: 1
    script:
        "../workflow_scripts/table1.py"


# §5.3's observation: Δ(X|Y) of Fig. 4a (MSE) divided by the mean L2 norm of Y's samples.
rule delta_dataset_normalized:
    input:
        delta="results/tables/delta_dataset_mse.csv",
        train=expand(data_file("{d}", "train.npz"), d=DATASETS),
        test=expand(data_file("{d}", "test.npz"), d=DATASETS),
        provenance=expand(data_file("{d}", "provenance.json"), d=DATASETS),
    output:
        table=report(
            "results/tables/delta_dataset_normalized.csv",
            caption="../report/s5_3/delta_normalized.rst",
            category="§5.3 Inter-class similarity across datasets",
            subcategory="Δ normalised by the mean L2 norm",
            labels={"table": "Δ(X|Y) / mean L2 norm"},
        ),
        markdown="results/tables/delta_dataset_normalized.md",
    params:
        datasets=DATASETS,
    conda:
        "../environment.yml"
    log:
        "logs/tables/delta_dataset_normalized.log",
    threads: 1
    script:
        "../workflow_scripts/delta_dataset_normalized.py"
