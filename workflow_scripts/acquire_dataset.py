from pathlib import Path

from simex.artifacts import setup_logging, write_json, write_npz
from simex.data.acquire import acquire, acquire_user_dataset, acquisition_record
from simex.datasets import SheetEntry
from simex.settings import acquisition_plan

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
entry = SheetEntry(**sm.params.sheet_entry)
if entry.paper:
    mnist = Path(sm.input.mnist) if sm.input.mnist else None
    plan = acquisition_plan({"data": sm.params.data, "seed": sm.params.seed}, sm.wildcards.dataset,
                            Path("results/downloads"), mnist)
    raw, attempts = acquire(plan)
    images, labels, record = raw.images, raw.labels, acquisition_record(plan, raw, attempts)
else:
    images, labels, record = acquire_user_dataset(entry)
write_npz(sm.output.raw, images=images, labels=labels)
write_json(sm.output.record, record)
