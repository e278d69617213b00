"""evaluate_model: score one trained model on its target's whole test volume."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.evaluation import evaluate_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
evaluate_job(job_view(sm.params.config), sm.wildcards.model_id, sm.params.target, sm.input.model, sm.input.test[0], sm.output[0],
             threads=sm.threads)
