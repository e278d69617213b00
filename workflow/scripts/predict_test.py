"""predict_test: chunked prediction (probability + mask Zarr) of one model on its target's test volume."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import predict_test_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(predict_test_run(snakemake.config, snakemake.params.target, snakemake.input.model, snakemake.output[0], snakemake.threads))  # noqa: F821
