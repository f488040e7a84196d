# The ten-class train/test splits of the transfer baseline (§5.1), the same size for every dataset.
import logging

from simex.base.artifacts import write_npz
from simex.data.acquire import classifier_split, load_split
from simex.jobs import start_job
from simex.config import derived_seed

sm = snakemake  # noqa: F821
start_job(sm)
dataset = sm.wildcards.dataset
images, labels = load_split(sm.input.raw)
# the seed of prepare_dataset: a ten-class dataset's classifier split is its balanced split
seed = derived_seed(sm.params.seed, "split", dataset)
splits = classifier_split(images, labels, dataset, sm.params.samples_per_dataset, sm.params.train_test_ratio, seed)
for name, (split_images, split_labels) in splits.items():
    write_npz(sm.output[name], images=split_images, labels=split_labels)
logging.getLogger("simex").info("%s classifier split: %s", dataset, {n: len(l) for n, (_, l) in splits.items()})
