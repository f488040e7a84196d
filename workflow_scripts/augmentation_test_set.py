# Fig. 7's test set: MNIST's published test split, less the digits any training set of the
# experiment may have seen (M's prepared train split; the digits regenerated R†/B† come from).
from pathlib import Path

import numpy as np

from simex.base.artifacts import read_json, write_npz
from simex.experiments.augmentation import mnist_test_set
from simex.data.acquire import load_raw, load_split, regeneration_sources
from simex.jobs import start_job
from simex.config import Data
from simex.data.acquire import acquisition_plan

sm = snakemake  # noqa: F821
start_job(sm)
raw = load_raw(Path(sm.input.mnist_raw))
published_train_size = int(read_json(sm.input.mnist_provenance)["details"]["published_split_sizes"][0])
seen_rows = [np.empty(0, dtype=np.int64)]
for code, provenance in zip(sm.params.regenerated_from_mnist, sm.input.regenerated_provenance):
    if read_json(provenance)["provenance"] == "regenerated":  # the canonical R/B come from MNIST rows we cannot name
        plan = acquisition_plan(Data.from_dict(sm.params.data), sm.params.seed, code, Path("results/downloads"), None,
                                Path(sm.input.mnist_test))
        seen_rows.append(regeneration_sources(plan, raw)[0])
images, labels = mnist_test_set(raw.images, raw.labels, published_train_size, np.concatenate(seen_rows),
                                load_split(sm.input.mnist_train)[0], sm.params.per_class)
write_npz(sm.output.test, images=images, labels=labels)
