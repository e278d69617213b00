"""Table 1: what each task's prepared data looks like, our patch counts beside the paper's.

Columns: ``task``, ``dataset``; ``voxel_nm_raw`` and ``voxel_nm_prepared`` (z x y x, nm; the
prepared size follows from crop, resize and the z step); ``train_shape``, ``val_shape``,
``test_shape`` (sections x y x x after preprocessing); ``train_patches`` (tiles the models
train on) and ``test_patches`` (the same tiling of the test region, for comparison only:
we evaluate whole test volumes); ``paper_train_patches``, ``paper_test_patches`` (Table 1
of the paper, blank where it has none); ``train_foreground`` (fraction of label voxels).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vemtransfer.config import Config
from vemtransfer.config.preprocess import prepared_voxel_nm
from vemtransfer.core.storage import atomic_path, write_text
from vemtransfer.report.tables import DEMO_BANNER


def _fmt(v: Iterable[float]) -> str:
    return " x ".join(f"{round(x, 2):g}" for x in v)


def _voxel(raw_nm: list[float] | None, summary: Mapping[str, Any], pp: Mapping[str, Any]) -> tuple[str, str]:
    if not raw_nm:
        return "", ""
    return _fmt(raw_nm), _fmt(prepared_voxel_nm(raw_nm, summary["raw_section_shape"], summary["z_step"], pp))


def table1(patch_files: Iterable[str | Path], raw_config: Mapping[str, Any], paper: Mapping[str, Mapping[str, int]] | None) -> pd.DataFrame:
    """One row per task from its ``patches.json`` and the config."""
    rows = []
    for path in patch_files:
        s = json.loads(Path(path).read_text())
        task = raw_config["tasks"][s["task"]]
        raw_nm, prepared_nm = _voxel(raw_config["datasets"][task["dataset"]].get("voxel_nm"), s, s.get("preprocess", task.get("preprocess", {})))
        ref = (paper or {}).get(s["task"], {})
        rows.append({
            "task": s["task"], "fold": s.get("fold"), "dataset": task["dataset"], "voxel_nm_raw": raw_nm, "voxel_nm_prepared": prepared_nm,
            **{f"{k}_shape": " x ".join(map(str, s["splits"][k]["shape"])) for k in ("train", "val", "test")},
            "train_patches": len(s["origins"]), "test_patches": s["test_patches"],
            "paper_train_patches": ref.get("train"), "paper_test_patches": ref.get("test"),
            "train_foreground": round(s["splits"]["train"]["foreground"], 4),
        })
    return pd.DataFrame(rows).astype({"fold": "Int64", "paper_train_patches": "Int64", "paper_test_patches": "Int64"})


def build_table1(patch_files: Iterable[str | Path], cfg: Config, paper_file: str | Path | None, csv_path: str | Path, md_path: str | Path) -> pd.DataFrame:
    """Write Table 1 as CSV and Markdown (with the paper's counts from ``paper_file``, if given)."""
    paper = yaml.safe_load(Path(paper_file).read_text())["table1"] if paper_file else None
    table = table1(patch_files, cfg.raw, paper)
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    write_text(md_path, (DEMO_BANNER + "\n" if cfg.demo else "") + table.to_markdown(index=False) + "\n")
    return table
