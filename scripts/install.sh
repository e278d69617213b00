#!/usr/bin/env bash
# Create a virtual environment and install vemtransfer (editable, with the test extra), pinned.
#
#   bash scripts/install.sh [--torch-index URL] [--baselines] [VENV]
#
# Without --baselines: VENV defaults to .venv, pinned by constraints.txt (torch 2.13.0; the demo).
# torch comes first, from --torch-index (default PyTorch's CPU wheels,
# https://download.pytorch.org/whl/cpu) beside pip's own index: 2.13.0+cpu satisfies the pin and
# is preferred, so a CPU machine never fetches PyPI's CUDA build (several GB); where that index is
# unreachable pip falls back to its own. A GPU machine: --torch-index .../whl/cu128 (its CUDA).
# With --baselines: VENV defaults to .venv-baselines (the test suite's; the demo's .venv is never
# touched), pinned by constraints-baselines.txt (torch 2.14.1 + torchvision 0.29.1, ~5.5 GB),
# plus the Table 3 baselines: SAM2 built without its optional CUDA extension
# (SAM2_BUILD_CUDA=0, --no-build-isolation) and empanada-napari without its napari/Qt
# dependencies (--no-deps; the `baselines` extra lists what it imports). CI runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
baselines=0
venv=
torch_index=https://download.pytorch.org/whl/cpu
while [ $# -gt 0 ]; do
    arg=$1; shift
    case "$arg" in
        --baselines) baselines=1 ;;
        --torch-index) torch_index=${1:?--torch-index needs a URL}; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
        *) venv="$arg" ;;
    esac
done
if [ -z "$venv" ]; then
    if [ "$baselines" = 1 ]; then venv=.venv-baselines; else venv=.venv; fi
fi
set -x
python3 -m venv "$venv"
if [ "$baselines" = 0 ]; then
    # torch alone from that index (one look-up, no retries: an unreachable index costs seconds);
    # its dependencies then come from pip's own index with the rest
    "$venv/bin/pip" install --quiet --no-deps --retries 0 --timeout 20 --extra-index-url "$torch_index" -c constraints.txt torch
    "$venv/bin/pip" install --quiet -c constraints.txt -e ".[test]"
    exit 0
fi
"$venv/bin/pip" install --quiet -c constraints-baselines.txt setuptools wheel torch torchvision
SAM2_BUILD_CUDA=0 "$venv/bin/pip" install --quiet --no-build-isolation -c constraints-baselines.txt -e ".[test,baselines]"
"$venv/bin/pip" install --quiet --no-deps -c constraints-baselines.txt empanada-napari
