"""make_table3: paper Table 3 (baselines vs our best transfer model, with the paper's values)."""

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.table3 import build_table3

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(build_table3(snakemake.input.metrics, snakemake.input.get("long"), validate_config(snakemake.config), snakemake.output))  # noqa: F821
