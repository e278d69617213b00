"""select_rung: who trains on after a rung of the fast protocol, and who is dropped (and why)."""

from vemtransfer.config import job_view
from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.rungs import select_rung

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
rung = int(sm.wildcards.rung)
steps = job_view(sm.params.config).section("recommend")["rungs"][rung - 1]
print(select_rung(sm.input.histories, sm.input.previous[0] if sm.input.previous else None, sm.wildcards.task, rung, steps, sm.output[0]))
