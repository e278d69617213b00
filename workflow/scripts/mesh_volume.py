"""mesh_volume: marching-cubes mesh (nm) of one Fig. 5 whole-volume prediction."""

from vemtransfer.core.joblog import start_job_log
from vemtransfer.report.figure_jobs import make_mesh

sm = snakemake  # noqa: F821 - injected by Snakemake
start_job_log(sm.log[0])
print(make_mesh(sm.input.prediction, sm.input.info, sm.output[0]))
