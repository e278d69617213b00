"""mesh_volume / mesh_task: marching-cubes mesh (nm, PLY) of a whole-volume prediction."""

from vemtransfer.joblog import start_job_log
from vemtransfer.report.figure_jobs import make_mesh

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
i = snakemake.input  # noqa: F821
print(make_mesh(i.prediction, i.info, snakemake.output[0]))  # noqa: F821
