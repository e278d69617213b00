"""pretrain_model: train the RSUNet from random weights on all of a source task's patches."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import train_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
w = snakemake.wildcards  # noqa: F821
train_run(snakemake.config, source=w.task, target=w.task, budget="full", rep=int(w.rep),  # noqa: F821
          out_model=snakemake.output.model, init=None, threads=snakemake.threads)  # noqa: F821
