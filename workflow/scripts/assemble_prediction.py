"""assemble_prediction: the OME-Zarr of a whole volume from its block jobs' partial sums."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.core.layout import zarr_store
from vemtransfer.jobs.prediction import assemble_job, prediction_model

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
i = sm.input
model = prediction_model(sm.params.prediction, i)
print(assemble_job(job_view(sm.params.config), list(i.blocks), i.image, i.info, zarr_store(sm.output[0]), model))
