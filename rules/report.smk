# The HTML report (`snakemake --report results/report.html`): every figure and table is
# an output wrapped in report() by its own rule, with a caption in report/ and grouped
# by paper section; this rule adds where each dataset came from.

TARGETS["provenance"] = ["results/tables/provenance.csv"]


rule provenance_table:
    input:
        provenance=expand(data_file("{dataset}", "provenance.json"), dataset=DATASETS),
    output:
        table=report(
            "results/tables/provenance.csv",
            caption="../report/datasets/provenance.rst",
            category="Datasets",
            labels={"table": "provenance of each dataset"},
        ),
    params:
        datasets=DATASETS,
    conda:
        "../environment.yml"
    log:
        "logs/tables/provenance.log",
    threads: 1
    script:
        "../workflow_scripts/provenance_table.py"


TARGETS["samples"] = ["results/figures/dataset_samples.png"]


rule figure_samples:
    input:
        train=expand(data_file("{dataset}", "train.npz"), dataset=DATASETS),
        provenance=expand(data_file("{dataset}", "provenance.json"), dataset=DATASETS),
    output:
        figure=report(
            "results/figures/dataset_samples.png",
            caption="../report/datasets/samples.rst",
            category="Datasets",
            labels={"figure": "samples of each dataset"},
        ),
    params:
        datasets=DATASETS,
        per_row=10,
    conda:
        "../environment.yml"
    log:
        "logs/figures/dataset_samples.log",
    threads: 1
    script:
        "../workflow_scripts/figure_samples.py"
