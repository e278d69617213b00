#!/usr/bin/env bash
# Run by Snakemake after creating envs/mitonet.yaml: empanada's engine from empanada-napari
# without its napari/Qt dependencies, cztile (not on conda-forge), then this checkout's package.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$CONDA_PREFIX/bin/python" -m pip install --no-deps "empanada-napari==1.2.4" "cztile>=2.0"
"$CONDA_PREFIX/bin/python" -m pip install --no-deps --no-build-isolation -e "$repo"
