"""import_pretrained: a configured pretrained source model (path or URL + sha256), verified, instead of training it."""

from vemtransfer.config import validate_config
from vemtransfer.joblog import start_job_log
from vemtransfer.pretrained import import_model, model_spec

start_job_log(snakemake.log[0])  # noqa: F821 - injected by Snakemake
cfg = validate_config(snakemake.config)  # noqa: F821
w = snakemake.wildcards  # noqa: F821
print(import_model(model_spec(cfg.raw["pretrained"][w.task], int(w.rep)), snakemake.output.model, w.task, list(cfg.model.widths), cfg.model.planar_levels))  # noqa: F821
