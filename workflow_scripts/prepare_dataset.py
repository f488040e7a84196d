from simex.base.artifacts import read_json, write_json, write_npz
from simex.data.acquire import balanced_split, load_split
from simex.base.datasets import BUILTIN
from simex.jobs import start_job
from simex.config import derived_seed

sm = snakemake  # noqa: F821
log = start_job(sm)
dataset = sm.wildcards.dataset
images, labels = load_split(sm.input.raw)
record = read_json(sm.input.record)
registry = BUILTIN.with_record(record)  # a user's dataset: its classes
seed = derived_seed(sm.params.seed, "split", dataset)
splits = balanced_split(images, labels, dataset, sm.params.samples_per_dataset, sm.params.train_test_ratio, seed,
                        registry)
for name, (split_images, split_labels) in splits.items():
    write_npz(sm.output[name], images=split_images, labels=split_labels)
record["splits"] = {name: len(split_labels) for name, (_, split_labels) in splits.items()}
record["split_seed"] = seed
record["train_test_ratio"] = sm.params.train_test_ratio
write_json(sm.output.provenance, record)
log.info("%s (%s): %s", record["label"], record["source"], record["splits"])
