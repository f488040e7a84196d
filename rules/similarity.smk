# Δ(X|Y) for every pair of datasets (§5.1, Fig. 4a/4b).

TARGETS["fig4"] = [
    *expand("results/tables/delta_dataset_{loss}.csv", loss=LOSSES),
    "results/figures/fig4_inter_dataset.png",
]


rule delta_dataset:
    input:
        models=expand(dataset_ae("{dataset}", "{{loss}}"), dataset=DATASETS),
        tests=expand(data_file("{dataset}", "test.npz"), dataset=DATASETS),
        provenance=expand(data_file("{dataset}", "provenance.json"), dataset=DATASETS),
    output:
        table=report(
            "results/tables/delta_dataset_{loss}.csv",
            caption="../report/s5_1/delta_dataset.rst",
            category="§5.1 Inter-dataset similarity",
            subcategory="Fig. 4a/4b: Δ(X|Y)",
            labels={"table": "Δ(X|Y)", "loss": "{loss}"},
        ),
    params:
        datasets=DATASETS,
        ssim=CONFIG.ssim.params(),
        batch_size=CONFIG.eval_batch_size,
    conda:
        "../environment.yml"
    log:
        "logs/tables/delta_dataset_{loss}.log",
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/delta_dataset.py"
