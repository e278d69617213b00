"""download_dataset: fetch and verify the sections the tasks need of one dataset."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.jobs.download import download_dataset

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
records = download_dataset(job_view(sm.params.config), sm.wildcards.dataset, sm.params.needed, sm.output[0], sm.input.get("sha256sums"))
print(f"{len(records)} files/archives recorded in {sm.output[0]}")
