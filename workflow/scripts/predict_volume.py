"""predict_volume: chunked, memory-bounded prediction of the Fig. 5 volume for one organelle."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import predict_volume_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
i = snakemake.input  # noqa: F821
print(predict_volume_run(snakemake.config, i.model, i.image, snakemake.output[0], snakemake.threads))  # noqa: F821
