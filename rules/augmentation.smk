# Cross-dataset class pairings and the augmentation experiment (§5.3, Fig. 7).
#
# Per-class autoencoders A(c_Y^k) of the reference datasets (rule train_class_autoencoder,
# for the configured pairing losses only) -> one pairing job (SimEx, sample-MSE,
# embeddings; greedy pairing) -> one batched augmentation job per Y plus one for the
# no-borrowing reference -> the merged table -> Fig. 7.
AUGMENTATION = CONFIG.augmentation.params()
# Y: every other configured paper dataset lends classes to MNIST, in the paper's order
# (a user's datasets of the sheet are not references of Fig. 7).
AUG_REFERENCES = list(CONFIG.augmentation_references)
AUG_CLASS_MODELS = [
    class_ae(reference, loss, label)
    for reference in AUG_REFERENCES
    for loss in AUGMENTATION["pairing_losses"]
    for label in dataset_info(reference).class_labels
]

# (simex.config.Config checked the grid against the splits' sizes when Fig. 7 runs)
_skipped = CONFIG.augmentation_skipped()
register(
    "fig7",
    [
        "results/tables/pairings.csv",
        "results/tables/pairing_scores.csv",
        *(["results/tables/pairings_emnist.md"] if "E" in AUG_REFERENCES else []),
        "results/tables/pairings_by_class.md",
        "results/tables/augmentation.csv",
        "results/tables/augmentation_benefit.csv",
        "results/tables/augmentation_benefit.md",
        "results/figures/fig7_augmentation.png",
    ],
    _skipped,
)


rule pair_classes:
    input:
        class_models=AUG_CLASS_MODELS,  # ordered Y, loss, class
        dataset_models=expand(
            dataset_ae("{dataset}", AUGMENTATION["embedding_loss"]),
            dataset=AUG_REFERENCES,
        ),
        mnist=data_file(MNIST, f"{AUGMENTATION['pairing_split']}.npz"),
        references=expand(data_file("{dataset}", "train.npz"), dataset=AUG_REFERENCES),
        provenance=expand(
            data_file("{dataset}", "provenance.json"), dataset=[MNIST, *AUG_REFERENCES]
        ),
    output:
        pairings=report(
            "results/tables/pairings.csv",
            caption="../report/s5_3/pairings.rst",
            category="§5.3 Inter-class similarity across datasets",
            subcategory="Class pairings",
            labels={"table": "pairings"},
        ),
        scores=report(
            "results/tables/pairing_scores.csv",
            caption="../report/s5_3/pairing_scores.rst",
            category="§5.3 Inter-class similarity across datasets",
            subcategory="Class pairings",
            labels={"table": "pairing distances"},
        ),
        markdown="results/tables/pairings_by_class.md",
        emnist=(
            [
                report(
                    "results/tables/pairings_emnist.csv",
                    caption="../report/s5_3/pairings_emnist.rst",
                    category="§5.3 Inter-class similarity across datasets",
                    subcategory="Class pairings",
                    labels={"table": "MNIST digits ↔ EMNIST letters"},
                ),
                "results/tables/pairings_emnist.md",
            ]
            if "E" in AUG_REFERENCES
            else []
        ),
    params:
        references=AUG_REFERENCES,
        settings=AUGMENTATION,
        ssim=CONFIG.ssim.params(),
        batch_size=CONFIG.eval_batch_size,
    conda:
        "../environment.yml"
    log:
        "logs/tables/pairings.log",
    benchmark:
        "benchmarks/tables/pairings.tsv"
    resources:
        gpu=1,
    priority: CHAIN_PRIORITY  # on the longest chain: see acquire_dataset
    threads: JOB_THREADS
    script:
        "../workflow_scripts/pair_classes.py"

# The test set of every augmentation run: MNIST's published test split, less the digits a
# training set may have seen (M's train split, the MNIST rows R† and B† are regenerated
# from), `test_per_class` a class.
AUG_REGENERATED = [code for code in ("R", "B") if code in DATASETS]


