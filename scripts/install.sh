#!/usr/bin/env bash
# Create a virtual environment and install vemtransfer (editable, with the test extra), pinned.
#
#   bash scripts/install.sh [--baselines] [VENV]
#
# Without --baselines: VENV defaults to .venv, pinned by constraints.txt (torch 2.13.0; the demo).
# pip takes torch from its index: PyPI serves the CUDA build on Linux (several GB); for the
# CPU-only build, set PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu first.
# With --baselines: VENV defaults to .venv-baselines (the test suite's; the demo's .venv is never
# touched), pinned by constraints-baselines.txt (torch 2.14.1 + torchvision 0.29.1, ~5.5 GB),
# plus the Table 3 baselines: SAM2 built without its optional CUDA extension
# (SAM2_BUILD_CUDA=0, --no-build-isolation) and empanada-napari without its napari/Qt
# dependencies (--no-deps; the `baselines` extra lists what it imports). CI runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
baselines=0
venv=
for arg in "$@"; do
    case "$arg" in
        --baselines) baselines=1 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
    "$venv/bin/pip" install --quiet -c constraints.txt -e ".[test]"
    exit 0
fi
"$venv/bin/pip" install --quiet -c constraints-baselines.txt setuptools wheel torch torchvision
SAM2_BUILD_CUDA=0 "$venv/bin/pip" install --quiet --no-build-isolation -c constraints-baselines.txt -e ".[test,baselines]"
"$venv/bin/pip" install --quiet --no-deps -c constraints-baselines.txt empanada-napari
