"""plot_fig5: renders of the whole-volume prediction (perspective, top, side)."""

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.figure_jobs import make_fig5

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
cfg = validate_config(snakemake.config)  # noqa: F821
names = list(cfg.raw["figures"]["fig5"]["models"])
make_fig5(cfg, dict(zip(names, snakemake.input.predictions)), snakemake.input.info, snakemake.output[0])  # noqa: F821
