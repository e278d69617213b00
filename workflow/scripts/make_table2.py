"""make_table2: Table 2 and everything read from it (paper vs ours, source gains, heatmap)."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.build import build_table2

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(build_table2(sm.input.metrics, job_view(sm.params.config), sm.input.get("paper"), sm.output))
