"""Shared fixtures: a tiny synthetic experiment config that trains in seconds on CPU."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def tiny_config(root: Path) -> dict:
    """The demo's design shrunk to 2 tasks, 1 scenario, 2 fractions, a few steps per job."""
    return {
        "demo": True,
        "results_dir": str(root / "results"),
        "resources_dir": str(root / "resources"),
        "logs_dir": str(root / "logs"),
        "seed": 7,
        "datasets": {
            "synthetic_kidney": {"kind": "generated", "tissue": "kidney", "shape": [12, 64, 64], "seed": 1},
            "synthetic_liver": {"kind": "generated", "tissue": "liver", "shape": [12, 64, 64], "seed": 2},
        },
        "tasks": {
            "SynthKidney-M": {"dataset": "synthetic_kidney", "label": "mito", "train": {"z": [0, 8]}, "test": {"z": [8, 12]}},
            "SynthLiver-M": {"dataset": "synthetic_liver", "label": "mito", "train": {"z": [0, 8]}, "test": {"z": [8, 12]},
                             "validation": {"axis": "y", "fraction": 0.25}},
        },
        "patches": {"size": [4, 32, 32], "stride": [2, 16, 16]},
        "model": {"widths": [2, 4, 4, 8], "bn_momentum": 0.1},
        "train": {"batch_size": 2, "pretrain": {"epochs": 1, "max_steps": 4}, "finetune": {"epochs": 1, "max_steps": 2},
                  "val_every": 2, "checkpoint_every": 2, "log_every": 1, "num_workers": 0},
        "evaluation": {"batch_size": 4},
        "experiment": {
            "repeats": 1, "sources": ["SynthKidney-M"], "targets": ["SynthKidney-M", "SynthLiver-M"],
            "finetune_patches": 3, "fractions": [1.0, 0.5],
            "scenarios": [{"title": "tiny", "source": "SynthKidney-M", "target": "SynthLiver-M"}],
        },
        "prediction": {"chunk": [4, 32, 32], "block": [8, 48, 48], "jobs": 2},
        "figures": {
            "render_px": 32,
            "fig3": {"source": "SynthKidney-M", "target": "SynthLiver-M", "budget": "f0.5"},
            "fig4": {"pairs": [{"source": "SynthKidney-M", "target": "SynthLiver-M"}]},
            "fig5": {"dataset": "synthetic_liver", "models": {"mito": {"source": "SynthKidney-M", "target": "SynthLiver-M"}}},
        },
        "resources": {k: {"threads": 1, "mem_mb": 1000, "runtime": 5} for k in ("train", "evaluate", "prepare")},
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that runs Snakemake (``workflow``) or a SLURM cluster (``slurm``) is ``slow`` too,
    so ``pytest -m "not slow"`` is the fast selection without marking each twice.

    Files are then ordered longest first (the SLURM file, then by their number of slow tests),
    each file's tests kept together and in order: ``pytest-xdist --dist loadfile`` hands files to
    workers in this order, and scheduling the longest jobs first keeps one worker from running
    the SLURM test alone at the end (docs/testing.md gives the suite's measured time)."""
    first: dict[Path, int] = {}
    slurm: dict[Path, bool] = {}
    slow: dict[Path, int] = {}
    for i, item in enumerate(items):
        if item.get_closest_marker("workflow") or item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.slow)
        first.setdefault(item.path, i)
        slurm[item.path] = slurm.get(item.path, False) or item.get_closest_marker("slurm") is not None
        slow[item.path] = slow.get(item.path, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: (not slurm[item.path], -slow[item.path], first[item.path]))


@pytest.fixture
def tiny_raw(tmp_path: Path) -> dict:
    return copy.deepcopy(tiny_config(tmp_path))


@pytest.fixture
def tiny_config_file(tmp_path: Path, tiny_raw: dict) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_raw))
    return path


@pytest.fixture
def repo() -> Path:
    return REPO
