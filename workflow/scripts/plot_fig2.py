"""plot_fig2: learning curves, baseline vs transfer, at every label fraction of each scenario."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.figures import plot_fig2

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
cfg = job_view(sm.params.config)
plot_fig2(sm.input, cfg.experiment.scenarios, cfg.experiment.fractions, sm.output[0], cfg.demo)
