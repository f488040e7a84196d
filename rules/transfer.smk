# §5.1's transfer-learning baseline (Fig. 4c, Table 1): per seed replicate, a LeNet-5 base
# classifier per dataset (one job), then every base transferred to every other dataset
# under each protocol of classifier.protocols (one job), then the tables over replicates.

CLF_REPLICATES = list(range(CONFIG.classifier.replicates))

# transfer_missing (rules/common.smk): every dataset of the sheet needs the ten classes the baseline trains on
register("table1", ["results/tables/transfer_accuracy.csv", "results/tables/table1_spearman.csv",
                    "results/tables/table1_spearman.md", "results/tables/table1_per_target.csv",
                    "results/tables/table1_per_target.md", "results/figures/table1_per_target.png"],
         transfer_missing())
TARGETS["delta_normalized"] = ["results/tables/delta_dataset_normalized.csv"] if "mse" in LOSSES else []


# The ten classes every classifier uses, as many samples per class in every dataset (E: a–j).
rule prepare_classifier_split:
    input:
        raw=data_file("{dataset}", "raw.npz"),
    output:
        train=data_file("{dataset}", "classifier_train.npz"),
        test=data_file("{dataset}", "classifier_test.npz"),
    params:
        samples_per_dataset=CONFIG.data.samples_per_dataset,
        train_test_ratio=CONFIG.data.train_test_ratio,
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        "logs/data/{dataset}/classifier_split.log",
    threads: 1
    script:
        "../workflow_scripts/prepare_classifier_split.py"


rule train_base_classifiers:
    input:
        train=expand(data_file("{d}", "classifier_train.npz"), d=DATASETS),
        test=expand(data_file("{d}", "classifier_test.npz"), d=DATASETS),
        provenance=expand(data_file("{d}", "provenance.json"), d=DATASETS),
    output:
        models=expand("results/models/clf/seed{{replicate}}/base/{d}.pt", d=DATASETS),
    params:
        classifier=CONFIG.classifier.params(),
        datasets=DATASETS,
        seed=lambda w: CONFIG.classifier.replicate_seed(CONFIG.seed, w.replicate),
    conda:
        "../environment.yml"
    log:
        "logs/models/clf/seed{replicate}/base.log",
    benchmark:
        "benchmarks/models/clf/seed{replicate}/base.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/train_base_classifier.py"


rule transfer_from_base:
    input:
        models=expand("results/models/clf/seed{{replicate}}/base/{d}.pt", d=DATASETS),
        train=expand(data_file("{d}", "classifier_train.npz"), d=DATASETS),
        test=expand(data_file("{d}", "classifier_test.npz"), d=DATASETS),
        provenance=expand(data_file("{d}", "provenance.json"), d=DATASETS),
    output:
        record="results/models/clf/seed{replicate}/transfer.json",
    params:
        classifier=CONFIG.classifier.params(),
        protocols=CONFIG.classifier.params()["protocols"],
        datasets=DATASETS,
        seed=lambda w: CONFIG.classifier.replicate_seed(CONFIG.seed, w.replicate),
    conda:
        "../environment.yml"
    log:
        "logs/models/clf/seed{replicate}/transfer.log",
    benchmark:
        "benchmarks/models/clf/seed{replicate}/transfer.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/transfer_from_base.py"


rule table1:
    input:
        records=expand("results/models/clf/seed{r}/transfer.json", r=CLF_REPLICATES),
        deltas=expand("results/tables/delta_dataset_{loss}.csv", loss=LOSSES),
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
        per_target=report(
            "results/tables/table1_per_target.csv",
            caption="../report/s5_1/table1_per_target.rst",
            category="§5.1 Inter-dataset similarity",
            subcategory="Table 1",
            labels={"table": "per-target view (X left out)"},
        ),
        per_target_markdown="results/tables/table1_per_target.md",
        figure=report(
            "results/figures/table1_per_target.png",
            caption="../report/s5_1/table1_per_target_figure.rst",
            category="§5.1 Inter-dataset similarity",
            subcategory="Table 1",
            labels={"figure": "per-target view (X left out)"},
        ),
    params:
        losses=LOSSES,
        headline="few_shot",  # the protocol of Fig. 4c and the per-target view
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
