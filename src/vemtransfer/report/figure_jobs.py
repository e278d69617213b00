"""Figs. 3-5 and the Fig. 5 meshes from cached files (Zarr predictions, prepared splits, patch index).

Each function here is what one results rule calls: it loads the cached intermediates,
derives the voxel size from the config and the prepared data, and hands arrays to the
plotting functions of :mod:`vemtransfer.report.overlays`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.config import Config
from vemtransfer.core.layout import PATCH_INDEX, zarr_store
from vemtransfer.data.spacing import task_spacing, volume_spacing
from vemtransfer.data.splits import load_split
from vemtransfer.inference.meshes import mesh_from_mask, write_ply
from vemtransfer.inference.ome import open_prediction
from vemtransfer.report.overlays import plot_fig3, plot_fig4, plot_fig5


def _mask(marker: str | Path) -> np.ndarray:
    """The whole mask of a prediction, given as the zarr.json the rules declare."""
    return np.asarray(open_prediction(zarr_store(marker))[1][...], bool)


def make_fig3(cfg: Config, predictions: Mapping[str, str | Path], task_folder: str | Path, out: str | Path) -> None:
    label = np.asarray(load_split(task_folder, "test").label) > 0
    spacing = task_spacing(cfg, Path(task_folder) / PATCH_INDEX)
    plot_fig3({t: _mask(p) for t, p in predictions.items()}, label, spacing, out, cfg.demo, cfg.raw["figures"]["render_px"])


def make_fig4(cfg: Config, rows: list[tuple[str, str | Path, Mapping[str, str | Path]]], out: str | Path) -> None:
    """``rows``: (title, prepared task folder, {model title: prediction Zarr})."""
    spec = cfg.raw["figures"]["fig4"]
    loaded = [(name, load_split(folder, "test"), {t: _mask(p) for t, p in preds.items()}) for name, folder, preds in rows]
    plot_fig4(loaded, spec["section"], spec["zoom"], out, cfg.demo)


def make_mesh(prediction: str | Path, volume_json: str | Path, out_ply: str | Path) -> dict[str, Any]:
    """Full-resolution marching-cubes mesh of a whole-volume prediction, in nm."""
    verts, faces = mesh_from_mask(_mask(prediction), volume_spacing(volume_json))
    write_ply(out_ply, verts, faces)
    return {"vertices": len(verts), "faces": len(faces)}


def make_fig5(cfg: Config, predictions: Mapping[str, str | Path], volume_json: str | Path, out: str | Path) -> None:
    spec = cfg.raw["figures"]
    colours = {name: spec["fig5"]["colours"].get(name, "tab:blue") for name in predictions}
    plot_fig5({n: _mask(p) for n, p in predictions.items()}, colours, volume_spacing(volume_json), out, cfg.demo, spec["render_px"])
