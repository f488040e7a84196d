# Figures of the paper, each rebuilt from the tables alone.


rule figure_inter_dataset:
    input:
        deltas=expand("results/tables/delta_dataset_{loss}.csv", loss=LOSSES),
        # panel (c), rules/transfer.smk; without the transfer baseline, (a) and (b) only
        transfer="results/tables/transfer_accuracy.csv" if TRANSFER else [],
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
