"""finetune_mitonet: fine-tune MitoNet on one patch set of a task's raw training sections."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.mitonet_baseline import mitonet_finetune_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(mitonet_finetune_job(job_view(sm.params.config), sm.wildcards.task, sm.wildcards.set, sm.input.train[0], sm.input.weights,
                           sm.output.model, sm.output.summary, threads=sm.threads))
