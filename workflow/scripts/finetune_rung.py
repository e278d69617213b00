"""finetune_rung: one rung (before the last) of a fast-protocol fine-tune, or its pruned marker."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.rungs import rung_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
w, inp = sm.wildcards, sm.input
cfg = job_view(sm.params.config)
rung_job(cfg, source=w.source, target=w.target, budget=w.budget, rep=int(w.rep), patch_index=inp.patches, out_model=sm.output.model,
         init=inp.init[0] if inp.init else None, rung=int(w.rung), rungs=cfg.section("recommend")["rungs"],
         survivors=inp.survivors if "survivors" in inp.keys() else None,
         previous=inp.previous if "previous" in inp.keys() else None, threads=sm.threads, plan=inp.plan)
