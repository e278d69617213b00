"""plot_fig3: test-section overlays of the baseline and the transferred model (one scenario)."""

from pathlib import Path

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.figure_jobs import make_fig3

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
cfg = job_view(sm.params.config)
spec = cfg.raw["figures"]["fig3"]
baseline, transfer = sm.input.predictions
titles = {f"Baseline (random init), {spec['budget']}": baseline, f"Transfer from {spec['source']}, {spec['budget']}": transfer}
make_fig3(cfg, titles, Path(sm.input.patches).parent, sm.output[0])
