"""recommend_source: which pretraining source helps a task most, and how many labels it needs."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.recommend import build_recommendation

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
cfg = job_view(sm.params.config)
out = sm.output
rec = cfg.section("recommend")
print(build_recommendation(sm.input.histories, sm.wildcards.task, cfg.experiment.fractions, out.md, out.csv, out.curve, out.choice, cfg.demo,
                           rung_paths=sm.input.rungs, final_steps=rec["rungs"][-1] if rec["protocol"] == "fast" else None))
