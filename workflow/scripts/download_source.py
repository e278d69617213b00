"""download_source: fetch and verify the sections of one public source that the tasks need."""

from vemtransfer.joblog import start_job_log
from vemtransfer.runs import download_run

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sums = snakemake.input.get("sha256sums")  # noqa: F821 - the checksum list as the rule found it
records = download_run(snakemake.config, snakemake.wildcards.dataset, snakemake.output[0], sums)  # noqa: F821
print(f"{len(records)} files/archives recorded in {snakemake.output[0]}")  # noqa: F821
