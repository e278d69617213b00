"""predict_task: a recommend task's whole volume predicted by its recommended model, as Zarr."""

from vemtransfer.config import job_view
from vemtransfer.jobs.prediction import predict_task_job
from vemtransfer.joblog import start_job_log

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
i = sm.input
print(predict_task_job(job_view(sm.params.config), sm.wildcards.task, i.choice, list(i.models), sm.params.model_ids, i.image, sm.output[0],
                       threads=sm.threads))
