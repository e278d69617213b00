"""plot_fig4: a zoomed test section per (source, target) pair, baseline vs transfer."""

from pathlib import Path

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.figure_jobs import make_fig4

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
cfg = job_view(sm.params.config)
preds = list(sm.input.predictions)  # (baseline, transfer) per pair, in config order
rows = [(p["target"], Path(test).parent, {"Baseline (random init)": preds[2 * i], f"Transfer from {p['source']}": preds[2 * i + 1]})
        for i, (p, test) in enumerate(zip(cfg.raw["figures"]["fig4"]["pairs"], sm.input.tests))]
make_fig4(cfg, rows, sm.output[0])
