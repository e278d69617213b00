"""What every layer needs and nothing in it knows about EM: atomic storage, provenance (commit,
config hash, code digests), the workflow's file layout, seeds, the compute device and job logs.
Imports nothing else of the package."""
