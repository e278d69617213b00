"""prepare_raw_split: a task's train or test region at the raw resolution (the baselines' input)."""

from vemtransfer.baselines.runs import raw_split_run
from vemtransfer.joblog import start_job_log

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(raw_split_run(snakemake.config, snakemake.wildcards.task, snakemake.wildcards.split))  # noqa: F821
