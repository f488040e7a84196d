# §5.2's latency experiments. Fig. 5: one pairwise comparison of an unknown dataset
# against one reference, SimEx (inference through A(Y)) vs transfer learning of B(Y)
# (TL-1..TL-5), all measured in one job. Fig. 6: autoencoder training time vs Spearman ρ
# at checkpoint epochs (one job per optimizer schedule), with the base classifiers'
# scratch-training times BT-1..BT-4 (one job). Times are measured inside the jobs around
# the work; the benchmark files record each job's wall time and memory as well.

import re

# (simex.config.Config checked the section against the rest of the config)
LATENCY = CONFIG.latency.params()
LAT_REFERENCE, LAT_UNKNOWN = CONFIG.latency.reference, CONFIG.latency.unknown
LAT_TIME = LATENCY["training_time"]
LAT_SCHEDULES = {slug: entry.params() for slug, entry in CONFIG.latency.training_time.schedules_by_slug.items()}

TARGETS["fig5"] = ["results/tables/latency_pairwise.csv", "results/figures/fig5_latency.png"]
# Fig. 6 orders by the transfer baseline, which needs ten classes in every dataset (rules/common.smk)
register("fig6", ["results/tables/fig6_training_time_vs_rho.csv", "results/figures/fig6_training_time_vs_rho.png"],
         transfer_missing())


wildcard_constraints:
    schedule="|".join(re.escape(slug) for slug in LAT_SCHEDULES),


rule latency_pairwise:
    input:
        autoencoders=[dataset_ae(LAT_REFERENCE, loss) for loss in LATENCY["losses"]],
        base=f"results/models/clf/seed0/base/{LAT_REFERENCE}.pt",
        unknown=data_file(LAT_UNKNOWN, f"{LATENCY['split']}.npz"),
        provenance=[data_file(LAT_REFERENCE, "provenance.json"), data_file(LAT_UNKNOWN, "provenance.json")],
    output:
        record="results/latency/pairwise.json",
    params:
        latency=LATENCY,
        classifier=CONFIG.classifier.params(),
        ssim=CONFIG.ssim.params(),
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        "logs/latency/pairwise.log",
    benchmark:
        "benchmarks/latency/pairwise.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/latency_pairwise.py"


rule latency_fig5:
    input:
        record="results/latency/pairwise.json",
    output:
        table=report(
            "results/tables/latency_pairwise.csv",
            caption="../report/s5_2/latency_pairwise.rst",
            category="§5.2 Latency",
            subcategory="Fig. 5: pairwise latency",
            labels={"table": "pairwise latency, SimEx vs TL-k"},
        ),
        markdown="results/tables/latency_pairwise.md",
        figure=report(
            "results/figures/fig5_latency.png",
            caption="../report/s5_2/fig5.rst",
            category="§5.2 Latency",
            subcategory="Fig. 5: pairwise latency",
            labels={"figure": "Fig. 5"},
        ),
    params:
        primary_loss=LATENCY["losses"][0],
    conda:
        "../environment.yml"
    log:
        "logs/latency/fig5.log",
    threads: 1
    script:
        "../workflow_scripts/latency_fig5.py"


rule latency_ae_training:
    input:
        train=[data_file(code, "train.npz") for code in LAT_TIME["base_datasets"]],
        test=expand(data_file("{d}", "test.npz"), d=DATASETS),
    output:
        record="results/latency/ae_training/{schedule}.json",
    params:
        schedule=lambda wildcards: LAT_SCHEDULES[wildcards.schedule],
        training_time=LAT_TIME,
        datasets=DATASETS,
        ssim=CONFIG.ssim.params(),
        seed=CONFIG.seed,
        eval_batch_size=CONFIG.eval_batch_size,
    conda:
        "../environment.yml"
    log:
        "logs/latency/ae_training/{schedule}.log",
    benchmark:
        "benchmarks/latency/ae_training/{schedule}.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/latency_ae_training.py"


rule latency_base_training:
    input:
        train=[data_file(code, "train.npz") for code in LAT_TIME["base_datasets"]],
        # the base classifiers' training sets are balanced across all datasets (as Table 1's)
        all_train=expand(data_file("{d}", "train.npz"), d=DATASETS),
    output:
        record="results/latency/base_training.json",
    params:
        latency=LATENCY,
        classifier=CONFIG.classifier.params(),
        datasets=DATASETS,
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        "logs/latency/base_training.log",
    benchmark:
        "benchmarks/latency/base_training.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/latency_base_training.py"


rule latency_fig6:
    input:
        schedules=expand("results/latency/ae_training/{schedule}.json", schedule=LAT_SCHEDULES),
        base="results/latency/base_training.json",
        accuracy="results/tables/transfer_accuracy.csv",
        provenance=expand(data_file("{d}", "provenance.json"), d=DATASETS),
    output:
        table=report(
            "results/tables/fig6_training_time_vs_rho.csv",
            caption="../report/s5_2/fig6_table.rst",
            category="§5.2 Latency",
            subcategory="Fig. 6: training time vs ρ",
            labels={"table": "training time vs ρ"},
        ),
        figure=report(
            "results/figures/fig6_training_time_vs_rho.png",
            caption="../report/s5_2/fig6.rst",
            category="§5.2 Latency",
            subcategory="Fig. 6: training time vs ρ",
            labels={"figure": "Fig. 6"},
        ),
    params:
        datasets=DATASETS,
    conda:
        "../environment.yml"
    log:
        "logs/latency/fig6.log",
    threads: 1
    script:
        "../workflow_scripts/latency_fig6.py"
