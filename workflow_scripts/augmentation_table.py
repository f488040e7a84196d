# Merges the augmentation runs into one table (one row per trial) and summarises the
# accuracy change over no borrowing per method and Y, beside the paper's order.
import pandas as pd

from simex.base.artifacts import write_csv, write_text
from simex.experiments.augmentation import benefit_markdown, benefit_table
from simex.jobs import start_job

sm = snakemake  # noqa: F821
start_job(sm)
runs = pd.concat([pd.read_csv(path, keep_default_na=False) for path in sm.input.runs], ignore_index=True)
write_csv(sm.output.table, runs, index=False, float_format="%.6g")
benefit = benefit_table(runs)
write_csv(sm.output.benefit, benefit, index=False, float_format="%.4f")
write_text(sm.output.markdown, benefit_markdown(benefit))
