"""make_table1: per-task data summary (voxel sizes, split shapes, patch counts) beside the paper's."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.table1 import build_table1

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(build_table1(sm.input.patches, job_view(sm.params.config), sm.input.get("paper"), sm.output.csv, sm.output.md).to_string())
