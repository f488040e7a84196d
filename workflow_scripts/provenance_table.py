# One row per dataset: which source delivered it and whether it is original, regenerated or a stand-in.
from simex.base.artifacts import write_csv
from simex.jobs import start_job
from simex.analysis.report import provenance_table

sm = snakemake  # noqa: F821
log = start_job(sm)
table = provenance_table(dict(zip(sm.params.datasets, sm.input.provenance)))
write_csv(sm.output.table, table, index=False)
log.info("provenance:\n%s", table[["dataset", "provenance", "source"]].to_string(index=False))
