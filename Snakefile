# vemtransfer: the paper's experiment (Xie et al. 2025) as one Snakemake DAG.
#   snakemake --cores 8 --resources gpu=1                         # the paper (config/config.yaml)
#   snakemake --cores 2 --configfile config/demo.yaml             # the offline CPU demo
#   snakemake results/tables/table2.csv --cores 8 --resources gpu=1   # one target (targets first)
#   snakemake results/tables/table3.csv --cores 8 --resources gpu=1   # Table 3 (needs the baselines extra)
from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces the paper config instead of being deep-merged into it (Snakemake
# merges by default, which would mix the demo's tasks into the paper's).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/rungs.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/results.smk"
include: "workflow/rules/baselines.smk"


rule all:
    default_target: True
    input:
        TABLES + FIGURES,


rule tables:
    input:
        TABLES,


rule figures:
    input:
        FIGURES,
