"""vemtransfer: transfer learning for volume-EM organelle segmentation (Xie et al. 2025), reproducible.

The package holds all logic and works without Snakemake; ``workflow/`` only wires it into a
DAG. Its subpackages are layers, each importing only the ones below it (an import-linter
contract in ``pyproject.toml``, checked by the tests)::

    cli          the ``vemtransfer`` command
    jobs         one function per workflow job
    report       tables, figures, the recommendation
    baselines    SAM2.1, MitoNet (Table 3) and the classical baselines
    export       TorchScript and bioimage.io packages of a trained model
    training     training, fine-tuning, evaluation on a test split
    inference    windows, engines, whole-volume prediction, OME-Zarr, morphometrics
    planning     a task's fingerprint and the plan (plan.json) its training follows
    model        the RSUNet, loss, metrics, checkpoints
    data         downloads, datasets, preparation, training patches
    config       the config: schema, validation, recipes, views, the run grid
    core         storage, provenance, paths, seeds, devices, logs
"""

__version__ = "0.1.0"
