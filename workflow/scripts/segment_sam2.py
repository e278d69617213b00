"""segment_sam2: SAM2.1 (automatic masks, boxes, boxes + masks) on a task's raw test sections, scored."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.sam2_baseline import sam2_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(sam2_job(job_view(sm.params.config), sm.wildcards.task, f"sam2_{sm.wildcards.mode}", sm.input.test[0], sm.input.weights,
               sm.output.json, sm.output.npz, threads=sm.threads))
