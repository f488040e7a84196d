# Exports trained autoencoders as a fleet folder (members + manifest) for `simex rank`.
from simex.jobs import start_job
from simex.fleets.folder import export_fleet

sm = snakemake  # noqa: F821
log = start_job(sm)
manifest = export_fleet(list(sm.input.models), sm.output.fleet, sm.wildcards.fleet)
log.info("fleet %s/%s: %s", sm.wildcards.fleet, sm.wildcards.loss, ", ".join(m["label"] for m in manifest["members"]))
