"""make_table2: Table 2 and everything read from it (paper vs ours, source gains, heatmap)."""

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.build import build_table2

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(build_table2(snakemake.input, validate_config(snakemake.config), snakemake.output))  # noqa: F821
