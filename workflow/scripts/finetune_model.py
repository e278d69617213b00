"""finetune_model: fine-tune a pretrained RSUNet (or train from scratch for NoPretrain) on a label budget."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.training import train_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
w = sm.wildcards
train_job(job_view(sm.params.config), source=w.source, target=w.target, budget=w.budget, rep=int(w.rep),
          patch_index=sm.input.patches, out_model=sm.output.model, init=sm.input.init[0] if sm.input.init else None, threads=sm.threads,
          plan=sm.input.plan)
