# The fleets behind `simex rank` (§3.1): the trained per-dataset autoencoders (and the
# MNIST per-class ones, which the inter-class experiment trains) exported as
# self-describing fleet folders, and a check that `simex rank` puts each held-out test
# split's own autoencoder first (full pass and express mode).
#
# The dataset fleets hold `fleets.members` autoencoders per dataset (replicas with their own
# seeds), so `simex rank` can state their spread and resample them. Replica 0 is the A(Y)
# that every table uses (rules/autoencoders.smk, untouched); replicas 1.. are trained by one
# more fused job per loss beside it. The per-class fleets keep one autoencoder per class.

FLEETS = CONFIG.fleets.params()
REPLICAS = list(range(1, int(CONFIG.fleets.members)))  # the dataset fleets' further members


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
    **{("dataset", loss): [model for d in DATASETS for model in
                           [dataset_ae(d, loss), *(replica_ae(d, loss, r) for r in REPLICAS)]] for loss in LOSSES},
    **{(fleet, loss): [class_ae(d, loss, label) for label in range(len(CLASS_NAMES[d]))]
       for fleet, d in CLASS_FLEETS.items() for loss in LOSSES},
}


if REPLICAS:

    # Replicas 1.. of every dataset autoencoder of a loss, as one fused job (the same script
    # as train_dataset_autoencoders, each replica with its own seed: simex.config.autoencoder_seed).
    rule train_dataset_autoencoder_replicas:
        input:
            train=[data_file(d, "train.npz") for d in DATASETS],
            provenance=[data_file(d, "provenance.json") for d in DATASETS],
        output:
            **{f"{d}_r{r}": replica_ae(d, "{loss}", r) for d in DATASETS for r in REPLICAS},
        params:
            datasets=DATASETS,
            replicas=REPLICAS,
            training=CONFIG.autoencoder.params(),
            ssim=CONFIG.ssim.params(),
            seed=CONFIG.seed,
            cache_key="{loss}",  # the between-workflow cache hashes params, never wildcards
        cache: True
        conda:
            "../environment.yml"
        log:
            "logs/models/ae/replicas/{loss}.log",
        resources:
            gpu=1,
        threads: JOB_THREADS
        script:
            "../workflow_scripts/train_dataset_autoencoders.py"


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
