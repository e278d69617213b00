"""predict_test: a model's prediction of its target's test volume, as OME-Zarr (Figs. 3-4)."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.core.layout import zarr_store
from vemtransfer.jobs.prediction import predict_test_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
test_image, _, patch_index = sm.input.test
print(predict_test_job(job_view(sm.params.config), sm.input.model, test_image, patch_index, zarr_store(sm.output[0]), sm.threads))
