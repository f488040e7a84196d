# Inter-class similarity within MNIST (§4 Fig. 1a; §5.4 Fig. 8, Table 2): SimEx Δ(c_i|c_k)
# from the per-class autoencoders A(0)..A(9), sample-space distances, and the confusion of
# ten 9-class classifiers C_k per architecture, each trained without class k.

INTERCLASS = CONFIG.interclass.params()
INTERCLASS_DATASET = MNIST
INTERCLASS_CLASSES = dataset_info(INTERCLASS_DATASET).class_labels
CLASSIFIER_ARCHS = list(INTERCLASS["classifiers"])

register(
    "fig8",
    [
        "results/figures/fig8_interclass_mnist.png",
        "results/tables/table2_spearman.csv",
        "results/tables/table2_spearman.md",
    ],
    mnist_missing(),
)
register("fig1a", ["results/figures/fig1a_reconstructions.png"], mnist_missing())


wildcard_constraints:
    arch="|".join(CLASSIFIER_ARCHS),


rule interclass_delta:
    input:
        models=expand(class_ae(INTERCLASS_DATASET, "{{loss}}", "{label}"), label=INTERCLASS_CLASSES),
        test=data_file(INTERCLASS_DATASET, "test.npz"),
    output:
        table="results/tables/interclass/delta_{loss}.csv",
    params:
        classes=INTERCLASS_CLASSES,
        ssim=CONFIG.ssim.params(),
        batch_size=CONFIG.eval_batch_size,
    conda:
        "../environment.yml"
    log:
        "logs/tables/interclass/delta_{loss}.log",
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/interclass_delta.py"


rule interclass_sample_distance:
    input:
        train=data_file(INTERCLASS_DATASET, "train.npz"),
        test=data_file(INTERCLASS_DATASET, "test.npz"),
    output:
        table="results/tables/interclass/sample_{loss}.csv",
    params:
        n_classes=len(INTERCLASS_CLASSES),
        max_pairs=INTERCLASS["sample_distance"]["max_pairs"],
        ssim=CONFIG.ssim.params(),
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        "logs/tables/interclass/sample_{loss}.log",
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/interclass_sample_distance.py"


# One job per architecture trains its ten C_k (job start-up would dominate ten small jobs)
# and measures the confusion of each held-out class.
rule nine_class_classifiers:
    input:
        train=data_file(INTERCLASS_DATASET, "train.npz"),
        test=data_file(INTERCLASS_DATASET, "test.npz"),
    output:
        models=expand(f"results/models/clf/nine_class/{INTERCLASS_DATASET}/{{{{arch}}}}/{{label}}.pt", label=INTERCLASS_CLASSES),
        confusion="results/tables/interclass/confusion_{arch}.csv",
    params:
        training=lambda w: INTERCLASS["classifiers"][w.arch],
        classes=INTERCLASS_CLASSES,
        batch_size=CONFIG.eval_batch_size,
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        f"logs/models/clf/nine_class/{INTERCLASS_DATASET}/{{arch}}.log",
    benchmark:
        f"benchmarks/models/clf/nine_class/{INTERCLASS_DATASET}/{{arch}}.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/interclass_classifiers.py"


rule table2_spearman:
    input:
        deltas=expand("results/tables/interclass/delta_{loss}.csv", loss=LOSSES),
        samples=expand("results/tables/interclass/sample_{loss}.csv", loss=LOSSES),
        confusions=expand("results/tables/interclass/confusion_{arch}.csv", arch=CLASSIFIER_ARCHS),
        provenance=data_file(INTERCLASS_DATASET, "provenance.json"),
    output:
        table=report(
            "results/tables/table2_spearman.csv",
            caption="../report/s5_4/table2.rst",
            category="§5.4 Inter-class similarity within MNIST",
            subcategory="Table 2",
            labels={"table": "Table 2: mean Spearman ρ"},
        ),
        markdown="results/tables/table2_spearman.md",
        per_class="results/tables/interclass/spearman_per_class.csv",
        other_orientation="results/tables/interclass/spearman_other_orientation.csv",
    params:
        losses=LOSSES,
        archs=CLASSIFIER_ARCHS,
        classifiers=INTERCLASS["classifiers"],
        class_autoencoder=CONFIG.class_autoencoder.params(),
        max_pairs=INTERCLASS["sample_distance"]["max_pairs"],
    conda:
        "../environment.yml"
    log:
        "logs/tables/table2_spearman.log",
    threads: 1
    script:
        "../workflow_scripts/interclass_table2.py"


rule figure_interclass:
    input:
        deltas=expand("results/tables/interclass/delta_{loss}.csv", loss=LOSSES),
        samples=expand("results/tables/interclass/sample_{loss}.csv", loss=LOSSES),
        confusions=expand("results/tables/interclass/confusion_{arch}.csv", arch=CLASSIFIER_ARCHS),
        provenance=data_file(INTERCLASS_DATASET, "provenance.json"),
    output:
        figure=report(
            "results/figures/fig8_interclass_mnist.png",
            caption="../report/s5_4/fig8.rst",
            category="§5.4 Inter-class similarity within MNIST",
            subcategory="Fig. 8",
            labels={"figure": "Fig. 8"},
        ),
    params:
        losses=LOSSES,
        archs=CLASSIFIER_ARCHS,
    conda:
        "../environment.yml"
    log:
        "logs/figures/fig8_interclass_mnist.log",
    threads: 1
    script:
        "../workflow_scripts/figure_interclass.py"


rule figure_reconstructions:
    input:
        model=class_ae(INTERCLASS_DATASET, INTERCLASS["fig1a"]["loss"], INTERCLASS["fig1a"]["reference"]),
        test=data_file(INTERCLASS_DATASET, "test.npz"),
        provenance=data_file(INTERCLASS_DATASET, "provenance.json"),
        deltas=expand("results/tables/interclass/delta_{loss}.csv", loss=LOSSES),
    output:
        figure=report(
            "results/figures/fig1a_reconstructions.png",
            caption="../report/s4/fig1a.rst",
            category="§4 SimEx overview",
            subcategory="Fig. 1a",
            labels={"figure": "Fig. 1a"},
        ),
    params:
        losses=LOSSES,
        fig1a=INTERCLASS["fig1a"],
        ssim=CONFIG.ssim.params(),
    conda:
        "../environment.yml"
    log:
        "logs/figures/fig1a_reconstructions.log",
    resources:
        gpu=1,
    threads: 1
    script:
        "../workflow_scripts/figure_reconstructions.py"
