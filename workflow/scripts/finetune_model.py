"""finetune_model: fine-tune a pretrained RSUNet (or train from scratch for NoPretrain) on a label budget."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import train_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
w = snakemake.wildcards  # noqa: F821
init = snakemake.input.init[0] if snakemake.input.init else None  # noqa: F821
train_run(snakemake.config, source=w.source, target=w.target, budget=w.budget, rep=int(w.rep),  # noqa: F821
          out_model=snakemake.output.model, init=init, threads=snakemake.threads)  # noqa: F821
