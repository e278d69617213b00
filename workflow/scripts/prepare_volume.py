"""prepare_volume: the Fig. 5 whole volume, preprocessed section by section into one memory-mappable .npy."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import prepare_volume_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(prepare_volume_run(snakemake.config, snakemake.output.image, snakemake.output.info))  # noqa: F821