rule augmentation_test_set:
    input:
        mnist_raw=data_file(MNIST, "raw.npz"),
        mnist_provenance=data_file(MNIST, "provenance.json"),
        mnist_train=data_file(MNIST, "train.npz"),
        mnist_test=data_file(MNIST, "test.npz"),  # R†/B† were regenerated avoiding it: the rows they used depend on it
        regenerated_provenance=expand(data_file("{dataset}", "provenance.json"), dataset=AUG_REGENERATED),
    output:
        test="results/tables/augmentation/mnist_test.npz",
    params:
        regenerated_from_mnist=AUG_REGENERATED,
        data=CONFIG.data.params(),
        seed=CONFIG.seed,
        per_class=AUGMENTATION["test_per_class"],
    conda:
        "../environment.yml"
    log:
        "logs/tables/augmentation/mnist_test.log",
    priority: CHAIN_PRIORITY  # on the longest chain: see acquire_dataset
    threads: 1
    script:
        "../workflow_scripts/augmentation_test_set.py"


rule augment_with_reference:
    input:
        pairings="results/tables/pairings.csv",
        mnist_train=data_file(MNIST, "train.npz"),
        mnist_test="results/tables/augmentation/mnist_test.npz",
        reference=data_file("{reference}", "train.npz"),
        provenance=data_file("{reference}", "provenance.json"),
    output:
        runs="results/tables/augmentation/{reference}.csv",
    wildcard_constraints:
        reference="|".join(AUG_REFERENCES),
    params:
        settings=AUGMENTATION,
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        "logs/tables/augmentation/{reference}.log",
    benchmark:
        "benchmarks/tables/augmentation/{reference}.tsv"
    resources:
        gpu=1,
    priority: CHAIN_PRIORITY  # on the longest chain: see acquire_dataset
    threads: JOB_THREADS
    script:
        "../workflow_scripts/augment.py"

rule augment_without_borrowing:
    input:
        mnist_train=data_file(MNIST, "train.npz"),
        mnist_test="results/tables/augmentation/mnist_test.npz",
    output:
        runs="results/tables/augmentation/none.csv",
    params:
        settings=AUGMENTATION,
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        "logs/tables/augmentation/none.log",
    benchmark:
        "benchmarks/tables/augmentation/none.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/augment.py"

rule augmentation_table:
    input:
        runs=expand(
            "results/tables/augmentation/{reference}.csv",
            reference=[*AUG_REFERENCES, "none"],
        ),
    output:
        table=report(
            "results/tables/augmentation.csv",
            caption="../report/s5_3/augmentation.rst",
            category="§5.3 Inter-class similarity across datasets",
            subcategory="Fig. 7: augmentation",
            labels={"table": "accuracy after augmentation"},
        ),
        benefit=report(
            "results/tables/augmentation_benefit.csv",
            caption="../report/s5_3/augmentation_benefit.rst",
            category="§5.3 Inter-class similarity across datasets",
            subcategory="Fig. 7: augmentation",
            labels={"table": "benefit of borrowing"},
        ),
        markdown="results/tables/augmentation_benefit.md",
    conda:
        "../environment.yml"
    log:
        "logs/tables/augmentation.log",
    threads: 1
    script:
        "../workflow_scripts/augmentation_table.py"

rule figure_augmentation:
    input:
        table="results/tables/augmentation.csv",
        provenance=expand(data_file("{dataset}", "provenance.json"), dataset=AUG_REFERENCES),
    output:
        figure=report(
            "results/figures/fig7_augmentation.png",
            caption="../report/s5_3/fig7.rst",
            category="§5.3 Inter-class similarity across datasets",
            subcategory="Fig. 7: augmentation",
            labels={"figure": "Fig. 7"},
        ),
    params:
        references=AUG_REFERENCES,
    conda:
        "../environment.yml"
    log:
        "logs/figures/fig7_augmentation.log",
    threads: 1
    script:
        "../workflow_scripts/figure_augmentation.py"
