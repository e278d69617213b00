"""download_weights: a baseline's (SAM2.1 or MitoNet) pretrained weights, verified."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.baseline_data import weights_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(weights_job(job_view(sm.params.config), sm.params.model, sm.output[0]))
