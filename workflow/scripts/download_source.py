"""download_source: fetch and verify one real data source (see vemtransfer.sources)."""

from vemtransfer.joblog import start_job_log
from vemtransfer.sources import load_source

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
name = snakemake.wildcards.source  # noqa: F821
load_source(name, snakemake.config["sources"][name])  # noqa: F821 - raises until downloads exist
