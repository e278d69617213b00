"""finetune_model: fine-tune a pretrained RSUNet (or train from scratch for NoPretrain) on a label budget;
in the fast recommendation protocol, the last rung of such a fine-tune (or its pruned marker)."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.rungs import rung_job
from vemtransfer.jobs.training import train_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
w, inp = sm.wildcards, sm.input
cfg = job_view(sm.params.config)
common = dict(source=w.source, target=w.target, budget=w.budget, rep=int(w.rep), patch_index=inp.patches, out_model=sm.output.model,
              init=inp.init[0] if inp.init else None, threads=sm.threads, plan=inp.plan)
if "survivors" in inp.keys():
    rungs = cfg.section("recommend")["rungs"]
    rung_job(cfg, **common, rung=len(rungs), rungs=rungs, survivors=inp.survivors, previous=inp.previous)
else:
    train_job(cfg, **common)
