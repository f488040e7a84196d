# The augmentation runs of one reference dataset Y (every method, grid point and trial), or
# the no-borrowing reference runs when the rule has no {reference}.
from pathlib import Path

import pandas as pd

from simex.base.artifacts import write_csv
from simex.experiments.augmentation import check_grid, run_borrowing, run_reference
from simex.config import Augmentation
from simex.data.acquire import load_split
from simex.base.datasets import dataset_info, labels_from_provenance
from simex.jobs import job_device, start_job

sm = snakemake  # noqa: F821
start_job(sm)
device = job_device(sm)
settings = Augmentation.from_dict(sm.params.settings)
grid, classifier = settings.grid, settings.classifier
mnist_train = load_split(sm.input.mnist_train)
mnist_test = load_split(sm.input.mnist_test)
if "reference" in sm.wildcards.keys():
    reference = sm.wildcards.reference
    reference_train = load_split(sm.input.reference)
    check_grid(grid, {"M": int(pd.Series(mnist_train[1]).value_counts().min()),
                      reference: int(pd.Series(reference_train[1]).value_counts().min())})
    label = labels_from_provenance({reference: Path(sm.input.provenance)})[reference]
    pairings = pd.read_csv(sm.input.pairings)
    pairings = pairings[pairings["dataset"] == reference]
    by_method = {method: dict(zip(part["i"], part["k"])) for method, part in pairings.groupby("method", sort=False)}
    runs = run_borrowing(mnist_train, mnist_test, reference_train, dataset_info(reference).n_classes, reference, label,
                         by_method, grid, classifier, sm.params.seed, device)
else:
    runs = run_reference(mnist_train, mnist_test, grid, classifier, sm.params.seed, device)
write_csv(sm.output.runs, runs, index=False, float_format="%.6g")
