"""plot_fig4: one test section per organelle, baseline vs transfer, with matched zoom-ins."""

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.figure_jobs import make_fig4
from vemtransfer.runs import task_dir

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
cfg = validate_config(snakemake.config)  # noqa: F821
preds = list(snakemake.input.predictions)  # noqa: F821 - (baseline, transfer) per pair, in config order
rows = [
    (p["target"], task_dir(cfg.raw, cfg.tasks[p["target"]].data_id(cfg.raw["figures"]["rep"])), {"Baseline (random init)": preds[2 * i], f"Transfer from {p['source']}": preds[2 * i + 1]})
    for i, p in enumerate(cfg.raw["figures"]["fig4"]["pairs"])
]
make_fig4(cfg, rows, snakemake.output[0])  # noqa: F821
