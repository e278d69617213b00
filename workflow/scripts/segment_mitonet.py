"""segment_mitonet: MitoNet, zero-shot or fine-tuned, at one downsampling on a task's raw test sections, scored."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.mitonet_baseline import mitonet_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(mitonet_job(job_view(sm.params.config), sm.wildcards.task, sm.wildcards.method, sm.input.test[0], sm.input.model,
                  sm.output.json, sm.output.npz, threads=sm.threads))
