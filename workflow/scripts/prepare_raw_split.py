"""prepare_raw_split: a task's train or test region at the raw resolution (the baselines' input)."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.baseline_data import raw_split_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(raw_split_job(job_view(sm.params.config), sm.wildcards.task, sm.wildcards.split, sm.input.get("manifest"), sm.output[0]))
