"""vemtransfer: transfer learning for volume-EM organelle segmentation (Xie et al. 2025), reproducible.

The package holds all logic (config, data preparation, the RSUNet, training, inference,
metrics, tables and figures) and works without Snakemake; ``workflow/`` only wires it
into a DAG.
"""

__version__ = "0.1.0"
