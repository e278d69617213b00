"""plan_task: fingerprint one prepared task (or fold) and write its plan.json."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.planning import plan_task_job
from vemtransfer.planning.plan import describe

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(describe(plan_task_job(job_view(sm.params.config), sm.wildcards.data, sm.input.patches, sm.output.plan)))
