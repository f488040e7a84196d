# §5.3: Δ(X|Y) (MSE, Fig. 4a) divided by the dataset-wide mean L2 norm of Y's samples.
from pathlib import Path

import numpy as np

from simex.base.artifacts import write_csv, write_text
from simex.data.acquire import load_split
from simex.base.datasets import labels_from_provenance
from simex.jobs import start_job
from simex.inference.similarity import mean_l2_norm, read_matrix
from simex.experiments.transfer import matrix_markdown, normalized_delta, paper_order_note

sm = snakemake  # noqa: F821
log = start_job(sm)
datasets = sm.params.datasets
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
norms = {labels[code]: mean_l2_norm(np.concatenate([load_split(train)[0], load_split(test)[0]]))
         for code, train, test in zip(datasets, sm.input.train, sm.input.test)}
normalised = normalized_delta(read_matrix(sm.input.delta), norms)
write_csv(sm.output.table, normalised, float_format="%.6g")
note = paper_order_note(normalised, list(normalised.index))
write_text(sm.output.markdown, matrix_markdown(normalised, "Δ(X|Y) (MSE) / mean L2 norm of Y's samples", "{:.3g}") + (f"\n{note}\n" if note else ""))
log.info("mean L2 norms: %s\n%s\n%s", norms, normalised.to_string(), note)
