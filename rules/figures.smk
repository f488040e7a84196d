# Figures of the paper, each rebuilt from the tables alone.


rule figure_inter_dataset:
    input:
        deltas=expand("results/tables/delta_dataset_{loss}.csv", loss=LOSSES),
        transfer="results/tables/transfer_accuracy.csv",  # panel (c), rules/transfer.smk
    output:
        figure="results/figures/fig4_inter_dataset.png",
    params:
        losses=LOSSES,
    conda:
        "../environment.yml"
    log:
        "logs/figures/fig4_inter_dataset.log",
    threads: 1
    script:
        "../workflow_scripts/figure_inter_dataset.py"
