"""plot_fig2: baseline vs transfer across label fractions, one panel per scenario."""

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.figures import plot_fig2

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
cfg = validate_config(snakemake.config)  # noqa: F821
plot_fig2(snakemake.input, cfg.experiment.scenarios, cfg.experiment.fractions, snakemake.output[0], cfg.demo)  # noqa: F821
