"""plot_fig3: baseline vs transfer in 3D, objects with < 50 % overlap with the ground truth in red."""

from pathlib import Path

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.figure_jobs import make_fig3

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
cfg = validate_config(snakemake.config)  # noqa: F821
spec = cfg.raw["figures"]["fig3"]
baseline, transfer = snakemake.input.predictions  # noqa: F821
titles = {f"Baseline (random init), {spec['budget']}": baseline, f"Transfer from {spec['source']}, {spec['budget']}": transfer}
make_fig3(cfg, titles, Path(snakemake.input.patches).parent, snakemake.output[0])  # noqa: F821
