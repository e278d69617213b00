"""predict_volume: the Fig. 5 volume predicted by one organelle's model, as Zarr."""

from vemtransfer.config import job_view
from vemtransfer.jobs.prediction import predict_volume_job
from vemtransfer.joblog import start_job_log

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(predict_volume_job(job_view(sm.params.config), sm.input.model, sm.input.image, sm.output[0], sm.threads))
