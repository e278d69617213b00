"""prepare_task: cut one task's (or fold's) train/val/test volumes and patch index."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.preparation import prepare_task_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
summary = prepare_task_job(job_view(sm.params.config), sm.wildcards.data, sm.input.get("manifest"), sm.output.patches)
print({split: s["shape"] for split, s in summary["splits"].items()}, len(summary["origins"]), "training patches")
