"""make_table1: prepared data and patch counts per task, ours beside the paper's."""

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.table1 import build_table1

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
out = snakemake.output  # noqa: F821
print(build_table1(snakemake.input, validate_config(snakemake.config), out.csv, out.md).to_string())  # noqa: F821
