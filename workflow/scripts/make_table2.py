"""make_table2: Table 2 (CSV matrix, Markdown, long statistics) from the metric files."""

from vemtransfer.config import validate_config
from vemtransfer.design import table2_budget
from vemtransfer.joblog import start_job_log
from vemtransfer.report.tables import table2_outputs
from vemtransfer.storage import atomic_path, write_text

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
cfg = validate_config(snakemake.config)  # noqa: F821
exp = cfg.experiment
matrix, markdown, long = table2_outputs(snakemake.input, exp.sources, exp.targets, table2_budget(exp), cfg.demo)  # noqa: F821
out = snakemake.output  # noqa: F821
with atomic_path(out.csv) as tmp:
    matrix.to_csv(tmp)
with atomic_path(out.long) as tmp:
    long.to_csv(tmp, index=False)
write_text(out.md, markdown)
print(markdown)
