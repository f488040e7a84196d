# Exports trained autoencoders as a fleet folder (members + manifest) for `simex rank`: a dataset
# fleet's replicas of each dataset (rules/fleets.smk) become that label's members.
from collections import Counter

from simex.jobs import start_job
from simex.fleets.folder import export_fleet

sm = snakemake  # noqa: F821
log = start_job(sm)
manifest = export_fleet(list(sm.input.models), sm.output.fleet, sm.wildcards.fleet)
replicas = Counter(m["label"] for m in manifest["members"])
log.info("fleet %s/%s: %s", sm.wildcards.fleet, sm.wildcards.loss,
         ", ".join(f"{label} ×{count}" for label, count in replicas.items()))
