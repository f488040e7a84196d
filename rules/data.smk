# Acquire every dataset of the sheet (a paper dataset through its chain of sources, a
# user's from its path), then cut balanced splits.


rule acquire_dataset:
    input:
        mnist=regeneration_source,  # rules/common.smk
        mnist_test=regeneration_test_split,  # rules/common.smk: never regenerate a digit of M's test split
        user=user_files,  # rules/common.smk
    output:
        raw=data_file("{dataset}", "raw.npz"),
        record=data_file("{dataset}", "acquired.json"),
    params:
        sheet_entry=lambda w: vars(SHEET[w.dataset]),
        data=CONFIG.data.params(),
        seed=CONFIG.seed,
        cache_key="{dataset}",  # the between-workflow cache hashes params, never wildcards
    # `--cache`: acquired and prepared datasets are shared between workflows (see README)
    cache: True
    conda:
        "../environment.yml"
    log:
        "logs/data/{dataset}/acquire.log",
    # on the longest chain of the default run (data, per-class autoencoders, pairings,
    # augmentation trials): ready jobs with a higher priority start first (CHAIN_PRIORITY)
    priority: CHAIN_PRIORITY
    threads: 1
    script:
        "../workflow_scripts/acquire_dataset.py"


rule prepare_dataset:
    input:
        raw=data_file("{dataset}", "raw.npz"),
        record=data_file("{dataset}", "acquired.json"),
    output:
        train=data_file("{dataset}", "train.npz"),
        test=data_file("{dataset}", "test.npz"),
        provenance=data_file("{dataset}", "provenance.json"),
    params:
        samples_per_dataset=CONFIG.data.samples_per_dataset,
        train_test_ratio=CONFIG.data.train_test_ratio,
        seed=CONFIG.seed,
        cache_key="{dataset}",
    cache: True
    conda:
        "../environment.yml"
    log:
        "logs/data/{dataset}/prepare.log",
    # on the longest chain of the default run (data, per-class autoencoders, pairings,
    # augmentation trials): ready jobs with a higher priority start first (CHAIN_PRIORITY)
    priority: CHAIN_PRIORITY
    threads: 1
    script:
        "../workflow_scripts/prepare_dataset.py"
