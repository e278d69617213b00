"""prepare_volume: preprocess a whole volume (Fig. 5's, or a recommend task's) into one .npy."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.preparation import prepare_volume_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(prepare_volume_job(job_view(sm.params.config), sm.wildcards.volume, sm.input.get("manifest"), sm.output.image, sm.output.info))
