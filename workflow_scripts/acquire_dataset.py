from pathlib import Path

from simex.base.artifacts import write_json, write_npz
from simex.data.acquire import acquire, acquire_user_dataset, acquisition_record
from simex.base.datasets import SheetEntry
from simex.jobs import start_job
from simex.config import Data
from simex.data.acquire import acquisition_plan

sm = snakemake  # noqa: F821
start_job(sm)
entry = SheetEntry(**sm.params.sheet_entry)
if entry.builtin:  # a built-in dataset through its chain of sources (R, B, BR, RBI: never a digit of M's test split)
    mnist = Path(sm.input.mnist) if sm.input.mnist else None
    mnist_test = Path(sm.input.mnist_test) if sm.input.mnist_test else None
    plan = acquisition_plan(Data.from_dict(sm.params.data), sm.params.seed, sm.wildcards.dataset, Path("results/downloads"), mnist,
                            mnist_test)
    raw, attempts = acquire(plan)
    images, labels, record = raw.images, raw.labels, acquisition_record(plan, raw, attempts)
else:  # a user's dataset from its path
    images, labels, record = acquire_user_dataset(entry)
write_npz(sm.output.raw, images=images, labels=labels)
write_json(sm.output.record, record)
