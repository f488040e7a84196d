# Merges the augmentation runs into one table (one row per trial) and summarises the
# accuracy change over no borrowing per method and Y, beside the paper's order.
import pandas as pd

from simex.artifacts import write_csv
from simex.augmentation import benefit_table
from simex.jobs import start_job

sm = snakemake  # noqa: F821
start_job(sm)
runs = pd.concat([pd.read_csv(path, keep_default_na=False) for path in sm.input.runs], ignore_index=True)
write_csv(sm.output.table, runs, index=False, float_format="%.6g")
write_csv(sm.output.benefit, benefit_table(runs), index=False, float_format="%.4f")
