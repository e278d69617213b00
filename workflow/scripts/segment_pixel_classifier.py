"""segment_pixel_classifier: the random-forest pixel classifier on a task's prepared splits, scored."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.pixel_classifier_baseline import pixel_classifier_job

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(pixel_classifier_job(job_view(sm.params.config), sm.wildcards.task, sm.input.patches, sm.output.json, sm.output.npz, threads=sm.threads))
