"""mitonet_finetune: fine-tune MitoNet on one patch set of a task's raw training sections."""

from vemtransfer.baselines.runs import mitonet_finetune_run
from vemtransfer.joblog import start_job_log

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(mitonet_finetune_run(snakemake.config, snakemake.wildcards.task, snakemake.wildcards.set,  # noqa: F821
                           snakemake.input.weights, snakemake.output.model, threads=snakemake.threads))  # noqa: F821
