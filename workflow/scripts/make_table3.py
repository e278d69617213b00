"""make_table3: the baselines of Table 3 beside our best model and the paper's numbers."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.table3 import build_table3

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(build_table3(sm.input.metrics, sm.input.get("long"), job_view(sm.params.config), sm.input.get("paper"), sm.output))
