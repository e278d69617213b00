"""evaluate_model: score one trained model on its target's whole test volume."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import evaluate_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
evaluate_run(snakemake.config, snakemake.wildcards.model_id, snakemake.params.target,  # noqa: F821
             snakemake.input.model, snakemake.output[0], threads=snakemake.threads)  # noqa: F821
