# One row per dataset: which source delivered it and whether it is original, regenerated or a stand-in.
import logging

from simex.artifacts import setup_logging, write_csv
from simex.report import provenance_table

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
table = provenance_table(dict(zip(sm.params.datasets, sm.input.provenance)))
write_csv(sm.output.table, table, index=False)
logging.getLogger("simex").info("provenance:\n%s", table[["dataset", "provenance", "source"]].to_string(index=False))
