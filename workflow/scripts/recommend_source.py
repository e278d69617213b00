"""recommend_source: rank pretraining sources for one task by validation IoU; learning curves; the chosen model."""

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.recommend import build_recommendation

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
cfg = validate_config(snakemake.config)  # noqa: F821
out = snakemake.output  # noqa: F821
print(build_recommendation(snakemake.input, snakemake.wildcards.task, cfg.experiment.fractions, out.md, out.csv, out.curve,  # noqa: F821
                           out.choice, cfg.demo))
