"""mitonet_segment: MitoNet (pretrained or fine-tuned) at one downsampling on a task's raw test sections, scored."""

from vemtransfer.baselines.runs import mitonet_run
from vemtransfer.joblog import start_job_log

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(mitonet_run(snakemake.config, snakemake.wildcards.task, snakemake.params.method,  # noqa: F821
                  snakemake.input.model, snakemake.output.json, threads=snakemake.threads))  # noqa: F821
