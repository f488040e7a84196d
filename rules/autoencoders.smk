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
        cache_key="{dataset}/{loss}",  # the between-workflow cache hashes params, never wildcards
    # `--cache` shares trained fleets between workflows and configs (see README); a cached
    # rule may not have a benchmark: the training time is in the model's history instead.
    cache: True
    conda:
        "../environment.yml"
    log:
        "logs/models/ae/dataset/{dataset}/{loss}.log",
    resources:
        gpu=1,
    threads: JOB_THREADS
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
        cache_key="{dataset}/{loss}/{label}",  # the between-workflow cache hashes params, never wildcards
    cache: True
    conda:
        "../environment.yml"
    log:
        "logs/models/ae/class/{dataset}/{loss}/{label}.log",
    resources:
        gpu=1,
    threads: JOB_THREADS
    script:
        "../workflow_scripts/train_autoencoder.py"
