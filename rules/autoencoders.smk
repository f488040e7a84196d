# All dataset autoencoders of a loss (§5.1) in one job: the fused trainer trains them as
# one model, each member exactly as it would train alone (its own data, seed, batch order
# and epochs), so the job pays Python's, torch's and the GPU's start once, not once per
# dataset. One checkpoint per dataset at the usual path, as named outputs: Snakemake's
# between-workflow cache stores and restores the fleet as one entry. A dataset added to
# the sheet reruns this job for every loss (each member trains as it would alone, so the
# others come out as before, up to float rounding).
rule train_dataset_autoencoders:
    input:
        train=[data_file(d, "train.npz") for d in DATASETS],
        provenance=[data_file(d, "provenance.json") for d in DATASETS],
    output:
        **{d: dataset_ae(d, "{loss}") for d in DATASETS},
    params:
        datasets=DATASETS,
        training=CONFIG.autoencoder.params(),
        ssim=CONFIG.ssim.params(),
        seed=CONFIG.seed,
        cache_key="{loss}",  # the between-workflow cache hashes params, never wildcards
    # `--cache` shares trained fleets between workflows and configs (see README); a cached
    # rule may not have a benchmark: the training time is in the model's history instead.
    cache: True
    conda:
        "../environment.yml"
    log:
        "logs/models/ae/dataset/{loss}.log",
    resources:
        gpu=1,
    priority: CHAIN_PRIORITY  # on the longest chain (pair_classes' embeddings): see acquire_dataset
    threads: JOB_THREADS
    script:
        "../workflow_scripts/train_dataset_autoencoders.py"


# All per-class autoencoders of a dataset and loss (§5.3, §5.4) in one job: the fused
# trainer trains them as one model, each member exactly as it would train alone (its own
# samples, seed, batch order and epochs). One rule per dataset, because the outputs, one
# checkpoint per class at the usual path, depend on the dataset's class count. They are
# named outputs, which Snakemake's between-workflow cache accepts for a multi-output rule:
# the whole fleet is cached and restored as one entry.
for _dataset in DATASETS:
    _classes = list(range(len(CLASS_NAMES[_dataset])))  # class indices, from the dataset sheet

    rule:
        name:
            f"train_class_autoencoders_{_dataset}"
        input:
            train=data_file(_dataset, "train.npz"),
            provenance=data_file(_dataset, "provenance.json"),
        output:
            **{f"class_{label}": class_ae(_dataset, "{loss}", label) for label in _classes},
        params:
            dataset=_dataset,
            labels=_classes,
            training=CONFIG.class_autoencoder.params(),
            ssim=CONFIG.ssim.params(),
            seed=CONFIG.seed,
            cache_key=f"{_dataset}/{{loss}}",  # the between-workflow cache hashes params, never wildcards
        cache: True
        conda:
            "../environment.yml"
        log:
            f"logs/models/ae/class/{_dataset}/{{loss}}.log",
        resources:
            gpu=1,
        priority: CHAIN_PRIORITY  # on the longest chain: see acquire_dataset
        threads: JOB_THREADS
        script:
            "../workflow_scripts/train_class_autoencoders.py"
