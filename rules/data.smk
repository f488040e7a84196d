# Acquire every dataset through its chain of sources, then cut balanced splits.


rule acquire_dataset:
    input:
        # mnist-rot and mnist-back-image are regenerated from MNIST when not downloadable,
        # never from a digit of M's test split
        mnist=lambda w: data_file("M", "raw.npz") if w.dataset in ("R", "B") else [],
        mnist_test=lambda w: data_file("M", "test.npz") if w.dataset in ("R", "B") else [],
    output:
        raw=data_file("{dataset}", "raw.npz"),
        record=data_file("{dataset}", "acquired.json"),
    params:
        data=config["data"],
        seed=config["seed"],
        cache_key="{dataset}",  # the between-workflow cache hashes params, never wildcards
    # `--cache`: acquired and prepared datasets are shared between workflows (see README)
    cache: True
    conda:
        "../environment.yml"
    log:
        "logs/data/{dataset}/acquire.log",
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
        samples_per_dataset=config["data"]["samples_per_dataset"],
        train_test_ratio=config["data"]["train_test_ratio"],
        seed=config["seed"],
        cache_key="{dataset}",
    cache: True
    conda:
        "../environment.yml"
    log:
        "logs/data/{dataset}/prepare.log",
    threads: 1
    script:
        "../workflow_scripts/prepare_dataset.py"
