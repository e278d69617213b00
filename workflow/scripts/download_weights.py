"""download_weights: one baseline's pretrained weights (SAM2.1 or MitoNet), verified and atomic."""

from vemtransfer.baselines.runs import weights_run
from vemtransfer.joblog import start_job_log

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(weights_run(snakemake.config, snakemake.params.model, snakemake.output[0]))  # noqa: F821
