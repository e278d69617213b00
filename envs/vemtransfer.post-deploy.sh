#!/usr/bin/env bash
# Run by Snakemake after creating envs/vemtransfer.yaml: install this checkout's package
# (without touching the conda-managed dependencies), so rule scripts can import vemtransfer.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$CONDA_PREFIX/bin/python" -m pip install --no-deps --no-build-isolation -e "$repo"
