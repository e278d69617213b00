"""predict_blocks: one block job's share of a whole-volume prediction (partial sums, temporary)."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.prediction import predict_blocks_job, prediction_model

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
model = prediction_model(sm.params.prediction, sm.input)
print(predict_blocks_job(job_view(sm.params.config), model, sm.input.image, int(sm.wildcards.job), sm.output[0], sm.threads))
