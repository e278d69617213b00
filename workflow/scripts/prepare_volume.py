"""prepare_volume: preprocess a whole volume (Fig. 5's, or a task's source) into one uint8 .npy."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import prepare_volume_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(prepare_volume_run(snakemake.config, snakemake.wildcards.volume, snakemake.output.image, snakemake.output.info))  # noqa: F821
