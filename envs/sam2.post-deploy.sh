#!/usr/bin/env bash
# Run by Snakemake after creating envs/sam2.yaml: SAM2 without its optional CUDA extension
# (it only speeds up hole filling), then this checkout's package.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAM2_BUILD_CUDA=0 "$CONDA_PREFIX/bin/python" -m pip install --no-build-isolation "sam2==1.1.0"
"$CONDA_PREFIX/bin/python" -m pip install --no-deps --no-build-isolation -e "$repo"
