"""predict_task: the recommended model over a task's whole source volume (chunked Zarr)."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import predict_task_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
i = snakemake.input  # noqa: F821
print(predict_task_run(snakemake.config, snakemake.wildcards.task, i.choice, i.image, snakemake.output[0],  # noqa: F821
                       threads=snakemake.threads))  # noqa: F821
