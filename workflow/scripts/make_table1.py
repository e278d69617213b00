"""make_table1: prepared data and patch counts per task, ours beside the paper's."""

from pathlib import Path

import yaml

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.report.table1 import table1
from vemtransfer.report.tables import DEMO_BANNER
from vemtransfer.storage import atomic_path, write_text

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
cfg = validate_config(snakemake.config)  # noqa: F821
paper_file = cfg.raw["paper_results"]
paper = yaml.safe_load(Path(paper_file).read_text())["table1"] if paper_file else None
table = table1(snakemake.input, cfg.raw, paper)  # noqa: F821
with atomic_path(snakemake.output.csv) as tmp:  # noqa: F821
    table.to_csv(tmp, index=False)
write_text(snakemake.output.md, (DEMO_BANNER if cfg.demo else "") + table.to_markdown(index=False) + "\n")  # noqa: F821
print(table.to_string())
