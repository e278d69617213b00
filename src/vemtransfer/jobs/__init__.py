"""The workflow's jobs, one function each, grouped like ``workflow/rules/*.smk``.

Each takes the job's :class:`~vemtransfer.config.Config` (for a Snakemake job: the
:func:`~vemtransfer.config.job_view` of its ``config`` param, the only part of the config it
reads) and the paths Snakemake gives it; none composes a path of its own. The CLI calls
the same functions with the full config and :class:`~vemtransfer.core.layout.Layout` paths.
Modules import only what their jobs run, so a job's code digest
(:func:`vemtransfer.core.provenance.code_digest`) changes only with code the job runs.
"""
