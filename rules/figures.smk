# Figures of the paper, each rebuilt from the tables alone.


rule figure_inter_dataset:
    input:
        deltas=expand("results/tables/delta_dataset_{loss}.csv", loss=LOSSES),
        transfer="results/tables/transfer_accuracy.csv",  # panel (c), rules/transfer.smk
    output:
        figure=report(
            "results/figures/fig4_inter_dataset.png",
            caption="../report/s5_1/fig4.rst",
            category="§5.1 Inter-dataset similarity",
            subcategory="Fig. 4",
            labels={"figure": "Fig. 4"},
        ),
    params:
        losses=LOSSES,
    conda:
        "../environment.yml"
    log:
        "logs/figures/fig4_inter_dataset.log",
    threads: 1
    script:
        "../workflow_scripts/figure_inter_dataset.py"
