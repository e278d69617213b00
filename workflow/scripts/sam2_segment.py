"""sam2_segment: SAM2.1 automatic masks or box(+mask) prompts on a task's raw test sections, scored."""

from vemtransfer.baselines.runs import sam2_run
from vemtransfer.joblog import start_job_log

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
print(sam2_run(snakemake.config, snakemake.wildcards.task, f"sam2_{snakemake.wildcards.mode}",  # noqa: F821
               snakemake.input.weights, snakemake.output.json, threads=snakemake.threads))  # noqa: F821
