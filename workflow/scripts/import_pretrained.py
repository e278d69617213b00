"""import_pretrained: a published pretrained model (URL or file, checksummed) as a source task's model."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.published import import_pretrained_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(import_pretrained_job(job_view(sm.params.config), sm.wildcards.task, int(sm.wildcards.rep), sm.output.model))
