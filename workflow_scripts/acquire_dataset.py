from pathlib import Path

from simex.artifacts import setup_logging, write_json, write_npz
from simex.data.acquire import acquire, acquisition_record
from simex.settings import acquisition_plan

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
mnist = Path(sm.input.mnist) if sm.input.mnist else None
mnist_test = Path(sm.input.mnist_test) if sm.input.mnist_test else None
plan = acquisition_plan({"data": sm.params.data, "seed": sm.params.seed}, sm.wildcards.dataset,
                        Path("results/downloads"), mnist, mnist_test)
raw, attempts = acquire(plan)
write_npz(sm.output.raw, images=raw.images, labels=raw.labels)
write_json(sm.output.record, acquisition_record(plan, raw, attempts))
