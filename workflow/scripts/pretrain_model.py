"""pretrain_model: train an RSUNet from random weights on all of a source task's training data."""

from vemtransfer.config import job_view
from vemtransfer.config.grid import PRETRAIN_BUDGET
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.training import train_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
w = sm.wildcards
train_job(job_view(sm.params.config), source=w.task, target=w.task, budget=PRETRAIN_BUDGET, rep=int(w.rep),
          patch_index=sm.input.patches, out_model=sm.output.model, init=None, threads=sm.threads,
          plan=sm.input.plan)
