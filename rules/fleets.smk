# The fleets behind `simex rank` (§3.1): the trained per-dataset autoencoders (and the
# MNIST per-class ones, which the inter-class experiment trains) exported as
# self-describing fleet folders, and a check that `simex rank` puts each held-out test
# split's own autoencoder first (full pass and express mode).

FLEETS = CONFIG.fleets.params()
# per-class fleets: MNIST's (the inter-class experiment trains them) and every labelled user dataset's
CLASS_FLEETS = {
    **({f"class-{MNIST}": MNIST} if MNIST in DATASETS else {}),
    **{f"class-{d}": d for d in USER_DATASETS if len(CLASS_NAMES[d]) >= 2},
}
FLEET_NAMES = ["dataset", *CLASS_FLEETS]

TARGETS["fleets"] = [
    *expand("results/fleets/{fleet}/{loss}", fleet=FLEET_NAMES, loss=LOSSES),
    "results/tables/fleet_rank_check.csv",
]


wildcard_constraints:
    fleet="|".join(map(re.escape, FLEET_NAMES)),


FLEET_MODELS = {
    **{("dataset", loss): [dataset_ae(d, loss) for d in DATASETS] for loss in LOSSES},
    **{(fleet, loss): [class_ae(d, loss, label) for label in range(len(CLASS_NAMES[d]))]
       for fleet, d in CLASS_FLEETS.items() for loss in LOSSES},
}


rule export_fleet:
    input:
        models=lambda wildcards: FLEET_MODELS[wildcards.fleet, wildcards.loss],
    output:
        fleet=directory("results/fleets/{fleet}/{loss}"),
    conda:
        "../environment.yml"
    log:
        "logs/fleets/{fleet}/{loss}.log",
    threads: 1
    script:
        "../workflow_scripts/export_fleet.py"


rule fleet_rank_check:
    input:
        fleets=expand("results/fleets/{fleet}/{loss}", fleet=FLEET_NAMES, loss=LOSSES),
        tests=expand(data_file("{dataset}", "test.npz"), dataset=DATASETS),
        provenance=expand(data_file("{dataset}", "provenance.json"), dataset=DATASETS),
    output:
        table=report(
            "results/tables/fleet_rank_check.csv",
            caption="../report/s3_1/fleet_rank_check.rst",
            category="§3.1 simex rank: fleets",
            subcategory="Rank check",
            labels={"table": "own autoencoder ranked first"},
        ),
    params:
        datasets=DATASETS,
        settings=FLEETS,
        seed=CONFIG.seed,
    conda:
        "../environment.yml"
    log:
        "logs/tables/fleet_rank_check.log",
    benchmark:
        "benchmarks/fleets/rank_check.tsv"
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/fleet_rank_check.py"
