"""measure_task: morphometrics.csv (one row per 3-D object), its summary and a size histogram of a recommend task's prediction."""

from vemtransfer.core.joblog import start_job_log
from vemtransfer.core.layout import zarr_store
from vemtransfer.jobs.measurement import measure_prediction

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
o = sm.output
print(measure_prediction(zarr_store(sm.input.prediction), o.table, o.summary, o.plot))
