# Target lists and input functions shared by the rules.

DATASETS = list(config["datasets"])
LOSSES = list(config["losses"])


wildcard_constraints:
    dataset="|".join(DATASETS),
    loss="|".join(LOSSES),


def data_file(dataset, name):
    return f"results/data/{dataset}/{name}"


def dataset_ae(dataset, loss):
    return f"results/models/ae/dataset/{dataset}/{loss}.pt"


def all_targets():
    return [
        *expand("results/tables/delta_dataset_{loss}.csv", loss=LOSSES),
        "results/figures/fig4_inter_dataset.png",
    ]
