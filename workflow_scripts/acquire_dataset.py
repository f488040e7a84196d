from pathlib import Path

from simex.artifacts import write_json, write_npz
from simex.data.acquire import acquire, acquisition_record
from simex.jobs import start_job
from simex.settings import acquisition_plan

sm = snakemake  # noqa: F821
start_job(sm)
mnist = Path(sm.input.mnist) if sm.input.mnist else None
plan = acquisition_plan(sm.params.data, sm.params.seed, sm.wildcards.dataset,
                        Path("results/downloads"), mnist)
raw, attempts = acquire(plan)
write_npz(sm.output.raw, images=raw.images, labels=raw.labels)
write_json(sm.output.record, acquisition_record(plan, raw, attempts))
