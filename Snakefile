# SimEx: the paper's experiments as a Snakemake workflow. Logic lives in the simex
# package; rules/ wires artifacts together and workflow_scripts/ is thin glue.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


# `snakemake --report results/report.html`: every figure and table, grouped by paper section
report: "report/workflow.rst"


# A key renamed since (simex.config.RENAMED_KEYS) fails naming its new name; then
# set_default: the schema is the one place for defaults (see its header)
from simex.config import ConfigError, check_renamed_keys

try:
    check_renamed_keys(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
validate(config, "config/schema.yaml", set_default=True)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/autoencoders.smk"
include: "rules/similarity.smk"
include: "rules/transfer.smk"
include: "rules/augmentation.smk"
include: "rules/interclass.smk"
include: "rules/fleets.smk"
include: "rules/latency.smk"
include: "rules/figures.smk"
include: "rules/report.smk"
include: "rules/protocol_sweep.smk"
include: "rules/difficulty.smk"
include: "rules/benchmark.smk"
include: "rules/benchmark_v2.smk"


rule all:
    input:
        all_targets(),
    default_target: True
