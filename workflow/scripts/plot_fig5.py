"""plot_fig5: 3-D renderings of the Fig. 5 whole-volume predictions."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.figure_jobs import make_fig5

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
cfg = job_view(sm.params.config)
make_fig5(cfg, dict(zip(cfg.raw["figures"]["fig5"]["models"], sm.input.predictions)), sm.input.info, sm.output[0])
