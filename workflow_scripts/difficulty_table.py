# The difficulty table beside the published figures (results/difficulty/difficulty.{csv,md}; rule publish_difficulty copies it to docs/datasets/).
from simex.base.artifacts import read_json, write_csv, write_text
from simex.experiments.difficulty import difficulty_markdown, difficulty_table
from simex.jobs import start_job

sm = snakemake  # noqa: F821
log = start_job(sm)
records = {code: read_json(path) for code, path in zip(sm.params.datasets, sm.input.errors)}
table = difficulty_table(records)
write_csv(sm.output.table, table)
markdown = difficulty_markdown(table)
write_text(sm.output.markdown, markdown)
log.info("\n%s", markdown)
