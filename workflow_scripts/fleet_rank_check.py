# Ranks each held-out test split against the fleets with `simex rank`'s API; one row per
# (fleet, loss, data): is the data's own autoencoder first, and does express mode agree?
from pathlib import Path

import pandas as pd

from simex.base.artifacts import write_csv
from simex.data.acquire import load_split
from simex.base.datasets import Registry, labels_from_provenance
from simex.jobs import job_device, start_job
from simex.config import Fleets, derived_seed
from simex.fleets.rank import Fleet, RankSettings
from simex.experiments.rank_check import check_rows

sm = snakemake  # noqa: F821
log = start_job(sm)
device = job_device(sm)
datasets, section = sm.params.datasets, Fleets.from_dict(sm.params.settings)
labels = labels_from_provenance(dict(zip(datasets, map(Path, sm.input.provenance))))
registry = Registry.from_provenance(sm.input.provenance)  # a user's datasets: their classes
splits = {code: load_split(path) for code, path in zip(datasets, sm.input.tests)}
rows = []
for folder in map(Path, sm.input.fleets):
    fleet = Fleet.load(folder, device=device)
    settings = RankSettings.from_config(section, derived_seed(sm.params.seed, "fleet-check", folder))
    if fleet.members[0].class_index is None:
        inputs = {labels[c]: (labels[c], images) for c, (images, _) in splits.items()}
    else:
        code = fleet.members[0].dataset
        images, classes = splits[code]
        names = registry.info(code).class_names
        inputs = {f"{labels[code]}:{names[k]}": (f"{labels[code]}:{names[k]}", images[classes == k])
                  for k in sorted(set(classes.tolist()))}
    for row in check_rows(fleet, inputs, settings, int(section.batch_size)):
        log.info("%s/%s %s: %s", row["fleet"], row["loss"], row["data"], row["ranking"])
        rows.append(row)
table = pd.DataFrame(rows)
log.info("own autoencoder first in %d of %d rankings", int(table["own_first"].sum()), len(table))
write_csv(sm.output.table, table, index=False, float_format="%.6g")
