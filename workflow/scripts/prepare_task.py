"""prepare_task: cut one task's (or fold's) train/val/test volumes and patch index."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import prepare_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
summary = prepare_run(snakemake.config, snakemake.wildcards.data)  # noqa: F821
print({split: s["shape"] for split, s in summary["splits"].items()}, len(summary["origins"]), "training patches")
