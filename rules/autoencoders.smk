# One autoencoder per dataset and loss (§5.1), each a GPU-scheduled job.


rule train_dataset_autoencoder:
    input:
        train=data_file("{dataset}", "train.npz"),
        provenance=data_file("{dataset}", "provenance.json"),
    output:
        model=dataset_ae("{dataset}", "{loss}"),
    params:
        training=config["autoencoder"],
        ssim=config["ssim"],
        seed=config["seed"],
    conda:
        "../environment.yml"
    log:
        "logs/models/ae/dataset/{dataset}/{loss}.log",
    benchmark:
        "benchmarks/models/ae/dataset/{dataset}/{loss}.tsv"
    resources:
        gpu=1,
    threads: config.get("threads_per_job", 1)
    script:
        "../workflow_scripts/train_autoencoder.py"


# One autoencoder per class of a dataset and loss (§5.3, §5.4), each a GPU-scheduled job.
# {label} is the class index (0..n_classes-1).
rule train_class_autoencoder:
    input:
        train=data_file("{dataset}", "train.npz"),
        provenance=data_file("{dataset}", "provenance.json"),
    output:
        model=class_ae("{dataset}", "{loss}", "{label}"),
    params:
        training=config["class_autoencoder"],
        ssim=config["ssim"],
        seed=config["seed"],
    conda:
        "../environment.yml"
    log:
        "logs/models/ae/class/{dataset}/{loss}/{label}.log",
    benchmark:
        "benchmarks/models/ae/class/{dataset}/{loss}/{label}.tsv"
    resources:
        gpu=1,
    threads: config.get("threads_per_job", 1)
    script:
        "../workflow_scripts/train_autoencoder.py"
