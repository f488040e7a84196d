# Fig. 7 from the augmentation table alone.
from pathlib import Path

import pandas as pd

from simex.base.artifacts import save_figure
from simex.base.datasets import labels_from_provenance
from simex.jobs import start_job
from simex.analysis.plots import augmentation_figure

sm = snakemake  # noqa: F821
start_job(sm)
labels = labels_from_provenance(dict(zip(sm.params.references, map(Path, sm.input.provenance))))
runs = pd.read_csv(sm.input.table, keep_default_na=False)
save_figure(sm.output.figure, augmentation_figure(runs, [labels[code] for code in sm.params.references]))
